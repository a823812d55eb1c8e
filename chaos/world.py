"""One scenario's world: a database, fresh topics, the webhook target, supervised engine
processes run as deployed (`cepflow run`), the paced producer, and the recorded history.

The supervisor plays the part of docker-compose's `restart: unless-stopped`: a process that exits
is started again after `RESTART_DELAY_S`. Exits the scenario caused (SIGKILL) are planned; any
other exit is counted as unplanned — the engine was meant to wait the outage out.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import text

from bench.stack import BenchDatabase
from chaos.history import Delivery, LoggedRow, Verdict, check, group_text
from chaos.producer import PacedProducer
from chaos.target import Target, new_secret
from chaos.workload import RATE_EPS, TAIL_EVENTS, TAIL_RATE_EPS, Expected, expected, key_of, rules, stream
from tests.integration.harness import ROOT, EngineProcess, StackEnv, free_port, stop_all

RESTART_DELAY_S = 1.0
WARM_UP_TIMEOUT_S = 120
DATABASE = "cepflow_chaos"
LOG_QUERY = text("select rule_name, group_key, (\"references\"->>'at')::bigint, status, executed_by"
                 " from exec_logs")


class DeployedEngine(EngineProcess):
    """`cepflow run`, as deployed (it execs `python -m bytewax.run`), instead of bytewax directly."""

    def command(self, extra_args: list[str]) -> list[str]:
        return [sys.executable, "-m", "cepflow", "run", "--recovery-dir", str(self.recovery),
                "-s", str(self.snapshot_s), "--recovery-partitions", str(self.partitions), *extra_args]


@dataclass
class Supervisor:
    """Restarts exited engine processes; records planned kills, unplanned exits and restarts."""

    engines: list[DeployedEngine]
    planned: set[int] = field(default_factory=set)
    unplanned_exits: int = 0
    restarts: list[tuple[int, float]] = field(default_factory=list)  # (process, wall time)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def kill(self, index: int) -> None:
        """SIGKILL process `index` (a crash); the supervisor starts it again."""
        with self._lock:
            self.planned.add(index)
            self.engines[index].kill()

    def _watch(self) -> None:
        while not self._stop.wait(0.2):
            for index, engine in enumerate(self.engines):
                with self._lock:
                    if engine.alive():
                        continue
                    if index not in self.planned:
                        self.unplanned_exits += 1
                    self.planned.discard(index)
                time.sleep(RESTART_DELAY_S)
                with self._lock:
                    if not self._stop.is_set():
                        engine.start()
                        self.restarts.append((index, time.time()))

    def start(self) -> Supervisor:
        threading.Thread(target=self._watch, name="chaos-supervisor", daemon=True).start()
        return self

    def stop(self) -> None:
        self._stop.set()


class World:
    """Everything one scenario runs on; `history()` reads what happened."""

    def __init__(self, name: str, brokers: str, admin_url: str, workdir: Path, seed: int, events: int,
                 processes: int = 1, database: str = DATABASE) -> None:
        self.name, self.workdir, self.seed = name, workdir, seed
        self.db = BenchDatabase(database, admin_url)
        self.target = Target(new_secret())
        self.stack = StackEnv(brokers, self.db.url, extra={
            "CEPFLOW_WEBHOOK_SIGNING_SECRET": self.target.secret,
            "CEPFLOW_EVENTS_PARTITIONS": "2",
            "CEPFLOW_CONSUMER_BATCH_SIZE": "20",  # partitions read < 5 s apart in event time (lateness)
            "CEPFLOW_ACTION_DEADLINE_S": "10",
            "CEPFLOW_RULE_REFRESH_S": "1",
        })
        self.events = stream(seed, events, prefix=f"{name}-")
        self.producer: PacedProducer | None = None
        recovery = workdir / "recovery"
        if processes == 1:
            self.engines = [DeployedEngine(self.stack, workdir, 2, recovery=recovery, partitions=1)]
        else:
            addresses = ";".join(f"127.0.0.1:{free_port()}" for _ in range(processes))
            self.engines = [DeployedEngine(self.stack, workdir, 2, recovery=recovery, partitions=4,
                                           cluster=(i, addresses), name=f"engine-{i}") for i in range(processes)]
            recovery.mkdir(parents=True)
            subprocess.run([sys.executable, "-m", "bytewax.recovery", str(recovery), "4"], check=True, cwd=ROOT)
        self.supervisor = Supervisor(self.engines)
        self.warmup: dict[str, Any] = {}
        self.probes: list[dict[str, Any]] = []
        self.probe_sent: dict[str, float] = {}

    def start(self) -> None:
        """Rules installed (log emptied), topics created, engines started, the stream under way."""
        self.target.up()
        self.db.install(rules(self.target.url))
        self.stack.ensure_topics()
        for engine in self.engines:
            engine.start()
        self.supervisor.start()
        self._warm_up()
        self.producer = PacedProducer(self.stack.brokers, self.stack.events_topic, self.events, key_of,
                                      RATE_EPS, len(self.events) - TAIL_EVENTS, TAIL_RATE_EPS).start()

    def _warm_up(self) -> None:
        """One order that fires, sent before the stream, and its webhook awaited: the stream starts
        once the engine reads and acts. (Started together, the engine would begin on a backlog,
        read its partitions unevenly and drop events as late: a fault of its own, not the
        scenario's.) The warm-up belongs to the history like any other event.
        """
        self.warmup = {"id": f"{self.name}-warmup", "type": "order", "shop": "warmup", "amount": 199,
                       "ts": int(time.time() * 1000)}
        self.stack.produce([self.warmup], key=b"warmup")
        deadline = time.monotonic() + WARM_UP_TIMEOUT_S
        while not any(d.event_id == self.warmup["id"] for d in self.target.deliveries):
            if time.monotonic() > deadline:
                message = f"the engine did not act on the warm-up event within {WARM_UP_TIMEOUT_S} s"
                raise RuntimeError(message)
            time.sleep(0.2)

    def probe(self) -> float:
        """The end of a fault: an order that fires is sent now; recovery is the time until its
        webhook arrives. Returns the wall time it was sent (probes belong to the history).
        """
        healed = time.time()
        event = {"id": f"{self.name}-probe-{len(self.probes)}", "type": "order", "shop": "probe", "amount": 199,
                 "ts": int(healed * 1000)}
        self.probes.append(event)
        self.probe_sent[str(event["id"])] = healed
        self.stack.produce([event], key=b"probe")
        return healed

    def wait_probe(self, timeout_s: float) -> bool:
        """Wait until the latest probe's webhook arrived (the engine is back at work)."""
        wanted = str(self.probes[-1]["id"])
        deadline = time.monotonic() + timeout_s
        while not any(d.event_id == wanted for d in self.target.deliveries):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.2)
        return True

    def history_events(self) -> list[dict[str, Any]]:
        """Every event of the history, in event-time order: warm-up, acknowledged stream, probes."""
        assert self.producer is not None
        return sorted([self.warmup, *self.producer.acknowledged(), *self.probes], key=lambda event: event["ts"])

    def sent_wall(self) -> dict[str, float]:
        """When each event was sent (wall time), probes included."""
        assert self.producer is not None
        return {**self.producer.sent_wall, **self.probe_sent}

    def stream_done(self) -> bool:
        return self.producer is not None and self.producer.done.is_set()

    def expected(self) -> Expected:
        assert self.producer is not None
        return expected(rules(self.target.url), self.history_events())

    def rows(self) -> list[LoggedRow]:
        """The execution log (empty while the database is unreachable)."""
        try:
            with self.db.sessions() as session:
                found = session.execute(LOG_QUERY).all()
        except Exception:
            return []
        return [LoggedRow((name, group_text(group or {}), int(at or 0)), status, by)
                for name, group, at, status, by in found]

    def verdict(self, want: Expected) -> Verdict:
        return check(want.executions, want.webhooks, self.rows(), self.target.deliveries)

    def settle(self, want: Expected, timeout_s: float, webhooks: bool = True) -> Verdict:
        """Wait until nothing expected is missing (then a little more, for late duplicates)."""
        deadline = time.monotonic() + timeout_s
        while True:
            verdict = self.verdict(want)
            done = verdict.executions_lost == 0 and (not webhooks or verdict.webhooks_lost == 0)
            if done or time.monotonic() > deadline:
                break
            time.sleep(1.0)
        time.sleep(3.0 if done else 0)
        return self.verdict(want)

    def redrive(self) -> dict[str, Any]:
        """`cepflow actions redrive` with the engine's environment; its exit code and summary count."""
        result = subprocess.run([sys.executable, "-m", "cepflow", "actions", "redrive"], cwd=ROOT,
                                capture_output=True, text=True, env={**os.environ, **self.stack.env()}, timeout=300)
        (self.workdir / "redrive.log").write_text(result.stdout + result.stderr)
        return {"exit_code": result.returncode, "lines": len(result.stdout.splitlines())}

    def late_events(self) -> list[dict[str, Any]]:
        """The records of the engine's late-events topic: events judged late never fire."""
        try:
            messages = self.stack.read_topic(self.stack.env()["CEPFLOW_LATE_TOPIC"], timeout=5)
        except Exception:
            return []
        return [orjson.loads(message.value()) for message in messages]

    def save_history(self, want: Expected) -> None:
        """The history as files in the work folder: the events sent (as acknowledged), the expected
        executions, the log and the deliveries (kept when a scenario fails, for a look).
        """
        assert self.producer is not None
        dump = lambda name, rows: (self.workdir / name).write_bytes(  # noqa: E731
            b"\n".join(orjson.dumps(row, default=str) for row in rows) + b"\n")
        dump("events.jsonl", self.history_events())
        dump("expected.jsonl", want.executions)
        dump("exec_logs.jsonl", [asdict(row) for row in self.rows()])
        dump("deliveries.jsonl", [asdict(d) for d in self.target.deliveries])
        dump("late.jsonl", self.late_events())

    def deliveries(self) -> list[Delivery]:
        return self.target.deliveries

    def close(self) -> None:
        self.supervisor.stop()
        stop_all(list(self.engines))
        self.target.down()
