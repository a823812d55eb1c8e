"""The per-(rule, group) reorder buffer of `time.order: event_time` (RULES.md §4, "Order").

Events that are not late may arrive in any order within the allowed lateness. A group holds the
ones the watermark has not passed yet, sorted by event time (ties in arrival order), and releases
them in that order once the watermark reaches them: no event that is not late can arrive before
a released one afterwards (it would be older than the watermark), so detection sees the sorted
stream — Flink CEP's buffer-until-watermark.

The buffer is a plain value, as small as it can be for the common cases: None (empty), the
`Event` itself (one event), or a tuple of events sorted by time. Pure functions, no I/O.
"""

from __future__ import annotations

from bisect import bisect_right

from dataflow.types import Event

Pending = Event | tuple[Event, ...] | None
"""Events waiting for the watermark, sorted by time (ties in arrival order)."""


def _ts(event: Event) -> int:
    return event.ts_ms


def _events(pending: Pending) -> tuple[Event, ...]:
    if pending is None:
        return ()
    if type(pending) is tuple:
        return pending
    assert isinstance(pending, Event)
    return (pending,)


def _pack(events: tuple[Event, ...]) -> Pending:
    if not events:
        return None
    return events[0] if len(events) == 1 else events


def add(pending: Pending, event: Event) -> Pending:
    """`pending` with `event` inserted after every event of the same or an earlier time."""
    if pending is None:
        return event
    events = _events(pending)
    if events[-1].ts_ms <= event.ts_ms:
        return (*events, event)
    at = bisect_right(events, event.ts_ms, key=_ts)
    return (*events[:at], event, *events[at:])


def release(pending: Pending, watermark_ms: int) -> tuple[tuple[Event, ...], Pending]:
    """(the events at or before `watermark_ms`, in order; what stays pending).

    An event at exactly the watermark is released: a later one at the same time is not late and
    comes after it anyway (ties in arrival order).
    """
    if pending is None:
        return (), None
    events = _events(pending)
    if events[0].ts_ms > watermark_ms:
        return (), pending
    cut = bisect_right(events, watermark_ms, key=_ts)
    return events[:cut], _pack(events[cut:])


def first_ts(pending: Pending) -> int | None:
    """The time of the earliest pending event: the watermark at which `release` has work."""
    if pending is None:
        return None
    return pending[0].ts_ms if type(pending) is tuple else pending.ts_ms  # type: ignore[union-attr]

