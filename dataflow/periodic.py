"""A daemon thread that repeats one piece of work every period: the background refreshes of what
an engine process keeps from PostgreSQL (rules, script API definitions).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from storage.errors import is_outage

log = logging.getLogger(__name__)


class Periodic:
    """Runs `work` every `period_s` until `stop`. A failing run is logged and the next one tries
    again (the database may come back); what the work keeps stays in use meanwhile. An outage
    (`storage.errors.is_outage`) is logged in one line when it starts and when it ends, not with a
    traceback every period.
    """

    def __init__(self, name: str, period_s: float, work: Callable[[], None]) -> None:
        self._stop = threading.Event()
        self._period_s = period_s
        self._work = work
        self._started = threading.Lock()
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> threading.Thread:
        """Start the thread (once: later calls, from any thread, only return it)."""
        if self._started.acquire(blocking=False):
            self.thread.start()
        return self.thread

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        down = False
        while not self._stop.wait(self._period_s):
            try:
                self._work()
            except Exception as exc:
                if not is_outage(exc):
                    log.exception("%s: refresh failed; keeping what is in use", self.thread.name)
                elif not down:
                    down = True
                    log.warning("%s: database unavailable, keeping what is in use until it is back: %s",
                                self.thread.name, str(exc).splitlines()[0][:300])
                continue
            if down:
                down = False
                log.warning("%s: database back, refreshed", self.thread.name)
