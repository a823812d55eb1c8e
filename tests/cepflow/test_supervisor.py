"""`cepflow run`'s supervisor: a crashed engine is started again, with backoff; a stop is final."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path

from cepflow.supervisor import MAX_BACKOFF_S, backoff_s, supervise


def crashing_twice(counter: Path) -> list[str]:
    """A child that exits 3 on its first two runs and 0 on the third (runs counted in `counter`)."""
    code = (f"import pathlib, sys; p = pathlib.Path({str(counter)!r}); n = int(p.read_text() or 0) + 1 "
            "if p.exists() else 1; p.write_text(str(n)); sys.exit(3 if n < 3 else 0)")
    return [sys.executable, "-c", code]


def test_a_crashed_engine_is_restarted_with_growing_backoff(tmp_path: Path) -> None:
    counter = tmp_path / "runs"
    waits: list[float] = []
    assert supervise(crashing_twice(counter), sleep=waits.append) == 0
    assert counter.read_text() == "3"
    assert waits == [1.0, 2.0]


def test_backoff_is_capped() -> None:
    assert [backoff_s(n) for n in (1, 2, 3)] == [1.0, 2.0, 4.0]
    assert backoff_s(50) == MAX_BACKOFF_S


def test_max_restarts_bounds_the_loop(tmp_path: Path) -> None:
    waits: list[float] = []
    assert supervise([sys.executable, "-c", "raise SystemExit(7)"], sleep=waits.append, max_restarts=2) == 7
    assert len(waits) == 2


def test_a_stop_signal_reaches_the_engine_and_is_not_restarted(tmp_path: Path) -> None:
    started = tmp_path / "started"
    child = [sys.executable, "-c",
             f"import pathlib, time; pathlib.Path({str(started)!r}).touch(); time.sleep(60)"]
    threading.Thread(target=lambda: (_wait_for(started), os.kill(os.getpid(), signal.SIGTERM)), daemon=True).start()
    began = time.monotonic()
    code = supervise(child, sleep=lambda _s: None)
    assert code == -signal.SIGTERM
    assert time.monotonic() - began < 30


def _wait_for(path: Path) -> None:
    deadline = time.monotonic() + 20
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
