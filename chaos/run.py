"""`make chaos` / `python -m chaos.run [--scale X] [--only NAME ...]`: the chaos suite of issue 12.

Each scenario runs the engine as deployed (`cepflow run`, restarted by a supervisor like
docker-compose's `restart: unless-stopped`) against a paced stream, injects its fault, waits for
the engine to catch up, and checks the history (`chaos/history.py`). The shared Kafka and
PostgreSQL are never stopped: the broker and database scenarios run on private instances.
Prints one table and writes `chaos/results/latest.json`. Exit status 0 even when scenarios fail:
the table is the result (`--strict` exits 1 on any FAIL).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from bench.report import machine
from chaos.history import recovery_s
from chaos.report import row, table
from chaos.scenarios import SCENARIOS, Faults, Scenario
from chaos.services import PrivateKafka, PrivatePostgres
from chaos.world import DATABASE, World
from tests.integration.harness import ROOT

BROKERS = os.environ.get("CEPFLOW_KAFKA_BROKERS", "127.0.0.1:19092")
ADMIN_URL = os.environ.get("CEPFLOW_DATABASE_URL", "postgresql+psycopg://cepflow:cepflow@127.0.0.1:15432/cepflow")
STREAM_TIMEOUT_S = 240


def log(message: str) -> None:
    """A progress line on stderr, with the time since the start."""
    print(f"[chaos {time.strftime('%H:%M:%S')}] {message}", flush=True)


class Warm:
    """A scenario's private service, started on a thread while earlier scenarios run (a broker's
    JVM takes 30-60 s to start on this machine).
    """

    def __init__(self, scenario: Scenario) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix=f"cepflow-chaos-{scenario.name}-"))
        self.service: PrivateKafka | PrivatePostgres | None = None
        if scenario.private == "kafka":
            self.service = PrivateKafka(self.workdir)
        elif scenario.private == "postgres":
            self.service = PrivatePostgres(self.workdir)
        self._error: Exception | None = None
        self._thread = threading.Thread(target=self._start, name=f"warm-{scenario.name}", daemon=True)
        self._thread.start()

    def _start(self) -> None:
        try:
            if self.service is not None:
                self.service.start()
        except Exception as exc:
            self._error = exc

    def ready(self) -> PrivateKafka | PrivatePostgres | None:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self.service


def run_scenario(scenario: Scenario, scale: float, seed: int, settle_s: float, database: str = DATABASE,
                 keep: bool = False, warm: Warm | None = None) -> dict[str, Any]:
    """One scenario end to end; its result (verdict, recovery, notes) as a JSON-ready dict."""
    warm = warm or Warm(scenario)
    workdir = warm.workdir
    service: PrivateKafka | PrivatePostgres | None = None
    brokers, admin_url = BROKERS, ADMIN_URL
    started = time.monotonic()
    result: dict[str, Any] = {"scenario": scenario.name, "title": scenario.title, "seed": seed, "scale": scale}
    world: World | None = None
    try:
        service = warm.ready()
        if isinstance(service, PrivateKafka):
            brokers = service.brokers
        elif isinstance(service, PrivatePostgres):
            admin_url = service.admin_url
        events = max(60, round(scenario.events * scale))
        world = World(scenario.name, brokers, admin_url, workdir, seed, events, scenario.processes, database)
        world.start()
        log(f"{scenario.name}: {events} events at 20/s, {scenario.processes} engine process(es)")
        notes: dict[str, Any] = {}
        heals = scenario.fault(world, Faults(random.Random(seed), service, scale, notes))
        log(f"{scenario.name}: fault over ({notes or 'done'}); waiting for the stream and the engine")
        assert world.producer is not None
        if not world.producer.done.wait(STREAM_TIMEOUT_S):
            notes["stream"] = f"producer still sending after {STREAM_TIMEOUT_S} s"
        want = world.expected()
        verdict = world.settle(want, settle_s, webhooks=not scenario.redrive)
        if scenario.redrive:
            notes["redrive"] = world.redrive()
            verdict = world.settle(want, settle_s)
        world.save_history(want)
        sent = world.sent_wall()
        result.update(
            verdict=verdict.as_dict(),
            recovery_s=[recovery_s(at, world.deliveries(), sent) for at in heals],
            unplanned_exits=world.supervisor.unplanned_exits,
            restarts=len(world.supervisor.restarts),
            events_sent=len(world.events), events_acked=len(world.producer.acked),
            events_failed=len(world.producer.failed), late_events=len(world.late_events()), notes=notes,
        )
    except Exception as exc:
        result["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        if world is not None:
            world.close()
        if service is not None:
            service.stop()
        result["seconds"] = round(time.monotonic() - started, 1)
        result["workdir"] = str(workdir)
        if not keep and "error" not in result and result.get("verdict", {}).get("ok"):
            shutil.rmtree(workdir, ignore_errors=True)
    return result


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line of `python -m chaos.run` (`make chaos`)."""
    parser = argparse.ArgumentParser(prog="python -m chaos.run", description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="stream lengths and outages x this")
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--only", nargs="*", choices=[s.name for s in SCENARIOS], help="these scenarios only")
    parser.add_argument("--settle-s", type=float, default=45.0, help="longest wait for the engine to catch up")
    parser.add_argument("--out", type=Path, default=ROOT / "chaos" / "results" / "latest.json")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a scenario fails")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the scenarios, print the table, write `chaos/results/latest.json`."""
    args = parse_args(argv)
    started = time.monotonic()
    results = []
    chosen = [scenario for scenario in SCENARIOS if not args.only or scenario.name in args.only]
    warm = {scenario.name: Warm(scenario) for scenario in chosen if scenario.private}
    for scenario in chosen:
        log(f"scenario {scenario.name}: {scenario.title}")
        result = run_scenario(scenario, args.scale, args.seed, args.settle_s, warm=warm.get(scenario.name))
        log(f"{scenario.name}: {' | '.join(row(result))} ({result['seconds']:.0f} s)")
        results.append(result)
    report = {"date": datetime.now(UTC).isoformat(timespec="seconds"), "scale": args.scale, "seed": args.seed,
              "machine": machine(), "total_s": round(time.monotonic() - started, 1), "scenarios": results}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    print()
    print(table(results))
    print(f"\n{len(results)} scenario(s) in {report['total_s']:.0f} s; raw numbers: {args.out}")
    failed = any(row(result)[-1] != "PASS" for result in results)
    return 1 if args.strict and failed else 0


if __name__ == "__main__":
    sys.exit(main())
