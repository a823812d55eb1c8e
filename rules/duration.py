"""Durations of the rule language: `500ms`, `30s`, `5m`, `2h`, `1d`, or a bare integer of milliseconds.

Everything inside cepflow counts time in integer milliseconds (event time is epoch ms), so a duration
is parsed once, at load, into an int and formatted back only for people.
"""

from __future__ import annotations

import re

UNIT_MS: dict[str, int] = {"ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}

# Largest duration accepted: JSON-safe (2**53 - 1) and far beyond any sensible window.
MAX_DURATION_MS = 2**53 - 1

_DURATION_RE = re.compile(r"([0-9]+)(ms|s|m|h|d)")

EXPECTED = "a duration like 500ms, 30s, 5m, 2h, 1d or an integer of milliseconds"


def parse_duration(value: object) -> int:
    """Return `value` in milliseconds; raise `ValueError` saying what was expected otherwise.

    Strings need a unit (a bare "500" is ambiguous between seconds and milliseconds); integers are
    milliseconds. Booleans and floats are refused so that `5.5` or `true` never pass silently.
    """
    if isinstance(value, bool):
        msg = f"expected {EXPECTED} (got {value!r})"
        raise ValueError(msg)
    if isinstance(value, int):
        ms = value
    elif isinstance(value, str):
        found = _DURATION_RE.fullmatch(value)
        if found is None:
            msg = f"expected {EXPECTED} (got {value!r})"
            raise ValueError(msg)
        ms = int(found.group(1)) * UNIT_MS[found.group(2)]
    else:
        msg = f"expected {EXPECTED} (got {type(value).__name__} {value!r})"
        raise ValueError(msg)
    if ms < 0:
        msg = f"a duration cannot be negative (got {value!r})"
        raise ValueError(msg)
    if ms > MAX_DURATION_MS:
        msg = f"duration too large (got {value!r}, at most {MAX_DURATION_MS} ms)"
        raise ValueError(msg)
    return ms


def format_duration(ms: int) -> str:
    """Format milliseconds with the largest unit that divides them exactly: 300000 -> `5m`."""
    if ms < 0:
        msg = f"a duration cannot be negative (got {ms!r})"
        raise ValueError(msg)
    for unit in ("d", "h", "m", "s"):
        size = UNIT_MS[unit]
        if ms and ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"
