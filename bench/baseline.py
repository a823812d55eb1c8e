"""Figure 1b: the hand-written loop a user would write instead of adopting an engine.

confluent-kafka + orjson + the bench's rules evaluated naively, one by one, for every event —
with the engine's semantics (RULES.md §4) on the bench's rule mix: `each` fires at once; the
stateful kinds (sliding `threshold`, two-step relaxed `sequence`, `absence`) see the events of a
group in event-time order, released from a small reorder buffer once the watermark (largest event
time minus the allowed lateness) passes them, as the contract's "Order" asks. It shares no code
with the engine on purpose: `tests/bench/test_baseline.py` checks that its fires equal the offline
runner's, so the engine is measured against the same answers computed by plain Python.
"""

from __future__ import annotations

import heapq
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from bench.stack import BROKERS, PARTITIONS

Predicate = Callable[[dict[str, Any]], bool]
MISSING = object()
LATENESS_MS = 5000
"""The rules' `allowed_lateness` (the default: the bench's rules set none)."""


def _get(event: dict[str, Any], path: str) -> Any:
    value: Any = event
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return MISSING
        value = value[part]
    return value


def _leaf(field_: str, op: str, expected: Any) -> Predicate:
    tests: dict[str, Callable[[Any], bool]] = {
        "eq": lambda v: v == expected, "ne": lambda v: v != expected,
        "gt": lambda v: v > expected, "gte": lambda v: v >= expected,
        "lt": lambda v: v < expected, "lte": lambda v: v <= expected,
        "in": lambda v: v in expected, "not_in": lambda v: v not in expected,
        "startswith": lambda v: isinstance(v, str) and v.startswith(expected),
    }
    test = tests[op]

    def check(event: dict[str, Any]) -> bool:
        value = _get(event, field_)
        if value is MISSING:
            return False
        try:
            return bool(test(value))
        except TypeError:  # a type mismatch is false, as in the engine
            return False

    return check


def condition(spec: dict[str, Any] | None) -> Predicate:
    """A `where` of the bench's mix as a plain closure."""
    if spec is None:
        return lambda _event: True
    if "all" in spec:
        parts = [condition(c) for c in spec["all"]]
        return lambda event: all(p(event) for p in parts)
    if "any" in spec:
        parts = [condition(c) for c in spec["any"]]
        return lambda event: any(p(event) for p in parts)
    if "not" in spec:
        inner = condition(spec["not"])
        return lambda event: not inner(event)
    return _leaf(spec["field"], spec["op"], spec.get("value"))


def _compare(op: str, left: float, right: float) -> bool:
    return {"gt": left > right, "gte": left >= right, "lt": left < right, "lte": left <= right,
            "eq": left == right, "ne": left != right}[op]


@dataclass
class Window:
    """A sliding window's events of one group, and the time of its last fire."""

    entries: deque[tuple[int, Any]] = field(default_factory=deque)
    floor: int | None = None


@dataclass
class Rule:
    """One rule of the mix, with the state it keeps per group."""

    name: str
    kind: str
    types: frozenset[str]
    where: Predicate
    detect: dict[str, Any]
    steps: tuple[Predicate, ...] = ()
    groups: dict[Any, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, doc: dict[str, Any]) -> Rule:
        types = doc.get("match", {}).get("type")
        detect = doc.get("detect", {"kind": "each"})
        steps = tuple(condition(step["where"]) for step in detect.get("steps", ()))
        return cls(doc["name"], detect["kind"], frozenset([types] if isinstance(types, str) else types or []),
                   condition(doc.get("where")), detect, steps)


