"""The five faults of issue 12, each a function of the running `World`, and their sizes.

A fault returns the wall-clock times at which it ended (the engine restarted, the broker or the
database answering again, the target back up), each marked by a probe event (`World.probe`):
recovery is the time until the probe's webhook arrives.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chaos.services import PrivateKafka, PrivatePostgres
from chaos.world import World


@dataclass(frozen=True)
class Faults:
    """What a fault may use: the seeded randomness, its private service, the scale (1 = full)."""

    rng: random.Random
    service: PrivateKafka | PrivatePostgres | None
    scale: float
    notes: dict[str, Any]


Fault = Callable[[World, Faults], list[float]]
PROBE_WAIT_S = 120


def _wait_stream(world: World, seconds: float) -> None:
    """Sleep `seconds`, or less if the stream ended (a fault must land inside the stream)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not world.stream_done():
        time.sleep(0.1)


def no_fault(world: World, faults: Faults) -> list[float]:
    """The control: no fault at all. Anything but a clean history here is the suite's own error."""
    return []


def sigkill(world: World, faults: Faults) -> list[float]:
    """SIGKILL the engine 10 times at seeded random moments; the supervisor restarts it."""
    kills = max(2, round(10 * faults.scale))
    heals: list[float] = []
    for _ in range(kills):  # each kill 1-5 s after the engine is back at work (its probe answered)
        time.sleep(faults.rng.uniform(1.0, 5.0) * max(faults.scale, 0.4))
        heals.append(_kill_and_probe(world, 0))
        world.wait_probe(PROBE_WAIT_S)
    faults.notes["kills"] = kills
    return heals


def _kill_and_probe(world: World, index: int) -> float:
    """SIGKILL process `index`, wait for the supervisor to start it again, then probe."""
    before = len(world.supervisor.restarts)
    world.supervisor.kill(index)
    while len(world.supervisor.restarts) == before:
        time.sleep(0.05)
    return world.probe()


def _outage(world: World, faults: Faults, stop: Callable[[], None], start: Callable[[], None],
            seconds: float) -> list[float]:
    _wait_stream(world, 8 * max(faults.scale, 0.25))
    stopped = time.monotonic()
    stop()
    time.sleep(max(0.0, seconds - (time.monotonic() - stopped)))
    start()
    faults.notes["outage_s"] = round(time.monotonic() - stopped, 1)  # includes the restart itself
    return [world.probe()]


def kafka_down(world: World, faults: Faults) -> list[float]:
    """Stop the (private) broker for 20 s, then start it again."""
    assert isinstance(faults.service, PrivateKafka)
    return _outage(world, faults, faults.service.stop, faults.service.start, 20 * faults.scale)


def postgres_down(world: World, faults: Faults) -> list[float]:
    """Stop the (private) PostgreSQL for 30 s, then start it again."""
    assert isinstance(faults.service, PrivatePostgres)
    return _outage(world, faults, faults.service.stop, faults.service.start, 30 * faults.scale)


def webhook_down(world: World, faults: Faults) -> list[float]:
    """The webhook target down for 60 s (connections refused), then up."""
    return _outage(world, faults, world.target.down, world.target.up, 60 * faults.scale)


def cluster_kill(world: World, faults: Faults) -> list[float]:
    """SIGKILL process 1 of a 2-process cluster mid-stream; the supervisor restarts it."""
    _wait_stream(world, 10 * max(faults.scale, 0.25))
    return [_kill_and_probe(world, 1)]


@dataclass(frozen=True)
class Scenario:
    """One fault and when it strikes during the stream."""

    name: str
    title: str
    fault: Fault
    events: int  # at full scale, 20 a second
    processes: int = 1
    private: str | None = None  # "kafka" or "postgres": the service the fault stops
    redrive: bool = False


SCENARIOS = [
    Scenario("control", "no fault (control)", no_fault, 300),
    Scenario("sigkill", "engine SIGKILLed x10", sigkill, 1600),
    Scenario("kafka", "Kafka broker down 20 s", kafka_down, 900, private="kafka"),
    Scenario("postgres", "PostgreSQL down 30 s", postgres_down, 900, private="postgres"),
    Scenario("webhook", "webhook target down 60 s, redrive", webhook_down, 1500, redrive=True),
    Scenario("cluster", "1 of 2 processes SIGKILLed", cluster_kill, 500, processes=2),
]
