"""Rules of every detection kind and random streams delivered out of order within the allowed
lateness: shared by the order property tests of the offline runner (`test_order.py`) and of the
engine (`tests/dataflow/test_flow_order.py`). RULES.md §4, "Order"."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from dataflow.types import Event
from rules.model import RuleSpec

LATENESS_MS = 5_000
S = 1_000
T0 = 1_700_000_000_000
"""Event times start here: an engine dead-letters times before 2000 (RULES.md §4, "Event-time bounds")."""

_HOOK = {"type": "webhook", "endpoint": "https://hooks.example.com/x"}


def _rule(name: str, detect: dict[str, Any], **fields: Any) -> dict[str, Any]:
    doc = {"name": name, "match": {"type": "ev"}, "group_by": ["g"], "detect": detect,
           "time": {"allowed_lateness": LATENESS_MS}, "action": _HOOK}
    doc.update(fields)
    return doc


def _window(kind: str, size: str, fn: str, op: str, value: float, field: str | None = None,
            **extra: Any) -> dict[str, Any]:
    aggregate = {"fn": fn} if field is None else {"fn": fn, "field": field}
    return {"kind": "threshold", "window": {"type": kind, "size": size}, "aggregate": aggregate,
            "having": {"op": op, "value": value}, **extra}


def _step(name: str, kind: str, absent: bool = False) -> dict[str, Any]:
    step = {"name": name, "where": {"field": "kind", "op": "eq", "value": kind}}
    return {**step, "absent": True} if absent else step


HOT = {"field": "v", "op": "gt", "value": 50}

RULE_DOCS: list[dict[str, Any]] = [
    _rule("each", {"kind": "each"}, where=HOT),
    _rule("sliding-count", _window("sliding", "10s", "count", "gte", 3)),
    _rule("sliding-sum", _window("sliding", "10s", "sum", "gte", 150, "v")),
    _rule("sliding-cooldown", _window("sliding", "10s", "count", "gte", 2), cooldown="15s"),
    _rule("tumbling-count", _window("tumbling", "10s", "count", "gte", 2)),
    _rule("tumbling-quiet", _window("tumbling", "10s", "count", "lt", 1)),
    _rule("tumbling-max", _window("tumbling", "10s", "max", "gt", 80, "v")),
    _rule("seq-relaxed", {"kind": "sequence", "within": "10s", "steps": [_step("a", "A"), _step("b", "B")]}),
    _rule("seq-strict", {"kind": "sequence", "within": "15s", "contiguity": "strict",
                         "steps": [_step("a", "A"), _step("b", "B"), _step("c", "C")]}),
    _rule("seq-absent", {"kind": "sequence", "within": "10s",
                         "steps": [_step("a", "A"), _step("no_b", "B", absent=True)]}),
    _rule("absence", {"kind": "absence", "for": "8s"}),
    _rule("change", {"kind": "change", "field": "status"}),
    _rule("new-value", {"kind": "new_value", "field": "ip", "max_values": 2}),
    _rule("each-for", {"kind": "each", "for": "5s"}, where=HOT),
    _rule("sliding-for", _window("sliding", "10s", "count", "gte", 2, **{"for": "5s"})),
    _rule("tumbling-for", _window("tumbling", "10s", "count", "gte", 1, **{"for": "20s"})),
]


def rule_specs(order: str = "event_time") -> list[RuleSpec]:
    return [RuleSpec.model_validate({**doc, "time": {"allowed_lateness": LATENESS_MS, "order": order}})
            for doc in RULE_DOCS]


def body(i: int, ts: int, g: str, kind: str, status: str, ip: str, v: int) -> dict[str, Any]:
    return {"id": f"e{i}", "type": "ev", "ts": ts, "g": g, "kind": kind, "status": status, "ip": ip, "v": v}


bodies = st.lists(
    st.tuples(st.integers(0, 40), st.sampled_from("ab"), st.sampled_from("ABC"), st.sampled_from(["up", "down"]),
              st.sampled_from(["ip1", "ip2", "ip3"]), st.integers(0, 100)),
    min_size=1, max_size=30,
).map(lambda rows: [body(i, T0 + ts * S, *rest) for i, (ts, *rest) in enumerate(rows)])
"""Event bodies with times on whole seconds over 40 s (ties are common), in time order of their
index only by chance."""


def delivered(draw: st.DrawFn, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`items` in an arrival order where none is late: each is delayed by up to the allowed
    lateness (arrival = time + delay), so an event arrives at most `LATENESS_MS` after a later one."""
    delays = draw(st.lists(st.integers(0, LATENESS_MS), min_size=len(items), max_size=len(items)))
    order = sorted(range(len(items)), key=lambda i: (items[i]["ts"] + delays[i], i))
    return [items[i] for i in order]


def by_time(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The same events sorted by time, ties in arrival order: the reference stream."""
    return sorted(items, key=lambda item: item["ts"])


def as_event(item: dict[str, Any]) -> Event:
    return Event(id=item["id"], ts_ms=item["ts"], topic="events", type=item["type"], body=dict(item))
