"""`threshold`: an aggregate over a window of the group's events satisfies `having` (RULES.md §4).

Aggregates (`aggregate.fn`) over the events of the window that reached detection:

- `count`: the number of events; `sum`/`avg`/`min`/`max`: over the numeric values of `field`
  (an event whose field is missing or not a number adds nothing); `distinct`: the number of
  distinct values of `field` (missing and null are not values, like SQL's COUNT(DISTINCT)).
- Over no values, `count`, `sum` and `distinct` are 0; `avg`, `min` and `max` are undefined and
  every `having` comparison with them is false.

Sliding windows (`SlidingThreshold`) are evaluated at each event at time `t` over `(t - size, t]`
(events already received whose time is in that range, so an out-of-order event sees the window
ending at its own time). After a fire at `t` the window restarts empty: the events up to `t` are
consumed, and a later-arriving event with time `<= t` is ignored. `window_start` is the exclusive
bound `t - size`, `window_end` is `t`.

Tumbling windows (`TumblingThreshold`) are `[start, start + size)` aligned to the epoch. A window is
evaluated once, when the watermark reaches its end, and fires at most once, at its end. Once a
group has been seen, every later window is evaluated, empty ones included. When `having` cannot
hold on an empty window (e.g. `count gte 3`) the empty ones are skipped without observable
difference and a group whose windows are all closed keeps no state; when it can (e.g.
`count lt 10`), the group is kept and fires on each silent window. An event for a window that
already closed is ignored (it could not fire: the window fires at most once).

With `detect.for`, the detectors emit evaluations (`Fire.holds` true or false) instead of fires,
and nothing is consumed: the `for` episode (see `for_episode.py`) decides when to fire. Sliding:
one evaluation per event. Tumbling: one per closed window, at its end (`having` is only meaningful
over a complete window); a silent window that cannot hold is one false evaluation.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from dataflow.detect.base import NO_VALUE, Fire, Getter, Seen, canonical, compare, is_number

MAX_CATCHUP_WINDOWS = 10_000
"""Safety valve: at most this many consecutive *empty* tumbling windows are evaluated in one
watermark step (a far-future event time must not make every group emit millions of fires);
the rest of such a run is skipped."""


class Aggregate:
    """`aggregate` + `having`: per-event contribution, running accumulator, and the comparison."""

    __slots__ = ("empty_holds", "empty_value", "fn", "get", "op", "threshold")

    def __init__(self, fn: str, get: Getter | None, op: str, threshold: float) -> None:
        if fn != "count" and get is None:
            msg = f"aggregate {fn} needs a field"
            raise ValueError(msg)
        self.fn, self.get, self.op, self.threshold = fn, get, op, threshold
        self.empty_value = self.result(self.empty())
        self.empty_holds = self.holds(self.empty_value)

    def contribution(self, body: dict[str, Any]) -> Any:
        """What one event adds to the window, or `NO_VALUE` when it adds nothing."""
        if self.fn == "count":
            return None
        assert self.get is not None
        value = self.get(body)
        if self.fn == "distinct":
            return NO_VALUE if value is NO_VALUE or value is None else canonical(value)
        return value if is_number(value) else NO_VALUE

    def empty(self) -> Any:
        """The accumulator of an empty window."""
        return {"count": 0, "sum": 0, "avg": (0, 0), "min": None, "max": None, "distinct": frozenset()}[self.fn]

    def add(self, acc: Any, x: Any) -> Any:
        fn = self.fn
        if fn == "count":
            return acc + 1
        if fn == "sum":
            return acc + x
        if fn == "avg":
            return (acc[0] + x, acc[1] + 1)
        if fn == "min":
            return x if acc is None or x < acc else acc
        if fn == "max":
            return x if acc is None or x > acc else acc
        return acc | {x}

    def result(self, acc: Any) -> Any:
        if self.fn == "avg":
            total, n = acc
            return total / n if n else None
        if self.fn == "distinct":
            return len(acc)
        return acc

    def over(self, xs: Sequence[Any]) -> Any:
        """The aggregate of a window's contributions (sliding windows recompute per event)."""
        fn = self.fn
        if fn == "count":
            return len(xs)
        if fn == "sum":
            return sum(xs)
        if fn == "avg":
            return sum(xs) / len(xs) if xs else None
        if fn == "min":
            return min(xs) if xs else None
        if fn == "max":
            return max(xs) if xs else None
        return len(set(xs))

    def holds(self, value: Any) -> bool:
        return compare(self.op, value, self.threshold)


