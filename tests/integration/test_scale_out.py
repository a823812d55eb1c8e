"""Scale-out: the engine as a Bytewax cluster of two processes gives the same executions as one
process (and as the offline runner) for the same input on a 4-partition topic.

The two processes (`-i 0` / `-i 1`, the same `-a` list) share one recovery folder of 4
partitions, as `cepflow run` creates it (README "Scale out"). Each reads two of the topic's
partitions; a group's state lives on one process, which also learns the other's event-time
progress through the routed items. Events are keyed by group, so a group's events stay in order;
nothing is late (the events span less than the allowed lateness), so the order in which the
partitions are read changes nothing. The single process runs at the same time on its own topics,
with its own copy of the rules.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

import pytest

from cepflow.receiver import Receiver
from tests.integration.detections import (
    AppliedRules,
    Execution,
    example_rule,
    logged_executions,
    now_ms,
    offline_executions,
    timeline,
)
from tests.integration.harness import EngineProcess, StackEnv, free_port, metric, metrics_env, stop_all, wait_until

pytestmark = pytest.mark.integration

EXAMPLES = {
    "threshold-web-cpu-hot.yaml": {"detect.window.size": "1m", "cooldown": 0},
    "absence-heartbeat.yaml": {"detect.for": "1s"},
    "sequence-order-payment-failed.yaml": {"detect.within": "1m"},
    "change-deploy-version.yaml": {},
}


def events(base: int) -> list[dict]:
    """Many groups of every kind, over 2 s of event time."""
    cpu = [(t * 100 + h, {"type": "cpu", "host": f"web-{h}", "value": 95})
           for h in range(12) for t in range(h % 5)]
    heartbeats = [(t * 300 + s, {"type": "heartbeat", "service": f"svc-{s}"}) for s in range(8) for t in range(2)]
    orders = [(o * 10, {"type": "order_created", "order_id": f"o-{o}", "customer": "c"}) for o in range(10)]
    payments = [(1000 + o * 10, {"type": "payment", "order_id": f"o-{o}", "status": "failed" if o % 2 else "ok"})
                for o in range(10)]
    deploys = [(v * 500 + s, {"type": "deploy", "environment": "production", "service": f"app-{s}",
                              "version": f"1.{v // 2}"}) for s in range(6) for v in range(4)]
    timed = sorted([*cpu, *heartbeats, *orders, *payments, *deploys], key=lambda pair: pair[0])
    return [{**event, "id": f"{i}"} for i, event in enumerate(timeline(base, *timed))]


def group_of(event: dict) -> bytes:
    return str(event.get("host") or event.get("service") or event.get("order_id")).encode()


def cluster(stack: StackEnv, workdir: Path, ports: list[int]) -> list[EngineProcess]:
    addresses = ";".join(f"127.0.0.1:{free_port()}" for _ in ports)
    return [
        EngineProcess(stack, workdir, recovery=workdir / "recovery", partitions=4, cluster=(i, addresses),
                      name=f"engine-{i}",
                      env=metrics_env(port, workdir))
        for i, port in enumerate(ports)
    ]


def without_suffix(executions: set[Execution], suffix: str) -> set[Execution]:
    return {(rule.removesuffix(suffix), *rest) for rule, *rest in executions}


def test_two_processes_give_the_same_executions_as_one(stack, sessions, tmp_path, unique):
    single = StackEnv(stack.brokers, stack.database_url)
    single.ensure_topics()
    one = EngineProcess(single, tmp_path / "one")
    ports = [free_port(), free_port()]
    two = cluster(stack, tmp_path / "two", ports)
    sent = events(now_ms())
    with Receiver() as receiver, AppliedRules(sessions) as rules:
        def docs(suffix: str, topic: str) -> list[dict]:
            return [example_rule(file, name=f"{Path(file).stem}-{unique}{suffix}", url=receiver.url("/hook"),
                                 topic=topic, changes=changes) for file, changes in EXAMPLES.items()]

        tick = {"type": "tick", "ts": sent[-1]["ts"] + 60_000}  # offline, fire every timer: live, time passes
        expected = offline_executions(docs("", "events"), [*sent, tick])
        assert len({rule for rule, *_ in expected}) == len(EXAMPLES)  # every kind fires
        rules.apply(*docs("-one", single.events_topic), *docs("-two", stack.events_topic))
        single.produce(sent, key=group_of)
        stack.produce(sent, key=group_of)
        try:
            for process in (one, *two):
                process.start()

            def executions(suffix: str) -> set[Execution]:
                rows = [r for r in rules.rows() if r.rule_name.endswith(suffix)]
                return without_suffix(logged_executions(rows), suffix)

            def both_done() -> bool:
                assert all(p.alive() for p in (one, *two)), "\n".join(p.log()[-2000:] for p in (one, *two))
                return len(executions("-one")) >= len(expected) and len(executions("-two")) >= len(expected)

            with contextlib.suppress(AssertionError):  # the comparisons below say what differs
                wait_until(both_done, 30, f"{len(expected)} executions from each engine")
            time.sleep(1)  # an extra execution would show up in the comparison
            for suffix in ("-one", "-two"):
                got = executions(suffix)
                assert got == expected, {suffix: sorted(got - expected), "missing": sorted(expected - got)}
            # Both processes did part of the work: each read some of the events.
            read = [metric(port, "cepflow_events_in_total") or 0 for port in ports]
            assert all(read) and sum(read) == len(sent), read
        finally:
            stop_all([one, *two])
