"""Event time: the `ts` field as epoch milliseconds (RULES.md §1).

Shared by the Kafka deserializer and the offline runner so both read time the same way.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any


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