def _ts(entry: tuple[int, Any]) -> int:
    return entry[0]


@dataclass(frozen=True, slots=True)
class SlidingState:
    """A window's entries sorted by time, and the time of the last fire (`floor`).

    Entries are bare event times for `count` (nothing else is needed), `(ts, x)` contributions
    for the other aggregates. Snapshots written before that kept `(ts, None)` for `count` too:
    `SlidingThreshold.thaw` reads them.
    """

    entries: tuple[Any, ...] = ()
    floor: int | None = None


SlidingValue = SlidingState | int | None
"""A sliding window's per-group state: None when empty; for `count`, a bare `int` for the most
common one, a single event time and no fire yet (32 bytes, where a `SlidingState` holding it takes
128: a group key seen once holds this until its window passes); else a `SlidingState`."""


class SlidingThreshold:
    """A sliding window `(t - size, t]` evaluated at each event."""

    __slots__ = ("_key", "agg", "for_mode", "size")
    timer_fires = False  # evaluated at events only

    def __init__(self, size_ms: int, agg: Aggregate, for_mode: bool = False) -> None:
        self.size, self.agg, self.for_mode = size_ms, agg, for_mode
        self._key = None if agg.fn == "count" else _ts  # how `bisect` reads an entry's time

    def _time(self, entry: Any) -> int:
        return entry if self._key is None else entry[0]

    @staticmethod
    def _unpack(state: SlidingValue) -> tuple[tuple[Any, ...], int | None]:
        if state is None:
            return (), None
        if type(state) is int:
            return (state,), None
        assert isinstance(state, SlidingState)
        return state.entries, state.floor

    def _pack(self, entries: tuple[Any, ...], floor: int | None) -> SlidingValue:
        if floor is None:
            if not entries:
                return None
            if len(entries) == 1 and self._key is None:
                return entries[0]
        return SlidingState(entries, floor)

    def _evict(self, entries: tuple[Any, ...], watermark_ms: int) -> tuple[Any, ...]:
        """Drop what no future window can hold: an event at `t >= watermark` looks back to `t - size`."""
        cut = bisect_right(entries, watermark_ms - self.size, key=self._key)
        return entries[cut:] if cut else entries

    def on_event(self, state: SlidingValue, seen: Seen, watermark_ms: int) -> tuple[SlidingValue, list[Fire]]:
        entries, floor = self._unpack(state)
        t = seen.ts
        if floor is not None and t <= floor:
            return state, []  # its window was consumed by a fire
        x = self.agg.contribution(seen.body)
        if x is not NO_VALUE:
            entry = t if self._key is None else (t, x)
            if not entries or self._time(entries[-1]) <= t:
                entries = (*entries, entry)
            else:
                at = bisect_right(entries, t, key=self._key)
                entries = (*entries[:at], entry, *entries[at:])
        lo = bisect_right(entries, t - self.size, key=self._key)
        hi = bisect_right(entries, t, key=self._key)
        value = hi - lo if self._key is None else self.agg.over([x for _, x in entries[lo:hi]])
        holds = self.agg.holds(value)
        out: list[Fire] = []
        if holds or self.for_mode:
            out.append(
                Fire(at=t, value=value, start=t - self.size, key_event_id=seen.id, event=seen,
                     window_start=t - self.size, window_end=t, holds=holds)
            )
        if holds and not self.for_mode:
            entries = entries[hi:]  # the window restarts empty after a fire
            floor = t if floor is None else max(floor, t)
        return self._pack(self._evict(entries, watermark_ms), floor), out

    def on_watermark(self, state: SlidingValue, watermark_ms: int) -> tuple[SlidingValue, list[Fire]]:
        if state is None:
            return None, []
        entries, floor = self._unpack(state)
        kept_floor = floor if floor is not None and floor >= watermark_ms else None
        kept = self._evict(entries, watermark_ms)
        if kept is entries and kept_floor == floor:
            return state, []
        return self._pack(kept, kept_floor), []

    def deadline(self, state: SlidingValue) -> int | None:
        """When the state becomes empty (no timer fires here: this only lets the caller discard it)."""
        if state is None:
            return None
        entries, floor = self._unpack(state)
        ends = []
        if entries:
            ends.append(self._time(entries[-1]) + self.size)
        if floor is not None:
            ends.append(floor + 1)
        return max(ends)

    def freeze(self, state: SlidingValue) -> SlidingValue:
        return state

    def thaw(self, snapshot: SlidingValue) -> SlidingValue:
        if not isinstance(snapshot, SlidingState):
            return snapshot
        entries = snapshot.entries
        if self._key is None and entries and isinstance(entries[0], tuple):  # an older `count` snapshot
            entries = tuple(t for t, _ in entries)
        return self._pack(entries, snapshot.floor)


