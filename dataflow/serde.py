"""Kafka message -> `Event`, or -> `DeadLetter` with the reason (RULES.md §1).

Nothing a producer sends may stop the engine: every failure here becomes a dead letter that
keeps the original bytes and the source coordinates, so it can be inspected and re-sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from dataflow.chain_envelope import open_chain_event
from dataflow.eventtime import parse_event_time, time_out_of_bounds
from dataflow.sealing import Sealer
from dataflow.types import Event, KafkaMessage


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message the engine could not read, and why."""

    reason: str
    value: bytes | None
    topic: str
    partition: int | None
    offset: int | None

    def to_json(self) -> bytes:
        return orjson.dumps(
            {
                "reason": self.reason,
                "topic": self.topic,
                "partition": self.partition,
                "offset": self.offset,
                "value": (self.value or b"").decode("utf-8", errors="replace"),
            }
        )


@dataclass(frozen=True, slots=True)
class Limits:
    """What a message may be before it is dead-lettered, and which field holds the event type."""

    max_bytes: int
    max_depth: int
    type_field: str
    max_future_ms: int = 600_000
    """How far ahead of the wall clock an event time may be (`CEPFLOW_MAX_EVENT_FUTURE`)."""


def too_deep(value: Any, limit: int) -> bool:
    """True when containers nest deeper than `limit` (iterative: a hostile document can't recurse us)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item
        for child in children:
            if isinstance(child, dict | list):
                if depth + 1 > limit:
                    return True
                stack.append((child, depth + 1))
    return False


def _decode_object(value: bytes | None, limits: Limits) -> dict[str, Any] | str:
    """The message value as a JSON object, or the reason it is not one.

    Depth is only walked when the bytes hold more brackets than the limit (a C-speed count):
    flat events, the common case, never pay for the walk.
    """
    if value is None:
        return "empty message"
    if len(value) > limits.max_bytes:
        return f"message too large: {len(value)} bytes > {limits.max_bytes}"
    try:
        body = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        return f"invalid JSON: {exc}"
    if not isinstance(body, dict):
        return f"not a JSON object: got {type(body).__name__}"
    if value.count(b"{") + value.count(b"[") > limits.max_depth and too_deep(body, limits.max_depth):
        return f"JSON nested deeper than {limits.max_depth}"
    return body


def _event_id(body: dict[str, Any], msg: KafkaMessage) -> str:
    given = body.get("id")
    if isinstance(given, str | int) and not isinstance(given, bool):
        return str(given)
    return f"{msg.topic()}/{msg.partition()}/{msg.offset()}"


def _event_time(body: dict[str, Any], msg: KafkaMessage) -> int | None:
    ts = parse_event_time(body.get("ts"))
    if ts is None:
        kind, kafka_ts = msg.timestamp()
        if kind and kafka_ts > 0:
            return kafka_ts
    return ts


def _dead_letter(reason: str, msg: KafkaMessage) -> DeadLetter:
    return DeadLetter(reason, msg.value(), msg.topic() or "", msg.partition(), msg.offset())


def parse_message(msg: KafkaMessage, limits: Limits, latest_ms: int | None = None) -> Event | DeadLetter:
    """Read an ordinary input event; `latest_ms` bounds its time (see `time_out_of_bounds`)."""
    body = _decode_object(msg.value(), limits)
    if isinstance(body, str):
        return _dead_letter(body, msg)
    ts = _event_time(body, msg)
    if ts is None:
        return _dead_letter("no usable event time: `ts` missing or unparsable and no Kafka timestamp", msg)
    bad_time = time_out_of_bounds(ts, latest_ms)
    if bad_time is not None:
        return _dead_letter(bad_time, msg)
    kind = body.get(limits.type_field)
    return Event(_event_id(body, msg), ts, msg.topic() or "", kind if type(kind) is str else None, body)


@dataclass(frozen=True, slots=True)
class ChainCheck:
    """What a chain event is checked with: the deployment's key and the deepest allowed hop."""

    sealer: Sealer
    max_depth: int


def parse_chain_message(msg: KafkaMessage, limits: Limits, check: ChainCheck,
                        latest_ms: int | None = None) -> Event | DeadLetter:
    """Read a chain event written by `seal_chain_event`: sealed by this deployment, every field
    checked (`dataflow/chain_envelope.py`); the ids are checked against the rules by the router.
    """
    body = _decode_object(msg.value(), limits)
    if isinstance(body, str):
        return _dead_letter(body, msg)
    envelope = open_chain_event(check.sealer, body, check.max_depth)
    if isinstance(envelope, str):
        return _dead_letter(envelope, msg)
    bad_time = time_out_of_bounds(envelope.ts_ms, latest_ms)  # bounded like an input event's
    if bad_time is not None:
        return _dead_letter(bad_time, msg)
    kind = envelope.payload.get(limits.type_field)
    return Event(
        id=envelope.id,
        ts_ms=envelope.ts_ms,
        topic=msg.topic() or "",
        type=kind if isinstance(kind, str) else None,
        body=envelope.payload,
        chain=envelope.chain,
        target_rule_id=envelope.target_rule_id,
    )