class Baseline:
    """Feed events (dicts), then `finish()`; `fires` counts fires by rule name."""

    def __init__(self, documents: Iterable[dict[str, Any]]) -> None:
        self.rules = [Rule.of(doc) for doc in documents]
        self.fires: Counter[str] = Counter()
        self.max_ts: int | None = None
        self._buffer: list[tuple[int, int, Rule, dict[str, Any]]] = []  # (ts, arrival, rule, event)
        self._arrivals = 0
        self._absent: list[tuple[int, int, Rule, Any]] = []  # (deadline, arrival, rule, group)

    def feed(self, event: dict[str, Any]) -> None:
        ts = event["ts"]
        self.max_ts = ts if self.max_ts is None else max(self.max_ts, ts)
        for rule in self.rules:
            if rule.types and event.get("type") not in rule.types:
                continue
            if ts < self.max_ts - LATENESS_MS or not rule.where(event):  # late, or filtered
                continue
            if rule.kind == "each":
                self.fires[rule.name] += 1
            else:
                self._arrivals += 1
                heapq.heappush(self._buffer, (ts, self._arrivals, rule, event))
        self._release(self.max_ts - LATENESS_MS)

    def finish(self) -> None:
        """End of input: everything buffered is evaluated; timers due by the last event time fire."""
        if self.max_ts is not None:
            self._release(self.max_ts)

    def _release(self, watermark: int) -> None:
        while self._buffer and self._buffer[0][0] <= watermark:
            ts, _, rule, event = heapq.heappop(self._buffer)
            self._timers(ts)  # deadlines up to this event come first (an event at the deadline does not prevent it)
            {"threshold": self._threshold, "sequence": self._sequence, "absence": self._absence}[rule.kind](
                rule, event, ts)
        self._timers(watermark)

    def _timers(self, now: int) -> None:
        while self._absent and self._absent[0][0] <= now:
            deadline, _, rule, group = heapq.heappop(self._absent)
            last = rule.groups.get(group)
            if last is not None and last + rule.detect["for_ms"] == deadline:
                self.fires[rule.name] += 1
                del rule.groups[group]

    def _threshold(self, rule: Rule, event: dict[str, Any], ts: int) -> None:
        detect = rule.detect
        window = rule.groups.setdefault(event.get("host"), Window())
        if window.floor is not None and ts <= window.floor:
            return  # the window was consumed by a fire at this time
        fn = detect["aggregate"]["fn"]
        value = event.get("value")
        entries = window.entries
        if fn == "count" or isinstance(value, int | float):
            entries.append((ts, value))
        while entries and entries[0][0] <= ts - detect["window"]["size_ms"]:
            entries.popleft()
        if fn == "count":
            measure: float | None = len(entries)
        else:
            measure = sum(v for _, v in entries) / len(entries) if entries else None
        if measure is not None and _compare(detect["having"]["op"], measure, detect["having"]["value"]):
            self.fires[rule.name] += 1
            entries.clear()  # the window restarts empty after a fire
            window.floor = ts

    def _sequence(self, rule: Rule, event: dict[str, Any], ts: int) -> None:
        first, second = rule.steps
        user = event.get("user")
        start = rule.groups.get(user)
        if start is not None and ts >= start + rule.detect["within_ms"]:
            start = None
        if start is None:
            rule.groups[user] = ts if first(event) else None
        elif second(event):
            self.fires[rule.name] += 1
            rule.groups[user] = None
        elif first(event):
            rule.groups[user] = ts  # relaxed: a newer first step restarts the partial match

    def _absence(self, rule: Rule, event: dict[str, Any], ts: int) -> None:
        host = event.get("host")
        last = rule.groups.get(host)
        if last is None or ts >= last:
            rule.groups[host] = ts
            self._arrivals += 1
            heapq.heappush(self._absent, (ts + rule.detect["for_ms"], self._arrivals, rule, host))


def with_durations(documents: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The bench's documents with their durations in ms (`1m`, `5m`, `30s`: what the mix uses)."""
    units = {"s": 1000, "m": 60_000}
    out = []
    for doc in documents:
        doc = orjson.loads(orjson.dumps(doc))
        detect = doc.get("detect", {})
        for key, target in (("within", "within_ms"), ("for", "for_ms")):
            if key in detect:
                detect[target] = int(detect[key][:-1]) * units[detect[key][-1]]
        if "window" in detect:
            size = detect["window"]["size"]
            detect["window"]["size_ms"] = int(size[:-1]) * units[size[-1]]
        out.append(doc)
    return out


def consume_baseline(topic: str, count: int, documents: Sequence[dict[str, Any]], batch: int = 1000,
                     ) -> tuple[float, Counter[str]]:
    """Figure 1b: the loop over `topic` (one consumer per partition, as the engine reads) — events/s
    from the first message to the last, and its fires by rule name.
    """
    baseline = Baseline(with_durations(documents))
    consumers = []
    for p in range(PARTITIONS):
        consumer = Consumer({"bootstrap.servers": BROKERS, "group.id": f"bench-base-{uuid.uuid4().hex}",
                             "enable.auto.commit": False, "fetch.wait.max.ms": 10})
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING)])
        consumers.append(consumer)
    seen, started = 0, 0.0
    deadline = time.monotonic() + 600
    try:
        while seen < count and time.monotonic() < deadline:
            for consumer in consumers:
                for msg in consumer.consume(num_messages=batch, timeout=0):
                    if not started:
                        started = time.perf_counter()
                    if msg.error() is None:
                        baseline.feed(orjson.loads(msg.value() or b""))
                        seen += 1
        baseline.finish()
        return seen / (time.perf_counter() - started), baseline.fires
    finally:
        for consumer in consumers:
            consumer.close()
