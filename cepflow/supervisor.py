"""`cepflow run` keeps the engine running: a crashed engine process is started again, with backoff.

The engine waits outages out itself (`dataflow/outage.py`); this loop is for what still ends the
process — a bug, a fatal Kafka error, the OOM killer. Restarting is safe by design: Bytewax
resumes from its last snapshot and the execution log's idempotency keys skip what was done.
A stop (SIGINT/SIGTERM to `cepflow run`) is passed to the engine and ends the loop.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from types import FrameType

log = logging.getLogger(__name__)

MAX_BACKOFF_S = 30.0
HEALTHY_AFTER_S = 60.0
"""A run at least this long resets the backoff: the next crash is restarted after 1 s again."""


def backoff_s(failures: int) -> float:
    """Seconds before restart number `failures` in a row: 1, 2, 4, ... up to `MAX_BACKOFF_S`."""
    return min(MAX_BACKOFF_S, 2.0 ** (failures - 1))


def supervise(
    args: Sequence[str],
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    max_restarts: int | None = None,
) -> int:
    """Run `args` until it exits 0 or is stopped; restart it after any other exit.

    Returns the last exit code. `max_restarts` bounds the loop (tests); None never gives up.
    """
    stopping = False
    child: subprocess.Popen[bytes] | None = None

    def forward(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        if child is not None and child.poll() is None:
            child.send_signal(signum)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
    failures = restarts = 0
    try:
        while True:
            started = clock()
            child = subprocess.Popen(list(args))
            code = child.wait()
            if stopping or code == 0:
                return code
            if max_restarts is not None and restarts >= max_restarts:
                return code
            failures = 1 if clock() - started >= HEALTHY_AFTER_S else failures + 1
            delay = backoff_s(failures)
            log.error("engine exited with code %s; restarting in %.0f s (failure %d in a row)", code, delay, failures)
            sleep(delay)
            if stopping:
                return code
            restarts += 1
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
