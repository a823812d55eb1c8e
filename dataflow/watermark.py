"""The event-time watermark (RULES.md §4): what time it is, as far as timers and lateness go.

Per Kafka partition, progress is the largest event time read from it. A process's progress is the
minimum over the partitions it reads that are not idle; a partition is idle when it is *caught up*
(its consumer has read up to the end offset the broker reports, `kafka_in.py`) and has been quiet
for `time.idle_after` (default 5 s). A backlog replayed at uneven speeds across partitions thus
neither makes in-order events late nor fires timers early: the slowest partition holds the clock.

Only when every partition is idle does wall-clock time move the watermark (live operation, `now`
given), so timers (tumbling close, absence, an absent sequence step, `for`) fire on idle input.
Wall time counts from the last moment any partition read a message or was (re)confirmed caught
up. While the broker cannot be reached, or messages are unread, no partition is confirmed: the
watermark waits. That closes the loss found on the real stack (issue 13): with the broker stopped
for 15 s, events that producers buffered arrived after the wall-clock watermark had passed them
and went to the late topic (115 of 408 executions lost).

Time a worker spends blocked in its own work (`busy`: a webhook answering after 7 s, a long batch)
is not idle input either: the source is not polled meanwhile, so it cannot say it is caught up.

Offline (`now=None`) the watermark moves only with event time. It never goes backwards.

In a cluster, each process judges lateness by the partitions *it* reads, and its timers also wait
for the progress other processes report with the events they route to it (`follow`): a timer fires
on the slowest process's time, never on the fastest's. A process that has routed nothing to this
one for `idle_after` drops out, like an idle partition.

After a restart the clock resumes from the snapshots (`restore`): once the input is idle again,
the time the engine was down counts as idle time, so a window or absence due meanwhile fires at
restart, not at the first new event.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

MIN_WATERMARK = -(1 << 62)
"""The watermark before any event was seen: nothing is late and no timer is due."""

DEFAULT_IDLE_AFTER_MS = 5000
"""`time.idle_after` of a rule that does not set it (RULES.md §4)."""

_NO_LIMIT = 1 << 62


class _Partition:
    """What the clock knows of one source partition."""

    __slots__ = ("active_at", "busy_mark", "caught_up", "max_ts")

    def __init__(self, at: float, busy_mark: float, caught_up: bool) -> None:
        self.max_ts: int | None = None
        self.active_at = at  # the last message read, or the last (re)confirmation: quiet since then
        self.busy_mark = busy_mark  # the clock's busy total at `active_at`
        self.caught_up = caught_up

    def idle(self, at: float, busy_total: float, idle_after_s: float) -> bool:
        return self.caught_up and at - self.active_at - (busy_total - self.busy_mark) >= idle_after_s


class PartitionReading:
    """One poll of one partition, as the router sees it: per-event work is a comparison.

    The other partitions do not move during a poll, so their minimum is computed once per poll and
    `idle_after` value, not per event (bench figure 2: no clock read per event).
    """

    __slots__ = ("_clock", "_others", "_part")

    def __init__(self, clock: WatermarkClock, part: _Partition) -> None:
        self._clock = clock
        self._part = part
        self._others: dict[int, int] = {}

    def observe(self, ts_ms: int) -> None:
        """Record an event time read from this partition."""
        part = self._part
        if part.max_ts is None or ts_ms > part.max_ts:
            part.max_ts = ts_ms
            self._clock.saw(ts_ms)

    def progress_ms(self, idle_after_ms: int = DEFAULT_IDLE_AFTER_MS) -> int:
        """The process's progress while this partition is read: lateness is judged by it."""
        others = self._others.get(idle_after_ms)
        if others is None:
            others = self._others[idle_after_ms] = self._clock.min_active(idle_after_ms, self._part)
        own = self._part.max_ts
        progress = others if own is None or others < own else own
        return self._clock.floor(progress)


