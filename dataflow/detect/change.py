"""`change`: a field's value differs from the group's previous value (RULES.md §4).

The first value of a group is learned without firing. Values are compared as JSON (object keys
unordered; `1` and `1.0` differ, as do `1` and `"1"`). An event whose field is absent is ignored
(neither a change nor learned); a JSON null is a value. Events count in arrival order. `value` is
`{"from": previous, "to": current}`. The group keeps its last value forever (that is the point).
"""

from __future__ import annotations

from typing import Any

from dataflow.detect.base import NO_VALUE, Fire, Getter, Seen, canonical

ChangeState = tuple[bytes, Any]
"""(canonical form, value) of the group's previous value."""


class ChangeDetector:
    """Remembers the previous value of `field` per group."""

    __slots__ = ("get",)
    timer_fires = False

    def __init__(self, get: Getter) -> None:
        self.get = get

    def on_event(
        self, state: ChangeState | None, seen: Seen, watermark_ms: int
    ) -> tuple[ChangeState | None, list[Fire]]:
        value = self.get(seen.body)
        if value is NO_VALUE:
            return state, []
        key = canonical(value)
        if state is None:
            return (key, value), []
        if state[0] == key:
            return state, []
        fire = Fire(at=seen.ts, value={"from": state[1], "to": value}, start=seen.ts, key_event_id=seen.id, event=seen)
        return (key, value), [fire]

    def on_watermark(self, state: ChangeState | None, watermark_ms: int) -> tuple[ChangeState | None, list[Fire]]:
        return state, []

    def deadline(self, state: ChangeState | None) -> int | None:
        return None

    def freeze(self, state: ChangeState | None) -> ChangeState | None:
        return state

    def thaw(self, snapshot: ChangeState | None) -> ChangeState | None:
        return snapshot
