"""Which dead letters a redrive picks, whether it sends one again, and how it rebuilds the original action id."""

from __future__ import annotations

import orjson

from actions.redrive import next_redrive_key, parse_records

CONTEXT = {"event": {"id": "e1"}, "events": {}, "match": {"group": {"host": "h"}, "fired_at": 5, "value": None,
                                                        "window_start": None, "window_end": None},
           "chain": {"id": "k", "depth": 0, "path": ["r1"]}}


def letter(action_id: str, rule: str = "cpu", failed_at_ms: int = 1000) -> bytes:
    return orjson.dumps({"action_id": action_id, "idempotency_key": "k", "rule_id": "r1", "rule": rule,
                         "action_index": 1 if "." in action_id else 0, "action": {"endpoint": "http://x"},
                         "context": CONTEXT, "failed_at_ms": failed_at_ms})


def test_unreadable_entries_are_skipped() -> None:
    records = parse_records([b"not json", b"[1]", b'{"action_id": "x"}', letter("k")])
    assert [r.action_id for r in records] == ["k"]


def test_selection_by_rule_name_or_id_and_time() -> None:
    [record] = parse_records([letter("k", rule="cpu", failed_at_ms=2000)])
    assert record.selected(None, None)
    assert record.selected("cpu", 2000) and record.selected("r1", None)
    assert not record.selected("mem", None)
    assert not record.selected(None, 2001)


def test_the_rebuilt_run_has_the_original_action_id() -> None:
    single, second = parse_records([letter("k"), letter("k.1")])
    assert single.run(0.0).action_id == "k"
    assert second.run(0.0).action_id == "k.1"
    assert single.execution().group == {"host": "h"}


def test_selection_by_rule_and_time_combined() -> None:
    [record] = parse_records([letter("k", rule="cpu", failed_at_ms=2000)])
    assert not record.selected("cpu", 2001)
    assert not record.selected("mem", 1000)
    assert record.selected("r1", 1999)


def test_a_dead_letter_without_failure_time_is_picked_only_without_since() -> None:
    raw = orjson.loads(letter("k"))
    del raw["failed_at_ms"]
    [record] = parse_records([orjson.dumps(raw)])
    assert record.selected(None, None) and not record.selected(None, 1)


def test_redrive_keys_count_up_until_one_succeeds() -> None:
    assert next_redrive_key("k", {}) == "k:redrive:1"
    assert next_redrive_key("k", {"k:redrive:1": "fail", "k:redrive:2": "fail"}) == "k:redrive:3"
    assert next_redrive_key("k", {"k:redrive:1": "fail", "k:redrive:2": "success"}) is None
