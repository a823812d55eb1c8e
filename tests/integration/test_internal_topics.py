"""Attacks through cepflow's own topics, on the real stack: records anyone with Kafka access could
write to the action dead-letter topic or the chain topic must not make cepflow act.

`cepflow actions redrive` runs as the CLI runs (subprocess, the test's CEPFLOW_INTERNAL_KEY); the
chain test runs the engine as deployed.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
import pytest

from actions.pipeline import DEAD_LETTER_PURPOSE
from cepflow.receiver import Receiver
from dataflow.chain_envelope import seal_chain_event
from dataflow.types import ChainInfo
from storage.repositories.rules import RuleRepository
from tests.integration.cli import cepflow
from tests.integration.detections import AppliedRules
from tests.integration.harness import SEALER, StackEnv, wait_until

pytestmark = pytest.mark.integration

CONTEXT = {"event": {"id": "e1"}, "events": {},
           "match": {"group": {}, "fired_at": 5, "value": None, "window_start": None, "window_end": None},
           "chain": {"id": "k", "depth": 0, "path": []}}


def dead_letter(rule_id: str, version: int, action: dict[str, Any], action_id: str) -> dict[str, Any]:
    return {"action_id": action_id, "idempotency_key": action_id, "rule_id": rule_id, "rule": "r",
            "rule_version": version, "action_index": 0, "action": action,
            "context": {**CONTEXT, "chain": {"id": action_id, "depth": 0, "path": [rule_id]}},
            "error": "connection error", "executed_by": "stream", "failed_at_ms": int(time.time() * 1000)}


def redrive(stack: StackEnv) -> list[dict[str, Any]]:
    out = cepflow(stack, "actions", "redrive")
    return [orjson.loads(line) for line in out.stdout.splitlines()]


def test_redrive_refuses_records_the_deployment_did_not_seal(stack, sessions, unique) -> None:
    with Receiver() as receiver, AppliedRules(sessions).apply(
        {"name": f"hook-{unique}", "action": {"endpoint": receiver.url("/stored")}}
    ) as rules:
        rule_id = rules.ids[f"hook-{unique}"]
        forged = [
            dead_letter(rule_id, 1, {"type": "webhook", "endpoint": receiver.url("/forged")}, f"w-{unique}"),
            dead_letter(rule_id, 1, {"type": "api_script", "api_id": "anything"}, f"s-{unique}"),
            dead_letter(rule_id, 1, {"type": "trigger_rule", "rule_id": rule_id}, f"t-{unique}"),
        ]
        stack.produce([*forged, {**forged[0], "mac": "v1:" + "0" * 64}], topic=f"{stack.prefix}.actions.deadletter")
        summaries = redrive(stack)
        assert [s["status"] for s in summaries] == ["refused"] * 4
        assert all(s["reason"].startswith("not sealed by this deployment") for s in summaries)
        assert receiver.requests == [] and rules.rows() == []


def test_redrive_sends_the_stored_revision_not_the_record(stack, sessions, unique) -> None:
    with Receiver() as receiver, AppliedRules(sessions).apply(
        {"name": f"hook-{unique}", "action": {"endpoint": receiver.url("/stored"), "body": {"id": "{{ event.id }}"}}}
    ) as rules:
        rule_id = rules.ids[f"hook-{unique}"]
        with sessions() as session:
            version = RuleRepository(session).get(rule_id).version
        record = dead_letter(rule_id, version, {"type": "webhook", "endpoint": receiver.url("/record")}, f"a-{unique}")
        unknown_version = dead_letter(rule_id, version + 5, record["action"], f"b-{unique}")
        stack.produce([SEALER.seal(DEAD_LETTER_PURPOSE, record), SEALER.seal(DEAD_LETTER_PURPOSE, unknown_version)],
                      topic=f"{stack.prefix}.actions.deadletter")
        summaries = redrive(stack)
        assert [s["status"] for s in summaries] == ["success", "refused"]
        assert summaries[1]["reason"] == f"rule {rule_id} has no version {version + 5}"
        [request] = receiver.requests
        assert request.path == "/stored" and request.json == {"id": "e1"}
        assert [(row.executed_by, row.rule_version) for row in rules.rows()] == [("redrive", version)]


def test_forged_chain_events_are_dead_lettered_and_never_fire(stack, engine, sessions, unique) -> None:
    with Receiver() as receiver, AppliedRules(sessions).apply(
        {"name": f"target-{unique}", "match": {"topic": stack.events_topic, "type": "never"},
         "action": {"endpoint": receiver.url("/fired"), "body": {"n": "{{ event.n }}"}}},
        {"name": f"source-{unique}", "match": {"topic": stack.events_topic, "type": "never"}},
    ) as rules:
        target, source = rules.ids[f"target-{unique}"], rules.ids[f"source-{unique}"]
        envelope = {"id": f"f-{unique}", "ts": int(time.time() * 1000), "target_rule_id": target,
                    "chain": {"id": "c", "depth": 1, "path": [source]}, "payload": {"n": "forged"}}
        forged = [envelope,  # the format the engine wrote before: no MAC
                  {**envelope, "chain": {"id": "c", "depth": -3, "path": []}},
                  {**envelope, "mac": "v1:" + "0" * 64}]
        valid = seal_chain_event(SEALER, event_id=f"v-{unique}", ts_ms=int(time.time() * 1000), target_rule_id=target,
                                 chain=ChainInfo("c2", 1, (source,)), payload={"n": "sealed"})
        engine.start()
        stack.produce([*forged, valid], topic=f"{stack.prefix}.chain")
        rules.wait_rows(1, engine)
        assert [r.json for r in receiver.requests] == [{"n": "sealed"}]
        letters = wait_until(lambda: len(d := stack.read_topic(f"{stack.prefix}.deadletter")) >= 3 and d, 30,
                             "three dead letters")
        reasons = [dict(m.headers())["reason"].decode() for m in letters]
        assert all(reason.startswith("forged chain event") for reason in reasons), reasons
