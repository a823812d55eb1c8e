"""Kafka message -> Event or DeadLetter: every bad input becomes a dead letter with its reason."""

from __future__ import annotations

import orjson
import pytest

from dataflow.chain_envelope import seal_chain_event
from dataflow.metrics import reason_class
from dataflow.sealing import Sealer
from dataflow.serde import ChainCheck, DeadLetter, Limits, parse_chain_message, parse_message, too_deep
from dataflow.types import ChainInfo, Event, InMessage

LIMITS = Limits(max_bytes=200, max_depth=4, type_field="type")
CHECK = ChainCheck(Sealer(b"k" * 32), max_depth=5)
T0 = 1_700_000_000_000


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
    event = parse_message(msg(b'{"type": "cpu"}', kafka_ts=1_700_000_001_234), LIMITS)
    assert isinstance(event, Event) and event.ts_ms == 1_700_000_001_234


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
    value = seal_chain_event(CHECK.sealer, event_id="k.0", ts_ms=T0, target_rule_id="r3", chain=chain,
                             payload={"type": "x", "n": 1})
    roomy = Limits(max_bytes=1000, max_depth=4, type_field="type")  # a sealed envelope is over 200 bytes
    event = parse_chain_message(msg(value, topic="chain"), roomy, CHECK)
    assert event == Event("k.0", T0, "chain", "x", {"type": "x", "n": 1}, chain=chain, target_rule_id="r3")


def test_malformed_chain_message_is_dead_lettered() -> None:
    letter = parse_chain_message(msg(b'{"payload": {}}', topic="chain"), LIMITS, CHECK)
    assert isinstance(letter, DeadLetter) and letter.reason.startswith("forged chain event")


@pytest.mark.parametrize(
    ("value", "kafka_ts", "reason"),
    [
        (b'{"ts": 999999999999999}', 0, "event time in the future: 999999999999999 ms"),
        (b'{"ts": 1700000600001}', 0, "event time in the future"),
        (b'{"ts": "2999-01-01T00:00:00+00:00"}', 0, "event time in the future"),
        (b'{"ts": 946684799999}', 0, "event time before 2000: 946684799999 ms"),
        (b'{"ts": 5}', 0, "event time before 2000"),
        (b'{"ts": -5}', 0, "event time before 2000"),
        (b'{"type": "cpu"}', 42, "event time before 2000"),  # the Kafka timestamp is bounded too
        (b'{"type": "cpu"}', 1_700_000_600_001, "event time in the future"),
    ],
)
def test_event_times_out_of_bounds_are_dead_lettered(value: bytes, kafka_ts: int, reason: str) -> None:
    latest = T0 + 600_000  # the wall clock at T0, max_event_future 10m
    letter = parse_message(msg(value, kafka_ts=kafka_ts), LIMITS, latest)
    assert isinstance(letter, DeadLetter), letter
    assert letter.reason.startswith(reason)
    assert reason_class(letter.reason) in ("event time in the future", "event time before 2000")  # few labels


@pytest.mark.parametrize("ts", [946_684_800_000, T0, T0 + 600_000])
def test_event_times_at_the_bounds_are_accepted(ts: int) -> None:
    event = parse_message(msg(orjson.dumps({"ts": ts})), LIMITS, T0 + 600_000)
    assert isinstance(event, Event) and event.ts_ms == ts


def test_chain_event_time_is_bounded_like_an_input_event() -> None:
    value = seal_chain_event(CHECK.sealer, event_id="k.0", ts_ms=T0 + 3_600_000, target_rule_id="r3",
                             chain=ChainInfo("c", 1, ("r",)), payload={})
    letter = parse_chain_message(msg(value, topic="chain"), LIMITS, CHECK, T0 + 600_000)
    assert isinstance(letter, DeadLetter) and letter.reason.startswith("event time in the future")
