"""Where an event goes: parse it, send it to the rules that can match it, and nowhere else.

`route_batch` runs once per Kafka poll (`dataflow/kafka_in.py`). Each message becomes exactly one
of: a dead letter, or zero or more routed items — a late event (per rule lateness), a finished
`Execution` from a stateless rule, or a keyed item for the stateful detection step of one
(rule, group).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import orjson

from dataflow.chain_envelope import unknown_rules
from dataflow.kafka_out import OutMessage
from dataflow.metrics import DEAD_LETTERS, EVENTS_IN, EXECUTIONS, LATE_EVENTS, reason_class
from dataflow.rule_cache import RuleSet
from dataflow.runtime import CompiledRule, evaluate_stateless, is_late
from dataflow.serde import ChainCheck, DeadLetter, Limits, parse_chain_message, parse_message
from dataflow.types import Event, Execution, KafkaMessage
from dataflow.watermark import PartitionReading, WatermarkClock


@dataclass(frozen=True, slots=True)
class KeyedEvent:
    """An event for one (rule, group) state, with the router's clock readings.

    `progress_ms` is the event-time progress the router judged the event by (not late): the group
    step evaluates the event at that watermark, not at its own clock's, which the rest of the
    batch may already have moved past the event's window. `router` names the router's process, so
    that the group's clock (in another process, in a cluster) waits for its progress with timers.
    """

    rule_id: str
    rule_version: int
    event: Event
    router: str
    progress_ms: int


Routed = (
    tuple[Literal["out"], OutMessage]
    | tuple[Literal["exec"], Execution]
    | tuple[Literal["key"], tuple[str, KeyedEvent]]
)


@dataclass(frozen=True)
class Topics:
    """The Kafka topics the router sends to or recognises."""

    chain: str
    dead_letter: str
    late: str


def state_key(rule: CompiledRule, group_key: str) -> str:
    """Bytewax key of a (rule, version, group) state: a new rule version starts fresh state."""
    return f"{rule.id}:{rule.version}:{group_key}"


def _late_message(topic: str, rule: CompiledRule, event: Event, watermark: int) -> OutMessage:
    record = {
        "rule_id": rule.id,
        "rule": rule.name,
        "reason": f"event time {event.ts_ms} is before the watermark {watermark}"
        f" (allowed lateness {rule.lateness_ms} ms)",
        "event_id": event.id,
        "ts": event.ts_ms,
        "watermark": watermark,
        "topic": event.topic,
        "event": event.body,
    }
    return OutMessage(topic, orjson.dumps(record), key=event.id.encode())


LateHandler = Callable[[CompiledRule, Event, int], None]
"""Told of an event too late for a rule, with the watermark it was judged by."""


def route_event(event: Event, rules: RuleSet, reading: PartitionReading, router: str, late: LateHandler,
                out: list[Routed]) -> None:
    """Append everything one parsed event leads to to `out`; `reading` is its partition's poll.

    The engine and the offline runner (`dataflow/offline.py`) both route with this function; only
    what they do with a late event (`late`) and with the routed items differs.
    """
    reading.observe(event.ts_ms)
    candidates = rules.index.candidates(event)
    if not candidates:  # most events: no rule can match
        return
    for rule in candidates:
        progress = reading.progress_ms(rule.idle_after_ms)
        watermark = progress - rule.lateness_ms
        if is_late(rule, event, watermark):
            LATE_EVENTS.labels(rule.name).inc()
            late(rule, event, watermark)
        elif rule.stateless:
            execution = evaluate_stateless(rule, event)
            if execution is not None:
                EXECUTIONS.labels(rule.name, execution.status).inc()
                out.append(("exec", execution))
        elif rule.needs_group(event):
            key = state_key(rule, rule.group_key(rule.group_of(event.body)))
            item = KeyedEvent(rule.id, rule.version, event, router, progress)
            out.append(("key", (key, item)))


def _dead(letter: DeadLetter, topic: str) -> Routed:
    DEAD_LETTERS.labels(reason_class(letter.reason)).inc()
    return ("out", OutMessage(topic, letter.to_json(), headers=(("reason", letter.reason.encode()),)))


def parse_chain(msg: KafkaMessage, limits: Limits, check: ChainCheck, rules: RuleSet,
                latest_ms: int | None = None) -> Event | DeadLetter:
    """A chain event that is sealed, well-formed, within the event-time bounds and names only
    stored rules, or its dead letter.
    """
    parsed = parse_chain_message(msg, limits, check, latest_ms)
    if isinstance(parsed, Event) and parsed.chain is not None and parsed.target_rule_id is not None:
        if (reason := unknown_rules(parsed.chain, parsed.target_rule_id, rules.stored)) is not None:
            return DeadLetter(reason, msg.value(), msg.topic() or "", msg.partition(), msg.offset())
    return parsed


def make_router(
    rules: Callable[[], RuleSet],
    clock: Callable[[], WatermarkClock],
    limits: Limits,
    topics: Topics,
    chain: ChainCheck,
    wall_clock: Callable[[], float] = time.time,
) -> Callable[[list[KafkaMessage]], list[Routed]]:
    """The `flat_map` mapper of one poll's messages; resources are looked up per batch (lazily
    built, hot-reloaded). `wall_clock` (epoch seconds) bounds event times from the future.
    """

    def route_batch(batch: list[KafkaMessage]) -> list[Routed]:
        current, watermark_clock = rules(), clock()
        EVENTS_IN.inc(len(batch))
        out: list[Routed] = []
        latest_ms = int(wall_clock() * 1000) + limits.max_future_ms  # one clock read per poll, not per event
        if not batch:
            return out

        def late(rule: CompiledRule, event: Event, watermark: int) -> None:
            out.append(("out", _late_message(topics.late, rule, event, watermark)))

        first = batch[0]  # a poll is of one partition (kafka_in.py)
        reading = watermark_clock.reading(first.topic() or "", first.partition() or 0)
        with watermark_clock.busy():
            for msg in batch:
                if msg.topic() == topics.chain:
                    parsed = parse_chain(msg, limits, chain, current, latest_ms)
                else:
                    parsed = parse_message(msg, limits, latest_ms)
                if isinstance(parsed, DeadLetter):  # a dead letter moves no watermark
                    out.append(_dead(parsed, topics.dead_letter))
                else:
                    route_event(parsed, current, reading, watermark_clock.id, late, out)
        return out

    return route_batch
