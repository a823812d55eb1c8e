"""Durable side effects (issue 12, docs/ARCHITECTURE.md "Outbox"): the engine SIGKILLs itself at
each step between an execution's claim and its chain event's relay; restarted, the chain still
completes exactly once in the log, and the chained webhook always carries one `webhook-id`."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from actions.faults import ENV, STEPS
from cepflow.receiver import Receiver
from tests.integration.detections import AppliedRules
from tests.integration.harness import EngineProcess, StackEnv, wait_until

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("step", STEPS)
def test_a_chain_completes_exactly_once_whatever_step_the_engine_dies_at(
        step: str, stack: StackEnv, sessions, tmp_path: Path, unique: str) -> None:
    marker = tmp_path / "killed"
    engine = EngineProcess(stack, tmp_path, env={ENV: f"{step}:{marker}"})
    first, second = f"start-{unique}", f"then-{unique}"
    with Receiver() as receiver:
        docs = [
            {"name": first, "match": {"topic": stack.events_topic, "type": "start"},
             "action": {"type": "trigger_rule", "rule_id": second, "payload": {"host": "{{ event.host }}"}}},
            {"name": second, "match": {"chain_only": True},
             "action": {"endpoint": receiver.url("/then"), "body": {"host": "{{ event.host }}"}}},
        ]
        with AppliedRules(sessions).apply(*docs) as rules:
            stack.produce([{"id": f"s-{unique}", "type": "start", "host": "web-1", "ts": int(time.time() * 1000)}])
            engine.start()
            try:
                wait_until(lambda: marker.exists() and not engine.alive(), 60, f"the engine killing itself at {step!r}")
                engine.start()  # the marker exists now: this one runs on
                rows = rules.wait_rows(2, engine, timeout=60, settle_s=3.0)
                wait_until(lambda: receiver.requests, 30, "the chained webhook")
            finally:
                engine.stop()
    assert sorted((r.rule_name, r.status) for r in rows) == sorted([(first, "success"), (second, "success")])
    assert len({r.chain_id for r in rows}) == 1
    assert len({r.headers["webhook-id"] for r in receiver.requests}) == 1
    assert all(r.json == {"host": "web-1"} for r in receiver.requests)
