"""What every detection kind shares: the events it keeps, what it emits, and value helpers.

A detector is configured once per rule and holds no per-group data. Per-group state is an
explicit value passed in and returned by its methods (`None` = nothing kept for the group):

    on_event(state, seen, watermark_ms) -> (state, [Fire])   # an event that reached detection
    on_watermark(state, watermark_ms)   -> (state, [Fire])   # timers due at or before watermark
    deadline(state) -> int | None       # earliest watermark at which on_watermark has work
    freeze(state) -> snapshot / thaw(snapshot) -> state      # immutable, picklable snapshot

Methods are pure: no I/O, no clock reads; time is the event's time or the given watermark.
A deadline `d` is due when `watermark >= d` (events at `ts >= watermark` are not late, so an
event at exactly `d` can still arrive after `d` fired; each kind documents which side it is on).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Protocol

import orjson

from dataflow.types import ChainInfo


class _NoValue:
    """A field that is absent from the event (distinct from a JSON null)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "NO_VALUE"

    def __reduce__(self) -> str:
        return "NO_VALUE"


NO_VALUE: Final = _NoValue()

Getter = Callable[[dict[str, Any]], Any]
"""Reads one field of an event body; returns `NO_VALUE` when the field is absent."""

Predicate = Callable[[dict[str, Any]], bool]


@dataclass(frozen=True, slots=True)
class Seen:
    """An event as detection keeps it: id, event time, body and chain lineage (if a chain event)."""

    id: str
    ts: int
    body: dict[str, Any]
    chain: ChainInfo | None = None


@dataclass(frozen=True, slots=True)
class Fire:
    """One outcome of detection for a group.

    As a fire: the rule fires at `at`. With `for`, threshold detectors emit evaluations instead,
    where `holds` is the verdict of `having` (a plain fire always has `holds=True`).

    - `start` and `key_event_id` feed the idempotency key (window or sequence start, triggering
      event id — `""` for a timer-driven fire without one);
    - `event` is the event exposed to templates as `event` (None: `{}`), and its chain lineage;
    - `events` are the sequence steps by name.
    """

    at: int
    value: Any
    start: int | None
    key_event_id: str
    event: Seen | None
    window_start: int | None = None
    window_end: int | None = None
    events: tuple[tuple[str, Seen], ...] = ()
    holds: bool = True


class Detector(Protocol):
    """What `GroupLogic` needs of a detection kind; `state` is the kind's own per-group value."""

    @property
    def timer_fires(self) -> bool:
        """Whether the detector sets timers (a class attribute in every implementation)."""
        ...
    """Whether `on_watermark` can return fires; if not, every fire comes from `on_event`, with the
    event in hand (a group then need not keep its group between events)."""

    def on_event(self, state: Any, seen: Seen, watermark_ms: int) -> tuple[Any, list[Fire]]: ...

    def on_watermark(self, state: Any, watermark_ms: int) -> tuple[Any, list[Fire]]: ...

    def deadline(self, state: Any) -> int | None: ...

    def freeze(self, state: Any) -> Any: ...

    def thaw(self, snapshot: Any) -> Any: ...


def canonical(value: Any) -> bytes:
    """A hashable, compact identity of a JSON value (object keys sorted): for change/distinct."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS, default=repr)


def is_number(value: Any) -> bool:
    """A JSON number: int or float, never bool, never NaN."""
    return isinstance(value, int | float) and not isinstance(value, bool) and value == value


_COMPARE: dict[str, Callable[[Any, float], bool]] = {
    "gt": lambda a, b: a > b,
    "gte": lambda a, b: a >= b,
    "lt": lambda a, b: a < b,
    "lte": lambda a, b: a <= b,
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
}


def compare(op: str, value: Any, threshold: float) -> bool:
    """`having`: an undefined aggregate (None: avg/min/max of nothing) compares false, even `ne`."""
    if value is None:
        return False
    return _COMPARE[op](value, threshold)
