"""`absence`: a group that was seen stops producing matching events for `for` (RULES.md §4).

The group keeps its latest event (by event time). The silent spell fires once, at that event's
time + `for`: by the timer when the watermark reaches it, or earlier when the next event of the
group arrives with a time at or after the deadline (that event shows the silence happened). After
the fire nothing is kept: the next event of the group re-arms it. An event exactly at the deadline
does not prevent the fire (the group was silent for the whole of `for`). `value` is `for` in ms;
`window_start`/`window_end` are the last event's time and the deadline.
"""

from __future__ import annotations

from dataflow.detect.base import Fire, Seen


class AbsenceDetector:
    """The state is the group's latest event, or None once a silent spell fired."""

    __slots__ = ("for_ms",)
    timer_fires = True

    def __init__(self, for_ms: int) -> None:
        if for_ms <= 0:
            msg = "absence needs a positive for"
            raise ValueError(msg)
        self.for_ms = for_ms

    def _fire(self, last: Seen) -> Fire:
        deadline = last.ts + self.for_ms
        return Fire(at=deadline, value=self.for_ms, start=last.ts, key_event_id=last.id, event=last,
                    window_start=last.ts, window_end=deadline)

    def on_event(self, state: Seen | None, seen: Seen, watermark_ms: int) -> tuple[Seen | None, list[Fire]]:
        fires: list[Fire] = []
        if state is not None and seen.ts >= state.ts + self.for_ms:
            fires.append(self._fire(state))
            state = None
        if state is None or seen.ts >= state.ts:
            state = seen
        return state, fires

    def on_watermark(self, state: Seen | None, watermark_ms: int) -> tuple[Seen | None, list[Fire]]:
        if state is None or watermark_ms < state.ts + self.for_ms:
            return state, []
        return None, [self._fire(state)]

    def deadline(self, state: Seen | None) -> int | None:
        return None if state is None else state.ts + self.for_ms

    def freeze(self, state: Seen | None) -> Seen | None:
        return state

    def thaw(self, snapshot: Seen | None) -> Seen | None:
        return snapshot
