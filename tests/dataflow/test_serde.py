"""Kafka message -> Event or DeadLetter: every bad input becomes a dead letter with its reason."""

from __future__ import annotations

import orjson
import pytest

from dataflow.chain_envelope import seal_chain_event
from dataflow.sealing import Sealer
from dataflow.serde import ChainCheck, DeadLetter, Limits, parse_chain_message, parse_message, too_deep
from dataflow.types import ChainInfo, Event, InMessage

LIMITS = Limits(max_bytes=200, max_depth=4, type_field="type")
CHECK = ChainCheck(Sealer(b"k" * 32), max_depth=5)


def msg(value: bytes | None, *, topic: str = "events", kafka_ts: int = 0) -> InMessage:
    return InMessage(topic, 2, 17, value, kafka_ts)


def test_object_becomes_event_with_time_type_and_id() -> None:
    event = parse_message(msg(b'{"id": "a1", "type": "cpu", "ts": 1700000000000, "v": 1}'), LIMITS)
    assert event == Event("a1", 1_700_000_000_000, "events", "cpu",
                          {"id": "a1", "type": "cpu", "ts": 1_700_000_000_000, "v": 1})


def test_iso_time_with_offset_and_coordinates_as_id() -> None:
    event = parse_message(msg(b'{"type": "cpu", "ts": "2023-11-14T22:13:20+01:00"}'), LIMITS)
    assert isinstance(event, Event)
    assert event.ts_ms == 1_699_996_400_000
    assert event.id == "events/2/17"


def test_missing_time_falls_back_to_kafka_timestamp() -> None:
    event = parse_message(msg(b'{"type": "cpu"}', kafka_ts=1234), LIMITS)
    assert isinstance(event, Event) and event.ts_ms == 1234


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, "empty message"),
        (b"not json", "invalid JSON"),
        (b"[1, 2]", "not a JSON object: got list"),
        (b'"text"', "not a JSON object: got str"),
        (b'{"a": "' + b"x" * 300 + b'"}', "message too large: 309 bytes > 200"),
        (b'{"a": {"b": {"c": {"d": {"e": 1}}}}}', "JSON nested deeper than 4"),
        (b'{"ts": "yesterday"}', "no usable event time"),
        (b'{"ts": "2023-11-14T22:13:20"}', "no usable event time"),
    ],
)
def test_bad_messages_become_dead_letters_with_reason_and_coordinates(value: bytes | None, reason: str) -> None:
    letter = parse_message(msg(value), LIMITS)
    assert isinstance(letter, DeadLetter)
    assert letter.reason.startswith(reason)
    record = orjson.loads(letter.to_json())
    assert (record["topic"], record["partition"], record["offset"]) == ("events", 2, 17)
    assert record["value"] == (value or b"").decode("utf-8", errors="replace")


def test_depth_limit_is_exact() -> None:
    assert not too_deep({"a": {"b": {"c": {"d": 1}}}}, 4)
    assert too_deep({"a": {"b": {"c": {"d": [1]}}}}, 4)
    assert too_deep({"a": [[[[]]]]}, 4)


def test_chain_message_round_trip() -> None:
    chain = ChainInfo("c1", 2, ("r1", "r2"))
    value = seal_chain_event(CHECK.sealer, event_id="k.0", ts_ms=99, target_rule_id="r3", chain=chain,
                             payload={"type": "x", "n": 1})
    event = parse_chain_message(msg(value, topic="chain"), LIMITS, CHECK)
    assert event == Event("k.0", 99, "chain", "x", {"type": "x", "n": 1}, chain=chain, target_rule_id="r3")


def test_malformed_chain_message_is_dead_lettered() -> None:
    letter = parse_chain_message(msg(b'{"payload": {}}', topic="chain"), LIMITS, CHECK)
    assert isinstance(letter, DeadLetter) and letter.reason.startswith("forged chain event")
