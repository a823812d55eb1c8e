"""The event-time watermark (RULES.md §4): what time it is, as far as timers and lateness go.

The watermark is the largest event time seen minus a rule's allowed lateness. In live operation
(`now` given) it also advances with the wall-clock time elapsed since that largest event time was
seen, so timers (tumbling close, absence, an absent sequence step, `for`) fire on idle input.
Offline (`now=None`) it moves only with event time. It never goes backwards.

One clock serves every rule of a process: the lateness is an argument of `watermark`, so every
rule reads the same event-time progress through its own lateness.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

MIN_WATERMARK = -(1 << 62)
"""The watermark before any event was seen: nothing is late and no timer is due."""


class WatermarkClock:
    """Event-time progress of one process, optionally advanced by an injected wall clock.

    `now` returns seconds (e.g. `time.monotonic`); only differences between its readings matter.
    The clock keeps an anchor `(event time, wall time)`: the progress is
    `anchor event time + wall time elapsed since the anchor`. A new event moves the anchor only
    when its time is ahead of that progress, so the progress — and every watermark — is monotonic.
    """

    __slots__ = ("_now", "_max_ts", "_anchor_ts", "_anchor_at", "_lock")

    def __init__(self, now: Callable[[], float] | None = time.monotonic) -> None:
        self._now = now
        self._max_ts: int | None = None
        self._anchor_ts: int | None = None
        self._anchor_at = 0.0
        self._lock = threading.Lock()

    @property
    def live(self) -> bool:
        """True when the watermark advances with wall-clock time."""
        return self._now is not None

    @property
    def max_ts_ms(self) -> int | None:
        """The largest event time observed (None before the first one)."""
        return self._max_ts

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
                self._anchor_ts, self._anchor_at = ts_ms, at

    def _progress(self, at: float) -> int:
        assert self._anchor_ts is not None
        if self._now is None:
            return self._anchor_ts
        return self._anchor_ts + max(0, int((at - self._anchor_at) * 1000))

    def progress_ms(self) -> int:
        """Event-time progress: the max event time, plus idle wall-clock time when live."""
        if self._anchor_ts is None:
            return MIN_WATERMARK
        return self._progress(self._now() if self._now is not None else 0.0)

    def watermark(self, lateness_ms: int) -> int:
        """Progress minus `lateness_ms`; events older than this are late, timers up to it are due."""
        if self._anchor_ts is None:
            return MIN_WATERMARK
        return self.progress_ms() - lateness_ms
