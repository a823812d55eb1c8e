"""Event time: the `ts` field as epoch milliseconds (RULES.md §1).

Shared by the Kafka deserializer and the offline runner so both read time the same way.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

MIN_EVENT_TIME_MS = 946_684_800_000
"""2000-01-01T00:00:00Z: an earlier event time is a broken clock, not history (RULES.md §4)."""


def parse_event_time(value: Any) -> int | None:
    """Epoch ms from a number of ms or an ISO-8601 string with offset; None when absent or bad.

    An ISO string without an offset is refused: guessing a zone would shift every window.
    """
    if type(value) is int:  # the common case first
        return value if -1e15 < value < 1e15 else None
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return int(value) if value == value and abs(value) < 1e15 else None
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
        if parsed.tzinfo is None:
            return None
        return int(parsed.timestamp() * 1000)
    return None


def time_out_of_bounds(ts_ms: int, latest_ms: int | None) -> str | None:
    """Why an event time cannot be believed, or None (RULES.md §4, "Event-time bounds").

    `latest_ms` is the wall clock plus `CEPFLOW_MAX_EVENT_FUTURE`, read once per poll by the caller
    (no clock read per event); None skips the upper bound (offline runs replay any era).
    One device with a clock in the year 33658 must not move the watermark of every rule.
    The text before the first colon is the reason class of the dead-letter metric.
    """
    if ts_ms < MIN_EVENT_TIME_MS:
        return f"event time before 2000: {ts_ms} ms is before 2000-01-01T00:00:00Z"
    if latest_ms is not None and ts_ms > latest_ms:
        return f"event time in the future: {ts_ms} ms is after the wall clock + max_event_future ({latest_ms} ms)"
    return None
