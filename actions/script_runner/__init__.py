"""Runs stored script APIs outside the engine's process, with limits (RULES.md §6).

Each run gets a fresh supervisor process (`supervisor.py`) that forks the worker running the
script under CPU, memory, process-count and file-size limits, as an unprivileged user when we are
root, and kills every process the script left behind. A cold `python` start costs ~50–250 ms, so
`warm` supervisors are started ahead of time (imports done, blocked reading their job) and a
replacement is started in the background as soon as one is taken: a trivial script then costs a
fork and a few pipe round trips, milliseconds.

A supervisor never runs two jobs: no state leaks between runs. If the supervisor itself does not
answer within the timeout plus a grace period, its whole process group is killed.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SUPERVISOR = str(Path(__file__).with_name("supervisor.py"))
GRACE_S = 2.0


@dataclass(frozen=True)
class ScriptLimits:
    """Limits of one run; `cpu_s` defaults to the wall-clock timeout rounded up, plus one."""

    timeout_s: float = 5.0
    memory_mb: int = 256
    cpu_s: int | None = None
    max_processes: int = 16
    max_output_bytes: int = 1_000_000

    def to_job(self) -> dict[str, Any]:
        cpu = self.cpu_s if self.cpu_s is not None else math.ceil(self.timeout_s) + 1
        return {"timeout_s": self.timeout_s, "memory_mb": self.memory_mb, "cpu_s": cpu,
                "max_processes": self.max_processes, "max_output_bytes": self.max_output_bytes}


@dataclass(frozen=True)
class ScriptResult:
    """`{output, logs}` of a run, with how it ended: `ok`, `error`, `timeout`, `memory`, `killed`…"""

    ok: bool
    output: Any
    logs: list[str] = field(default_factory=list)
    exit_status: str = "ok"
    error: str | None = None
    duration_ms: float = 0.0


class ScriptRunner:
    """Thread-safe; one per engine process."""

    def __init__(self, warm: int = 1, python: str = sys.executable) -> None:
        self._python = python
        self._warm_target = warm
        self._lock = threading.Lock()
        self._warm: list[subprocess.Popen[bytes]] = []
        self._closed = False
        for _ in range(warm):
            self._warm.append(self._spawn())

    def _spawn(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [self._python, "-I", SUPERVISOR],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            close_fds=True,
        )

    def _refill(self) -> None:
        with self._lock:
            if self._closed or len(self._warm) >= self._warm_target:
                return
        proc = self._spawn()
        with self._lock:
            if self._closed:
                _kill_group(proc)
            else:
                self._warm.append(proc)

    def _take(self) -> subprocess.Popen[bytes]:
        with self._lock:
            proc = self._warm.pop() if self._warm else None
        if self._warm_target:
            threading.Thread(target=self._refill, daemon=True).start()
        return proc if proc is not None else self._spawn()

    def run(self, source: str, params: dict[str, Any], input: Any, context: dict[str, Any],  # noqa: A002
            limits: ScriptLimits) -> ScriptResult:
        """Run `main(params, input, context)` of `source`; never raises for script problems."""
        started = time.monotonic()
        try:
            job = json.dumps({"source": source, "params": params, "input": input, "context": context,
                              "limits": limits.to_job()}, default=str).encode()
        except (TypeError, ValueError) as exc:
            return ScriptResult(False, None, [], "error", f"params/input are not JSON-serialisable: {exc}")
        proc = self._take()
        try:
            out, _ = proc.communicate(job, timeout=limits.timeout_s + GRACE_S)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            elapsed = (time.monotonic() - started) * 1000
            return ScriptResult(False, None, [], "timeout", f"timed out after {limits.timeout_s} s", elapsed)
        finally:
            if proc.returncode is None:
                _kill_group(proc)
        elapsed = (time.monotonic() - started) * 1000
        try:
            raw = json.loads(out)
        except ValueError:
            return ScriptResult(False, None, [], "killed", f"the script runner died (exit {proc.returncode})", elapsed)
        return ScriptResult(raw["ok"], raw.get("output"), raw.get("logs", []), raw["exit_status"],
                            raw.get("error"), elapsed)

    def close(self) -> None:
        """Stop the warm supervisors."""
        with self._lock:
            self._closed = True
            warm, self._warm = self._warm, []
        for proc in warm:
            _kill_group(proc)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the supervisor's whole process group and reap it."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(5)
