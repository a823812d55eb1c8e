"""The event-time watermark (RULES.md §4): what time it is, as far as timers and lateness go.

The watermark is the largest event time seen minus a rule's allowed lateness. In live operation
(`now` given) it also advances with the wall-clock time elapsed since that largest event time was
seen, so timers (tumbling close, absence, an absent sequence step, `for`) fire on idle input.
Offline (`now=None`) it moves only with event time. It never goes backwards.

Idle means the input is quiet, not the process: time a worker spends blocked in its own work
(a webhook answering after 7 s, a long batch) is marked `busy` and does not advance the clock.
Otherwise events that waited in Kafka during the stall would look late when read after it, and an
absence timer would fire for heartbeats that are in the topic, unread.

One clock serves every rule of a process: the lateness is an argument of `watermark`, so every
rule reads the same event-time progress through its own lateness.

In a cluster, each process judges lateness by the events *it* reads (`observe`), and its timers
also `follow` the progress other processes report with the events they route to it. Judging an
event by another process's progress made in-order events late whenever that process had read
its own partitions of a backlog faster (bench figure 4: 4% of events).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

MIN_WATERMARK = -(1 << 62)
"""The watermark before any event was seen: nothing is late and no timer is due."""


class WatermarkClock:
    """Event-time progress of one process, optionally advanced by an injected wall clock.

    `now` returns seconds (e.g. `time.monotonic`); only differences between its readings matter.
    The clock keeps an anchor `(event time, wall time)`: the progress is
    `anchor event time + idle wall time since the anchor`, where idle excludes the `busy` spans.
    A new event moves the anchor only when its time is ahead of that progress, so the progress —
    and every watermark — is monotonic (idle time never decreases).
    """

    __slots__ = (
        "_anchor_at",
        "_anchor_ts",
        "_busy_depth",
        "_busy_from",
        "_busy_s",
        "_high",
        "_lock",
        "_max_ts",
        "_now",
        "_peer_ts",
    )

    def __init__(self, now: Callable[[], float] | None = time.monotonic) -> None:
        self._now = now
        self._max_ts: int | None = None
        self._anchor_ts: int | None = None
        self._anchor_at = 0.0
        self._busy_s = 0.0  # closed busy time since the anchor
        self._busy_depth = 0  # workers (threads) inside `busy` now
        self._busy_from = 0.0  # since when, while _busy_depth > 0
        self._high = MIN_WATERMARK  # the highest progress reported
        self._peer_ts: int | None = None  # the largest event time other processes reported
        self._lock = threading.Lock()

    @property
    def live(self) -> bool:
        """True when the watermark advances with wall-clock time."""
        return self._now is not None

    @property
    def max_ts_ms(self) -> int | None:
        """The largest event time observed or followed (None before the first one)."""
        if self._peer_ts is None or (self._max_ts is not None and self._max_ts >= self._peer_ts):
            return self._max_ts
        return self._peer_ts

    def follow(self, ts_ms: int | None) -> None:
        """Record another process's event-time progress: it moves timers, never lateness."""
        if ts_ms is not None and (self._peer_ts is None or ts_ms > self._peer_ts):
            self._peer_ts = ts_ms

    def observe(self, ts_ms: int) -> None:
        """Record an event time; only a new maximum can move the watermark."""
        if self._max_ts is not None and ts_ms <= self._max_ts:
            return
        with self._lock:
            if self._max_ts is not None and ts_ms <= self._max_ts:
                return
            self._max_ts = ts_ms
            if self._now is None:
                self._anchor_ts = ts_ms
                return
            at = self._now()
            if self._anchor_ts is None or ts_ms >= self._progress(at):
                self._anchor_ts, self._anchor_at, self._busy_s = ts_ms, at, 0.0
                if self._busy_depth:
                    self._busy_from = at

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
                    self._busy_s += self._now() - self._busy_from

    def _progress(self, at: float) -> int:
        assert self._anchor_ts is not None
        if self._now is None:
            return self._anchor_ts
        busy = self._busy_s + (at - self._busy_from if self._busy_depth else 0.0)
        progress = self._anchor_ts + max(0, int((at - self._anchor_at - busy) * 1000))
        if progress < self._high:  # float rounding of the busy sums must not step back a millisecond
            return self._high
        self._high = progress
        return progress

    def progress_ms(self) -> int:
        """Input progress of this process — what lateness is judged by: the max event time
        observed, plus idle wall-clock time when live.
        """
        if self._anchor_ts is None:
            return MIN_WATERMARK
        return self._progress(self._now() if self._now is not None else 0.0)

    def watermark(self, lateness_ms: int) -> int:
        """Timers up to this are due: the input progress (or the followed one, when ahead) minus
        `lateness_ms`.
        """
        if self._anchor_ts is None and self._peer_ts is None:
            return MIN_WATERMARK
        progress = self.progress_ms()
        if self._peer_ts is not None and self._peer_ts > progress:
            progress = self._peer_ts
        return progress - lateness_ms
