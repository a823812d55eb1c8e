"""Which dead letters a redrive picks, whether it sends one again, how it rebuilds the original
action id, and which entries it refuses (not sealed by this deployment, malformed)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from actions.pipeline import DEAD_LETTER_PURPOSE
from actions.redrive import DeadLetterRecord, Refused, next_redrive_key, parse_records
from dataflow.sealing import MAC_FIELD, Sealer

SEALER = Sealer(b"redrive-test-key-" + b"0" * 15)
RULE_ID = "6f0c1d52-0000-4000-8000-000000000001"

CONTEXT = {"event": {"id": "e1"}, "events": {}, "match": {"group": {"host": "h"}, "fired_at": 5, "value": None,
                                                        "window_start": None, "window_end": None},
           "chain": {"id": "k", "depth": 0, "path": ["r1"]}}


def raw_letter(action_id: str, rule: str = "cpu", failed_at_ms: int = 1000) -> dict[str, Any]:
    return {"action_id": action_id, "idempotency_key": "k", "rule_id": RULE_ID, "rule": rule, "rule_version": 2,
            "action_index": 1 if "." in action_id else 0, "action": {"endpoint": "http://x"},
            "context": CONTEXT, "failed_at_ms": failed_at_ms}


def letter(action_id: str, rule: str = "cpu", failed_at_ms: int = 1000) -> bytes:
    return SEALER.seal(DEAD_LETTER_PURPOSE, raw_letter(action_id, rule, failed_at_ms))


def parse(values: list[bytes]) -> list[DeadLetterRecord]:
    records = parse_records(values, SEALER)
    assert all(isinstance(r, DeadLetterRecord) for r in records)
    return records  # type: ignore[return-value]


def test_unreadable_entries_are_refused_and_reported() -> None:
    records = parse_records([b"not json", b"[1]", b'{"action_id": "x"}', letter("k")], SEALER)
    assert [type(r).__name__ for r in records] == ["Refused", "Refused", "Refused", "DeadLetterRecord"]
    assert records[2].summary() == {"action_id": "x", "status": "refused",
                                    "reason": "not sealed by this deployment: no MAC"}


@pytest.mark.parametrize(
    "value",
    [
        orjson.dumps(raw_letter("k")),  # as the engine wrote them before: no MAC
        orjson.dumps({**raw_letter("k"), "action": {"type": "api_script", "api_id": "x"}, MAC_FIELD: "v1:00"}),
        Sealer(b"another-deployment-000000000000000").seal(DEAD_LETTER_PURPOSE, raw_letter("k")),
        SEALER.seal("chain", raw_letter("k")),  # sealed for the chain topic
    ],
)
def test_entries_not_sealed_by_this_deployment_are_refused(value: bytes) -> None:
    [refused] = parse_records([value], SEALER)
    assert isinstance(refused, Refused) and refused.reason.startswith("not sealed by this deployment")
    assert refused.claimed_action_id == "k"


def test_a_sealed_entry_altered_afterwards_is_refused() -> None:
    body = orjson.loads(letter("k"))
    body["action"] = {"endpoint": "http://169.254.169.254/latest/meta-data/"}
    [refused] = parse_records([orjson.dumps(body)], SEALER)
    assert isinstance(refused, Refused) and "MAC does not match" in refused.reason


@pytest.mark.parametrize(
    ("changes", "problem"),
    [({"rule_version": 0}, "rule_version"), ({"rule_version": "2"}, "rule_version"), ({"action_index": -1}, "action_index"),
     ({"rule_id": "not-a-uuid"}, "context"), ({"context": {"match": {}}}, "context"), ({"rule": None}, "rule")],
)
def test_sealed_but_malformed_entries_are_refused(changes: dict[str, Any], problem: str) -> None:
    [refused] = parse_records([SEALER.seal(DEAD_LETTER_PURPOSE, {**raw_letter("k"), **changes})], SEALER)
    assert isinstance(refused, Refused) and refused.reason.startswith("malformed dead letter") and problem in refused.reason


def test_selection_by_rule_name_or_id_and_time() -> None:
    [record] = parse([letter("k", rule="cpu", failed_at_ms=2000)])
    assert record.selected(None, None)
    assert record.selected("cpu", 2000) and record.selected(RULE_ID, None)
    assert not record.selected("mem", None)
    assert not record.selected(None, 2001)


def test_the_rebuilt_run_has_the_original_action_id() -> None:
    single, second = parse([letter("k"), letter("k.1")])
    assert single.run(0.0).action_id == "k"
    assert second.run(0.0).action_id == "k.1"
    assert single.execution().group == {"host": "h"}


def test_selection_by_rule_and_time_combined() -> None:
    [record] = parse([letter("k", rule="cpu", failed_at_ms=2000)])
    assert not record.selected("cpu", 2001)
    assert not record.selected("mem", 1000)
    assert record.selected(RULE_ID, 1999)


def test_a_dead_letter_without_failure_time_is_picked_only_without_since() -> None:
    raw = raw_letter("k")
    del raw["failed_at_ms"]
    [record] = parse([SEALER.seal(DEAD_LETTER_PURPOSE, raw)])
    assert record.selected(None, None) and not record.selected(None, 1)


def test_redrive_keys_count_up_until_one_succeeds() -> None:
    assert next_redrive_key("k", {}) == "k:redrive:1"
    assert next_redrive_key("k", {"k:redrive:1": "fail", "k:redrive:2": "fail"}) == "k:redrive:3"
    assert next_redrive_key("k", {"k:redrive:1": "fail", "k:redrive:2": "success"}) is None