class WatermarkClock:
    """Event-time progress of one process, over the partitions it reads.

    `now` returns seconds (e.g. `time.monotonic`); only differences between its readings matter.
    `wall` (epoch seconds) only serves `restore`, across a restart. Partitions become known when a
    source `track`s them (not caught up until it `confirm`s) or when the router reads them
    (`reading`; a source that reports nothing, e.g. in tests, counts as caught up).
    """

    __slots__ = (
        "_busy_depth",
        "_busy_from",
        "_busy_total",
        "_derived",
        "_high",
        "_lock",
        "_max_ts",
        "_now",
        "_parts",
        "_peers",
        "_restored",
        "_snap",
        "_wall",
        "id",
    )

    def __init__(self, now: Callable[[], float] | None = time.monotonic,
                 wall: Callable[[], float] = time.time, process_id: str | None = None,
                 derived_topics: frozenset[str] = frozenset()) -> None:
        """`derived_topics` (the chain topic) carry events made from input already read: their
        partitions are read but never waited for — a quiet or lagging chain partition held every
        stateful fire back by up to `idle_after` (bench: stateful p99 10 s).
        """
        self._now = now
        self._derived = derived_topics
        self._wall = wall
        self._parts: dict[tuple[str, int], _Partition] = {}
        self._max_ts: int | None = None  # the largest event time read from any partition
        self._restored: int | None = None  # progress resumed from snapshots, downtime included
        self._busy_total = 0.0  # closed busy time, ever
        self._busy_depth = 0  # workers (threads) inside `busy` now
        self._busy_from = 0.0  # since when, while _busy_depth > 0
        self._high = MIN_WATERMARK  # the highest progress reported: never step back
        self._peers: dict[str, tuple[int, float]] = {}  # process id -> (progress, when reported)
        self._snap: tuple[float, tuple[int, int]] | None = None
        self._lock = threading.Lock()
        self.id = process_id or uuid.uuid4().hex[:12]
        """Names this process in the items it routes (`follow`)."""

    @property
    def live(self) -> bool:
        """True when the watermark advances with wall-clock time."""
        return self._now is not None

    @property
    def max_ts_ms(self) -> int | None:
        """The largest event time read or restored (None before either)."""
        if self._restored is not None and (self._max_ts is None or self._restored > self._max_ts):
            return self._restored
        return self._max_ts

    def _at(self) -> float:
        return self._now() if self._now is not None else 0.0

    def _busy(self, at: float) -> float:
        return self._busy_total + (at - self._busy_from if self._busy_depth else 0.0)

    def _part(self, key: tuple[str, int], caught_up: bool) -> _Partition:
        if key[0] in self._derived:  # not one of the clock's partitions: a throwaway
            at = self._at()
            return _Partition(at, self._busy(at), True)
        part = self._parts.get(key)
        if part is None:
            with self._lock:
                part = self._parts.get(key)
                if part is None:
                    at = self._at()
                    part = self._parts[key] = _Partition(at, self._busy(at), caught_up)
        return part

    # --- the source ------------------------------------------------------------------------------

    def track(self, topic: str, partition: int) -> None:
        """A source reads this partition: it holds the wall clock until confirmed caught up."""
        self._part((topic, partition), False)

    def confirm(self, topic: str, partition: int, caught_up: bool) -> None:
        """The source's latest word: read up to the broker's end offset, or not (unreachable,
        unread messages). Quiet time counts again from a new confirmation.
        """
        part = self._part((topic, partition), caught_up)
        if caught_up and not part.caught_up:
            at = self._at()
            part.active_at, part.busy_mark = at, self._busy(at)
        part.caught_up = caught_up

    # --- the router --------------------------------------------------------------------------------

    def reading(self, topic: str, partition: int) -> PartitionReading:
        """Start routing one poll of a partition (one clock read per poll)."""
        part = self._part((topic, partition), True)
        at = self._at()
        part.active_at, part.busy_mark = at, self._busy(at)
        return PartitionReading(self, part)

    def observe(self, ts_ms: int, topic: str = "", partition: int = 0) -> None:
        """Record one event time (tests, the offline runner): a poll of one event."""
        self.reading(topic, partition).observe(ts_ms)

    def saw(self, ts_ms: int) -> None:
        if self._max_ts is None or ts_ms > self._max_ts:
            self._max_ts = ts_ms

    def min_active(self, idle_after_ms: int, besides: _Partition | None = None) -> int:
        """The least event time of the partitions not idle (other than `besides`); a large
        number when there is none, `MIN_WATERMARK` while one is unread and not caught up (a
        partition whose backlog has not been read yet holds every other back).
        """
        at = self._at()
        busy, idle_after_s = self._busy(at), idle_after_ms / 1000
        least = _NO_LIMIT
        for part in list(self._parts.values()):
            if part is besides or (part.max_ts is not None and part.max_ts >= least):
                continue
            if self._now is None or not part.idle(at, busy, idle_after_s):
                if part.max_ts is None:
                    if not part.caught_up:  # unread messages maybe, of unknown time
                        return MIN_WATERMARK
                    continue  # empty so far
                least = part.max_ts
        return least

    def floor(self, progress: int) -> int:
        """Never step back: a partition that speaks again after an idle spell cannot undo time."""
        if progress < self._high:
            return self._high
        self._high = progress
        return progress

    # --- timers and lateness ----------------------------------------------------------------------

    def progress_ms(self, idle_after_ms: int = DEFAULT_IDLE_AFTER_MS) -> int:
        """Input progress of this process: the least event time of the partitions that are not
        idle; when all are idle (live), the largest event time plus the quiet time since.
        """
        if self._max_ts is None and self._restored is None:
            return MIN_WATERMARK
        least = self.min_active(idle_after_ms)
        if least != _NO_LIMIT:
            return self.floor(least)
        base = self.max_ts_ms
        assert base is not None
        if self._now is None:
            return self.floor(base)
        at = self._at()
        parts = list(self._parts.values())
        busy, idle_after_s = self._busy(at), idle_after_ms / 1000
        if self._busy_depth or not parts or not all(part.idle(at, busy, idle_after_s) for part in parts):
            # Quiet but not confirmed caught up (broker unreachable, messages unread): no wall time.
            return self.floor(self._max_ts if self._max_ts is not None else MIN_WATERMARK)
        last = max(parts, key=lambda part: part.active_at, default=None)
        quiet = 0.0 if last is None else at - last.active_at - (busy - last.busy_mark)
        return self.floor(base + max(0, int(quiet * 1000)))

    def watermark(self, lateness_ms: int, idle_after_ms: int = DEFAULT_IDLE_AFTER_MS) -> int:
        """Timers up to this are due: the least progress of this process and of the processes that
        recently routed events to it, minus `lateness_ms`.
        """
        progress = self.progress_ms(idle_after_ms)
        if self._peers:
            at, idle_after_s = self._at(), idle_after_ms / 1000
            least = _NO_LIMIT
            for peer_progress, when in list(self._peers.values()):
                if (self._now is None or at - when < idle_after_s) and peer_progress < least:
                    least = peer_progress  # else it routed nothing here for idle_after: it drops out
            if least != _NO_LIMIT and (least < progress or progress == MIN_WATERMARK):
                progress = least  # a process reading no partition (yet) times by its peers
        if progress == MIN_WATERMARK:
            return MIN_WATERMARK
        return progress - lateness_ms

    def follow(self, process: str, progress_ms: int) -> None:
        """Record the progress another process routed an event by: timers wait for it."""
        if process != self.id:
            self._peers[process] = (progress_ms, self._at())

    def restore(self, progress_ms: int, wall_ms: int) -> None:
        """Resume from a snapshot's clock: progress then, plus the wall time since (downtime).

        Used only once the input is idle (caught up and quiet): until then, events replayed or
        produced while the engine was down set the time, and none of them is late for it.
        """
        resumed = progress_ms + max(0, int(self._wall() * 1000) - wall_ms)
        if self._restored is None or resumed > self._restored:
            self._restored = resumed

    def reading_for_snapshot(self) -> tuple[int, int] | None:
        """(progress, wall ms) to keep in a snapshot, for `restore`; None before any event."""
        if self._max_ts is None and self._restored is None:
            return None
        at = self._at()
        if self._snap is None or at - self._snap[0] > 0.1:  # every key snapshots at each epoch: compute once
            self._snap = (at, (self.progress_ms(), int(self._wall() * 1000)))
        return self._snap[1]

    @contextmanager
    def busy(self) -> Iterator[None]:
        """Mark the worker's own work (actions, routing a batch): it is not idle input."""
        if self._now is None:
            yield
            return
        with self._lock:
            if not self._busy_depth:
                self._busy_from = self._now()
            self._busy_depth += 1
        try:
            yield
        finally:
            with self._lock:
                self._busy_depth -= 1
                if not self._busy_depth:
                    self._busy_total += self._now() - self._busy_from
