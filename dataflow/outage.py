"""Outages are waited out, not fatal (issue 12): back off, log, count, try again.

With PostgreSQL stopped for 20 s the engine used to exit on the first failed write, and nothing
restarted it. Now the code that writes to a dependency calls `DependencyWatch.failed` on an
outage error and tries again; the work pauses (the action sink's backpressure holds the dataflow),
and resumes when the dependency answers. `cepflow_dependency_up{dependency}` shows it is down,
`cepflow_outage_retries_total{dependency}` how often the engine waited.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from dataflow.metrics import DEPENDENCY_UP, OUTAGE_RETRIES

log = logging.getLogger(__name__)
T = TypeVar("T")

BASE_S = 0.2
MAX_S = 5.0
"""Backoff between tries: doubles from `BASE_S` up to `MAX_S` (with jitter), for as long as it takes."""


class DependencyWatch:
    """The state of one dependency in this process: down since when, how long to wait next.

    Thread-safe: all action threads share one watch per dependency, so one outage is logged once
    (and every 30 s while it lasts), not once per thread and try.
    """

    def __init__(self, dependency: str, sleep: Callable[[float], None] = time.sleep) -> None:
        self.dependency = dependency
        self._sleep = sleep
        self._lock = threading.Lock()
        self._down_since: float | None = None
        self._down_before = 0.0  # seconds down in the outages that ended
        self._last_log = 0.0
        self._tries = 0
        DEPENDENCY_UP.labels(dependency).set(1)

    @property
    def down(self) -> bool:
        return self._down_since is not None

    def down_s(self) -> float:
        """Seconds this dependency has been down in this process so far (outages overlap for no
        one: every thread waiting out one outage adds its duration once). A difference of two
        readings is the outage time between them.
        """
        with self._lock:
            since = self._down_since
            return self._down_before + (0.0 if since is None else time.monotonic() - since)

    def failed(self, reason: str) -> None:
        """The dependency did not answer: record it, then sleep before the caller tries again."""
        now = time.monotonic()
        with self._lock:
            if self._down_since is None:
                self._down_since, self._last_log, self._tries = now, 0.0, 0
            self._tries += 1
            tries, since = self._tries, self._down_since
            if now - self._last_log >= 30:
                self._last_log = now
                log.warning("%s unavailable for %.1f s (try %d), waiting: %s", self.dependency, now - since, tries,
                            reason.splitlines()[0][:300])
        DEPENDENCY_UP.labels(self.dependency).set(0)
        OUTAGE_RETRIES.labels(self.dependency).inc()
        self._sleep(random.uniform(0.5, 1.0) * min(MAX_S, BASE_S * 2 ** min(tries - 1, 10)))

    def ok(self) -> None:
        """The dependency answered: the outage, if any, is over."""
        if self._down_since is None:
            return
        with self._lock:
            if self._down_since is None:
                return
            lasted = time.monotonic() - self._down_since
            log.warning("%s is back after %.1f s", self.dependency, lasted)
            self._down_before += lasted
            self._down_since = None
        DEPENDENCY_UP.labels(self.dependency).set(1)

    def call(self, work: Callable[[], T], is_outage: Callable[[BaseException], bool]) -> T:
        """`work()`, tried again after each outage error until it returns; other errors raise."""
        while True:
            try:
                result = work()
            except Exception as exc:
                if not is_outage(exc):
                    raise
                self.failed(f"{type(exc).__name__}: {exc}")
                continue
            self.ok()
            return result


_watches: dict[str, DependencyWatch] = {}
_watches_lock = threading.Lock()


def watch(dependency: str) -> DependencyWatch:
    """The one watch of `dependency` (`postgresql`, `kafka`) in this process."""
    with _watches_lock:
        if dependency not in _watches:
            _watches[dependency] = DependencyWatch(dependency)
        return _watches[dependency]
