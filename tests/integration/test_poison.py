"""Poison data (issue 12): values PostgreSQL refuses never stop a partition.

On the running engine, a hostile event (NUL in its id and group value, a webhook answering with
NUL) among ordinary ones: all of them execute, the hostile one is logged with its values escaped
and flagged, and the engine never restarts. In the pipeline, an execution that fails every
attempt is quarantined (logged `fail`, dead-lettered through the outbox) and the batch goes on.
"""

from __future__ import annotations

import time
import uuid

import orjson
import pytest
from sqlalchemy import select

from actions.outbox import relay_now
from actions.outcome import ActionOutcome
from actions.pipeline import ATTEMPTS, ActionPipeline, PipelineConfig
from actions.registry import ActionRegistry
from cepflow.receiver import Receiver, Reply
from dataflow.kafka_out import ReliableProducer
from dataflow.rule_cache import StoredRule, build_rule_set
from dataflow.types import ChainInfo, Execution
from storage.models.exec_log import ExecLog
from storage.storable import unescape
from tests.integration.detections import AppliedRules
from tests.integration.harness import SEALER, EngineProcess, StackEnv

pytestmark = pytest.mark.integration

ORDINARY = 20


def test_a_hostile_event_among_ordinary_ones_never_stops_the_engine(
        stack: StackEnv, engine: EngineProcess, sessions, unique: str) -> None:
    name = f"orders-{unique}"
    now = int(time.time() * 1000)
    with Receiver() as receiver:
        receiver.always("/orders", Reply(200, body=b'{"echo": "nul \x00 here"}'))
        doc = {"name": name, "match": {"topic": stack.events_topic, "type": "order"}, "group_by": ["host"],
               "action": {"endpoint": receiver.url("/orders"), "body": {"id": "{{ event.id }}"}}}
        with AppliedRules(sessions).apply(doc) as rules:
            events = [{"id": f"o{i}", "type": "order", "host": "web-1", "ts": now + i} for i in range(ORDINARY)]
            events.insert(ORDINARY // 2, {"id": "bad\x00id", "type": "order", "host": "h\x00st", "ts": now})
            events.insert(ORDINARY // 3, {"id": "L" * 3000, "type": "order", "host": "web-1", "ts": now})
            stack.produce(events, key=b"one-partition")
            engine.start()
            rows = rules.wait_rows(ORDINARY + 2, engine, timeout=60, settle_s=2.0)
            pid = engine.proc.pid if engine.proc else None
    assert engine.alive() and engine.proc is not None and engine.proc.pid == pid, "the engine restarted"
    assert "Traceback" not in engine.log()
    assert len(rows) == ORDINARY + 2 and all(r.status == "success" for r in rows)
    assert {r.references["event_id"] for r in rows} >= {f"o{i}" for i in range(ORDINARY)}
    [hostile] = [r for r in rows if "references.event_id" in r.references.get("escaped", ())]
    assert unescape(hostile.references["event_id"]) == "bad\x00id"
    assert unescape(hostile.group_key["host"]) == "h\x00st"
    assert "group_key.host" in hostile.references["escaped"]
    assert all("references.actions.0.response" in r.references["escaped"] for r in rows)  # every answer had a NUL
    assert "\\u0000" in hostile.references["actions"][0]["response"]
    assert any(r.references["event_id"] == "L" * 3000 for r in rows)  # a huge id is stored whole
    assert "bad\x00id" in {r.json["id"] for r in receiver.requests}  # the action itself got the original


def test_an_execution_that_always_fails_is_quarantined_and_the_batch_goes_on(stack: StackEnv, sessions) -> None:
    rule_id = str(uuid.uuid4())
    rules = build_rule_set([StoredRule(rule_id, f"q-{rule_id[:8]}", 1, True, {
        "name": f"q-{rule_id[:8]}", "match": {"type": "x"}, "action": {"endpoint": "http://127.0.0.1:9/h"}})])
    tries: dict[str, int] = {}

    def webhook(action: object, run: object) -> ActionOutcome:
        event_id = run.execution.event_id  # type: ignore[attr-defined]
        tries[event_id] = tries.get(event_id, 0) + 1
        if event_id == "poison":
            raise RuntimeError("this execution cannot be recorded")
        return ActionOutcome(ok=True, retryable=False, status_code=200)

    dead_letters = f"{stack.prefix}.actions.deadletter"
    producer = ReliableProducer([stack.brokers])
    pipeline = ActionPipeline(sessions, ActionRegistry({"webhook": webhook}), lambda: producer, lambda: rules,
                              PipelineConfig(dead_letters, 2, 10.0, SEALER))

    def execution(event_id: str) -> Execution:
        key = f"{rule_id}:{event_id}"
        return Execution(rule_id=rule_id, rule_name=f"q-{rule_id[:8]}", rule_version=1, group={"n": event_id},
                         status="fired", reason=None, at_ms=1, value=None, window_start=None, window_end=None,
                         event={"id": event_id}, event_id=event_id, idempotency_key=key,
                         chain=ChainInfo(key, 0, (rule_id,)))

    rows = pipeline.run_batch([execution("a"), execution("poison"), execution("b")])
    assert sorted((r.references["event_id"], r.status, r.reason) for r in rows) == [
        ("a", "success", None), ("b", "success", None), ("poison", "fail", "quarantined")]
    assert tries == {"a": 1, "poison": ATTEMPTS, "b": 1}
    with sessions() as session:
        logged = session.scalars(select(ExecLog).where(ExecLog.rule_id == uuid.UUID(rule_id))).all()
    [quarantined] = [r for r in logged if r.status == "fail"]
    assert "cannot be recorded" in (quarantined.error_message or "")
    assert len(logged) == 3

    relay_now(sessions, producer)
    [letter] = [orjson.loads(m.value()) for m in stack.read_topic(dead_letters)]
    assert letter["quarantined"] is True and letter["event_id"] == "poison" and "cannot be recorded" in letter["error"]
    assert pipeline.run_batch([execution("poison")]) == []  # a replay: already logged, not tried again
    assert tries["poison"] == ATTEMPTS