@dataclass(frozen=True, slots=True)
class Bucket:
    """One tumbling window with events: its start, accumulator and latest event (for templates)."""

    start: int
    acc: Any
    last: Seen | None


@dataclass(frozen=True, slots=True)
class TumblingState:
    """`next_start`: the first window not evaluated yet; `buckets`: windows with events, by start."""

    next_start: int
    buckets: tuple[Bucket, ...] = ()


def _start(bucket: Bucket) -> int:
    return bucket.start


class TumblingThreshold:
    """Epoch-aligned tumbling windows evaluated when the watermark passes their end."""

    __slots__ = ("agg", "for_mode", "size")
    timer_fires = True  # a window is evaluated when the watermark passes its end

    def __init__(self, size_ms: int, agg: Aggregate, for_mode: bool = False) -> None:
        self.size, self.agg, self.for_mode = size_ms, agg, for_mode

    def window_of(self, ts: int) -> int:
        return ts - ts % self.size

    def on_event(
        self, state: TumblingState | None, seen: Seen, watermark_ms: int
    ) -> tuple[TumblingState | None, list[Fire]]:
        start = self.window_of(seen.ts)
        if start + self.size <= watermark_ms or (state is not None and start < state.next_start):
            return state, []  # that window has closed
        x = self.agg.contribution(seen.body)
        buckets = list(state.buckets) if state is not None else []
        at = bisect_left(buckets, start, key=_start)
        if at < len(buckets) and buckets[at].start == start:
            old = buckets[at]
            acc = old.acc if x is NO_VALUE else self.agg.add(old.acc, x)
            last = seen if old.last is None or seen.ts >= old.last.ts else old.last
            buckets[at] = Bucket(start, acc, last)
        else:
            acc = self.agg.empty() if x is NO_VALUE else self.agg.add(self.agg.empty(), x)
            buckets.insert(at, Bucket(start, acc, seen))
        return TumblingState(state.next_start if state is not None else start, tuple(buckets)), []

    def _fire(self, start: int, value: Any, last: Seen | None, holds: bool) -> Fire:
        end = start + self.size
        return Fire(at=end, value=value, start=start, key_event_id="", event=last,
                    window_start=start, window_end=end, holds=holds)

    def on_watermark(self, state: TumblingState | None, watermark_ms: int) -> tuple[TumblingState | None, list[Fire]]:
        if state is None or state.next_start + self.size > watermark_ms:
            return state, []
        size, agg = self.size, self.agg
        start: int | None = state.next_start
        buckets = list(state.buckets)
        out: list[Fire] = []
        empty_run = 0
        while start is not None and start + size <= watermark_ms:
            if buckets and buckets[0].start == start:
                bucket = buckets.pop(0)
                value = agg.result(bucket.acc)
                holds = agg.holds(value)
                if holds or self.for_mode:
                    out.append(self._fire(start, value, bucket.last, holds))
                start += size
                empty_run = 0
            elif agg.empty_holds:
                if empty_run >= MAX_CATCHUP_WINDOWS:
                    start = buckets[0].start if buckets else self.window_of(watermark_ms)
                    empty_run = 0
                    continue
                out.append(self._fire(start, agg.empty_value, None, True))
                start += size
                empty_run += 1
            else:
                if self.for_mode:
                    out.append(self._fire(start, agg.empty_value, None, False))  # ends an episode
                start = buckets[0].start if buckets else None
        if start is None or (not buckets and not agg.empty_holds and not self.for_mode):
            return None, out  # only empty windows can follow, and they cannot fire
        return TumblingState(start, tuple(buckets)), out

    def deadline(self, state: TumblingState | None) -> int | None:
        return None if state is None else state.next_start + self.size

    def freeze(self, state: TumblingState | None) -> TumblingState | None:
        return state

    def thaw(self, snapshot: TumblingState | None) -> TumblingState | None:
        return snapshot
