"""`new_value`: a field's value was never seen before for the group (RULES.md §4).

The group remembers at most `max_values` values, least recently seen evicted first (LRU: seeing
a known value refreshes it). The group's first value is learned without firing; later unknown
values fire and are learned. A value evicted from the LRU fires again when it comes back (bounded
memory is the price). An absent field is ignored; values compare as JSON, like `change`. `value`
is the new value.

The live state is an insertion-ordered dict (O(1) lookups and refreshes) that `on_event` updates
in place and returns; `freeze` gives an immutable tuple (oldest first) for snapshots.
"""

from __future__ import annotations

from dataflow.detect.base import NO_VALUE, Fire, Getter, Seen, canonical

LruState = dict[bytes, None]


class NewValueDetector:
    """An LRU set of the canonical forms of the group's values."""

    __slots__ = ("get", "max_values")
    timer_fires = False

    def __init__(self, get: Getter, max_values: int = 10000) -> None:
        if max_values < 1:
            msg = "max_values must be at least 1"
            raise ValueError(msg)
        self.get, self.max_values = get, max_values

    def on_event(self, state: LruState | None, seen: Seen, watermark_ms: int) -> tuple[LruState | None, list[Fire]]:
        value = self.get(seen.body)
        if value is NO_VALUE:
            return state, []
        key = canonical(value)
        if state is None:
            return {key: None}, []
        if key in state:
            del state[key]
            state[key] = None
            return state, []
        state[key] = None
        if len(state) > self.max_values:
            del state[next(iter(state))]
        return state, [Fire(at=seen.ts, value=value, start=seen.ts, key_event_id=seen.id, event=seen)]

    def on_watermark(self, state: LruState | None, watermark_ms: int) -> tuple[LruState | None, list[Fire]]:
        return state, []

    def deadline(self, state: LruState | None) -> int | None:
        return None

    def freeze(self, state: LruState | None) -> tuple[bytes, ...] | None:
        return None if state is None else tuple(state)

    def thaw(self, snapshot: tuple[bytes, ...] | None) -> LruState | None:
        return None if snapshot is None else dict.fromkeys(snapshot)
