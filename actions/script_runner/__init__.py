"""Runs stored script APIs outside the engine's process, with limits (RULES.md §6).

Design (the engine side; the process side is described in `child.py`):

* Every run gets a fresh *supervisor* process (`child.py`), in its own session and process group,
  with a minimal environment (the engine's environment holds secrets: database URL, signing keys)
  and no inherited descriptors. The supervisor forks the *worker*, which puts the run in
  namespaces of its own (`sandbox.py`: pid, mount, network, IPC, UTS, and a user namespace when the
  engine is not root) where the script runs under CPU, memory, process-count, open-file and
  file-size limits, as a per-run unprivileged uid when we are root, with no capability left
  otherwise. The supervisor kills every process the script started before it answers. A
  supervisor never runs two jobs, so nothing leaks from one run to the next.
* Isolation or nothing: a supervisor whose sandbox cannot be set up says why at boot, and the
  runner then refuses every run with that reason (`refusal`, logged once as an error);
  `isolation_problem()` asks the same question at the engine's start (`cepflow run`).
* A cold `python` start costs 50-250 ms (more on a busy host), so `warm` supervisors are kept ready
  by one background thread: booted, with their worker forked, they have written a ready byte and
  block reading their job. `run()` takes one, sends the job (orjson) and waits for the answer: a
  trivial script costs a few pipe round trips, a few milliseconds. Taking one wakes the thread to
  start its replacement, which begins as soon as no run is in progress or `REFILL_DELAY_S` (20 ms)
  after the latest run started, whichever comes first: forking while a short run is executing
  steals the CPU it needs (measured on 2 busy cores: p50 13 ms with an immediate replacement, 4-5
  ms deferred), and a long run gets its replacement 20 ms in. A run that finds no warm supervisor
  (a burst larger than `warm`) gets one forked on demand, in milliseconds (next point).
* Replacements come from a *zygote* (fork server, `child.zygote`): one interpreter booted once,
  imports done, that forks a fresh supervisor on request (~2 ms instead of ~100 ms of CPU for an
  interpreter start). So a burst of runs larger than `warm` waits milliseconds, not a cold start,
  and the replacements do not steal the CPU the runs need. If the zygote cannot be used (it died,
  did not boot), supervisors are started cold with `subprocess`; with `warm=0` (one-off runs, the
  CLI) every run starts one cold and no zygote is kept. `stats()` counts both.
* The supervisor enforces the wall-clock timeout itself (so the logs printed so far are kept). If it
  does not answer within the timeout plus `GRACE_S`, its whole process group is SIGKILLed, and, as
  root, every process of its sandbox uid too (`kill -KILL -1` run as that uid).
* `run()` never raises for anything a script does; the outcome is in `ScriptResult.exit_status`:
  ``ok``, ``error`` (exception, syntax error, missing `main`, `sys.exit`/`os._exit`, output not
  JSON-serialisable or too large), ``timeout`` (wall clock), ``memory`` (MemoryError under the
  address-space limit), ``cpu`` (CPU-time limit, SIGXCPU), ``killed`` (another signal, e.g. the
  kernel OOM killer or the CPU hard limit) or ``runner_error`` (the runner itself could not run it).

What a script can reach (docs/SECURITY.md has the whole picture):

* Its own pid namespace and a fresh /proc: it sees its init (pid 1) and its own processes, never
  the engine's (no /proc/<engine>/environ, nothing to signal or ptrace).
* A read-only view of the system directories and the interpreter (`sandbox.SYSTEM_PATHS`), not the
  project, its recovery folder, secrets or the host's /tmp; a private 64 MB tmpfs on /tmp,
  /var/tmp and /dev/shm, gone with the run.
* No network: a network namespace whose loopback is down. `network: true` is refused by
  `actions.api_script` (public-only egress is not enforceable here yet).
* `memory_mb` bounds address space (RLIMIT_AS, ~35 MB of it the interpreter), not resident
  memory; kernel memory it can pin besides is bounded by the other limits: the /tmp size, and
  pipe buffers by `max_open_files` x `max_processes` x 64 KiB (1 MiB each at most, within the
  kernel's per-user budget fs.pipe-user-pages-soft).
* Not root, RLIMIT_NPROC counts the tasks of the run's user namespace (Linux >= 5.14): the worker,
  init and the script's own.
* Supervisors forked by the zygote share its str hash seed (`random` is reseeded per run).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import queue
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

__all__ = ["ScriptLimits", "ScriptResult", "ScriptRunner", "isolation_problem"]

log = logging.getLogger(__name__)

CHILD = str(Path(__file__).with_name("child.py"))
ORJSON_DIR = str(Path(orjson.__file__).resolve().parent.parent)
REAP_TIMEOUT_S = 10.0  # an answered supervisor reaps and cleans up for at most ~4 s
REFILL_DELAY_S = 0.02  # a replacement waits this long for a just-started run to answer
CLOSE_TIMEOUT_S = 2.0  # close(): idle supervisors told to exit get this long to clean up
GRACE_S = 2.0  # beyond the script's timeout, before the supervisor itself is killed
BOOT_TIMEOUT_S = 60.0  # a cold interpreter start on a cold disk cache can take many seconds
FORK_TIMEOUT_S = 10.0  # the zygote forks a supervisor that is ready in milliseconds
SANDBOX_UID_BASE = 2_000_000_000  # same as child.SANDBOX_UID_BASE: the sandbox uid is this + pid
SANDBOX_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    # glibc reserves 64 MB of address space per thread arena: keep threads within RLIMIT_AS.
    "MALLOC_ARENA_MAX": "2",
}


@dataclass(frozen=True)
class ScriptLimits:
    """Limits of one run; `cpu_s` defaults to the wall-clock timeout rounded up, plus one.

    `memory_mb` bounds the worker's address space (RLIMIT_AS), interpreter included (~35 MB of
    it), and the run's private /tmp; `max_processes` the processes and threads of the run;
    `max_output_bytes` the kept log bytes, the serialised output and each file the script writes;
    `max_open_files` the descriptors of each process (and so the pipe buffers it can hold).
    """

    timeout_s: float = 5.0
    memory_mb: int = 256
    cpu_s: int | None = None
    max_processes: int = 16
    max_output_bytes: int = 1_000_000
    max_open_files: int = 64

    def __post_init__(self) -> None:
        if not self.timeout_s > 0:
            msg = f"timeout_s must be positive, not {self.timeout_s!r}"
            raise ValueError(msg)
        for name in ("memory_mb", "max_processes", "max_output_bytes", "max_open_files"):
            if getattr(self, name) < 1:
                msg = f"{name} must be at least 1, not {getattr(self, name)!r}"
                raise ValueError(msg)
        if self.cpu_s is not None and self.cpu_s < 1:
            msg = f"cpu_s must be at least 1, not {self.cpu_s!r}"
            raise ValueError(msg)

    @property
    def effective_cpu_s(self) -> int:
        return self.cpu_s if self.cpu_s is not None else math.ceil(self.timeout_s) + 1

    def to_job(self) -> dict[str, Any]:
        return {"timeout_s": self.timeout_s, "memory_mb": self.memory_mb, "cpu_s": self.effective_cpu_s,
                "max_processes": self.max_processes, "max_output_bytes": self.max_output_bytes,
                "max_open_files": self.max_open_files}


@dataclass(frozen=True)
class ScriptResult:
    """`{output, logs}` of a run and how it ended (`exit_status`, see the module docstring)."""

    ok: bool
    output: Any
    logs: list[str] = field(default_factory=list)
    exit_status: str = "ok"
    error: str | None = None
    duration_ms: float = 0.0

    @property
    def references(self) -> dict[str, Any]:
        return {"duration_ms": self.duration_ms, "exit_status": self.exit_status}


class _RunnerError(Exception):
    """The runner could not start or talk to a supervisor."""


class _IsolationUnavailable(_RunnerError):
    """The deployment cannot sandbox scripts (child.py says why): scripts are refused."""


ISOLATION_MARKER = "script isolation unavailable:"  # how child.py starts that reason


class ScriptRunner:
    """Runs scripts in sandboxed processes. Thread-safe; one per engine process; `close()` it.

    `warm`: supervisors kept ready (0: none, and no zygote: every run starts one cold, fine for a
    one-off run). `python`: the interpreter for the supervisors (the engine's by default); it needs
    orjson for its version, found next to the engine's.
    """

    def __init__(self, warm: int = 1, python: str = sys.executable) -> None:
        self._python = python
        self._target = max(0, int(warm))
        self._cond = threading.Condition()
        self._pool: list[_Process] = []
        self._closed = False
        self._stats = {"runs": 0, "forked": 0, "cold_starts": 0, "waited_for_warm": 0, "spawn_failures": 0}
        self._kill_binary = shutil.which("kill", path=SANDBOX_ENV["PATH"])
        self._zygote: _Zygote | None = None
        self._zygote_lock = threading.Lock()
        self._zygote_failures = 0
        self._in_flight = 0
        self._last_start = 0.0
        self._thread: threading.Thread | None = None
        self._refusal: str | None = None
        if self._target:
            self._thread = threading.Thread(target=self._keep_warm, name="script-runner-warm", daemon=True)
            self._thread.start()

    # ------------------------------------------------------------------ public

    def run(self, source: str, params: dict[str, Any], input: Any, context: dict[str, Any],
            limits: ScriptLimits) -> ScriptResult:
        """Run `main(params, input, context)` of `source`; never raises for script problems."""
        started = time.perf_counter()
        if self._refusal is not None:
            return _failed(started, "runner_error", self._refusal)
        try:
            job = orjson.dumps({"source": source, "params": params, "input": input, "context": context,
                                "limits": limits.to_job()}, default=str, option=orjson.OPT_NON_STR_KEYS)
        except (TypeError, orjson.JSONEncodeError) as exc:
            return _failed(started, "error", f"params, input or context are not JSON-serialisable: {exc}")
        with self._cond:
            self._stats["runs"] += 1
            self._in_flight += 1
            self._last_start = time.monotonic()
        try:
            return self._run(job, limits, started)
        finally:
            with self._cond:
                self._in_flight -= 1
                self._cond.notify_all()  # a deferred replacement may start now

    def _run(self, job: bytes, limits: ScriptLimits, started: float) -> ScriptResult:
        proc = None
        for _ in range(2):  # a warm supervisor found dead when sent the job: try once more
            try:
                proc = self._take()
            except _IsolationUnavailable as exc:
                self._refuse(str(exc))
                return _failed(started, "runner_error", str(exc))
            except (_RunnerError, OSError) as exc:  # OSError: out of descriptors, processes...
                return _failed(started, "runner_error", str(exc))
            try:
                proc.send(job)
                break
            except OSError:
                proc.kill()
                proc = None
        if proc is None:
            return _failed(started, "runner_error", "the script runner process died before taking the job")
        raw, answered = b"", False
        try:
            raw, answered = proc.receive(limits.timeout_s + GRACE_S)
        finally:
            if answered:  # it reaps what the script left and exits: don't wait for that
                _REAPER.put(proc)
            else:
                self._kill_sandbox(proc)
                proc.kill()
        if not answered:
            return _failed(started, "timeout", f"the script timed out after {limits.timeout_s:g} s "
                                               "(its runner did not answer and was killed)")
        try:
            data = orjson.loads(raw)
            return ScriptResult(
                ok=bool(data["ok"]),
                output=data.get("output"),
                logs=[str(line) for line in data.get("logs") or []],
                exit_status=str(data["exit_status"]),
                error=data.get("error"),
                duration_ms=(time.perf_counter() - started) * 1000,
            )
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return _failed(started, "runner_error", "the script runner died without a result")

    def wait_warm(self, timeout: float = BOOT_TIMEOUT_S) -> bool:
        """Block until `warm` supervisors are ready (engine start-up, tests); False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self._pool) < self._target and not self._closed and self._refusal is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return not self._closed and self._refusal is None

    @property
    def refusal(self) -> str | None:
        """Why scripts are refused (this deployment cannot isolate them), or None."""
        return self._refusal

    def _refuse(self, reason: str) -> None:
        with self._cond:
            first, self._refusal = self._refusal is None, reason
            self._cond.notify_all()
        if first:
            log.error("script runner: %s", reason)

    def stats(self) -> dict[str, int]:
        """Counters: runs; supervisors `forked` by the zygote or started cold (`cold_starts`);
        runs that found no warm supervisor ready (`waited_for_warm`); `spawn_failures`; `warm`
        (ready now).
        """
        with self._cond:
            return {**self._stats, "warm": len(self._pool)}

    def close(self) -> None:
        """Stop the warm supervisors (told to exit, killed after `CLOSE_TIMEOUT_S`) and the zygote;
        start no more. Runs in progress finish; later runs fail with `runner_error`.
        """
        with self._cond:
            self._closed = True
            pool, self._pool = self._pool, []
            self._cond.notify_all()
        for proc in pool:  # EOF instead of a job: they clean up (working directory) and exit
            proc.close_stdin()
        deadline = time.monotonic() + CLOSE_TIMEOUT_S
        for proc in pool:
            proc.wait(max(0.0, deadline - time.monotonic()))
            proc.kill()
        with self._zygote_lock:
            if self._zygote is not None:
                self._zygote.close()
                self._zygote = None
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(1.0)

    def __enter__(self) -> ScriptRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------- private

    def _new_supervisor(self) -> _Process:
        """A booted supervisor: forked by the zygote when we keep one, else started cold."""
        if self._target:
            with self._zygote_lock:
                if not self._closed and self._zygote_failures < 3:
                    try:
                        if self._zygote is None or not self._zygote.alive():
                            if self._zygote is not None:
                                self._zygote.close()
                            self._zygote = _Zygote(self._python)
                        proc = self._zygote.fork()
                        self._zygote_failures = 0
                        with self._cond:
                            self._stats["forked"] += 1
                        return proc
                    except _IsolationUnavailable:
                        raise
                    except (_RunnerError, OSError) as exc:
                        self._zygote_failures += 1
                        log.warning("script runner: zygote failed, starting supervisors cold: %s", exc)
                        if self._zygote is not None:
                            self._zygote.close()
                            self._zygote = None
        with self._cond:
            self._stats["cold_starts"] += 1
        return _Process.start(self._python)

    def _take(self) -> _Process:
        with self._cond:
            if self._closed:
                msg = "the script runner is closed"
                raise _RunnerError(msg)
            proc, dead = None, []
            while self._pool:
                candidate = self._pool.pop(0)
                if candidate.alive():
                    proc = candidate
                    break
                dead.append(candidate)
            self._cond.notify_all()  # the warm-keeping thread starts the replacement (see _keep_warm)
            if proc is None and self._target:
                self._stats["waited_for_warm"] += 1
        for candidate in dead:
            candidate.kill()
        return proc if proc is not None else self._new_supervisor()

    def _keep_warm(self) -> None:
        failures = 0
        while True:
            with self._cond:
                while not self._closed and self._refusal is None:
                    if len(self._pool) >= self._target:
                        self._cond.wait()
                        continue
                    quiet_s = time.monotonic() - self._last_start
                    if self._in_flight and quiet_s < REFILL_DELAY_S:
                        self._cond.wait(REFILL_DELAY_S - quiet_s)  # let a short run finish first
                        continue
                    break
                if self._closed or self._refusal is not None:
                    return
            try:
                proc = self._new_supervisor()
            except _IsolationUnavailable as exc:
                self._refuse(str(exc))
                return
            except Exception as exc:
                failures += 1
                with self._cond:
                    self._stats["spawn_failures"] += 1
                    log.warning("script runner: %s (retrying)", exc)
                    self._cond.wait(min(30.0, 0.5 * 2**failures))
                continue
            failures = 0
            with self._cond:
                if self._closed:
                    proc.close_stdin()  # no job: it cleans up and exits
                    _REAPER.put(proc)
                    return
                self._pool.append(proc)
                self._cond.notify_all()

    def _kill_sandbox(self, proc: _Process) -> None:
        """The supervisor hangs: kill every process of its sandbox uid, wherever it is."""
        if os.geteuid() != 0 or self._kill_binary is None:
            return
        uid = SANDBOX_UID_BASE + proc.pid
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            subprocess.run([self._kill_binary, "-s", "KILL", "--", "-1"], user=uid, group=uid,
                           extra_groups=[], env=SANDBOX_ENV, stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=5, check=False)


def isolation_problem(python: str = sys.executable) -> str | None:
    """Why this deployment cannot run scripts isolated (RULES.md §6), or None when it can: boots
    one supervisor, which sets up a sandbox, and stops it. For the engine's start-up (~0.1 s).
    """
    try:
        proc = _Process.start(python)
    except _IsolationUnavailable as exc:
        return str(exc)
    except _RunnerError:
        return None  # not an isolation problem: runs report it themselves
    proc.close_stdin()  # no job: it cleans up and exits
    _REAPER.put(proc)
    return None


def _readable(fd: int, timeout: float) -> bool:
    """poll(2) rather than select(2): the engine may hold more than FD_SETSIZE descriptors."""
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLPRI)
    return bool(poller.poll(max(0, math.ceil(timeout * 1000))))


def _failed(started: float, exit_status: str, error: str) -> ScriptResult:
    return ScriptResult(False, None, [], exit_status, error, (time.perf_counter() - started) * 1000)


class _Process:
    """A supervisor (or the zygote): its pid, a pidfd to follow it, and its job and answer pipes.

    Started cold it is our child (`popen`, reaped by us); forked by the zygote it is not (the kernel
    reaps it for the zygote, which ignores SIGCHLD), so its exit is followed through the pidfd, and
    it is killed through the pidfd too, which cannot hit another process that reused the pid.
    """

    def __init__(self, pid: int, stdin: int, stdout: int, popen: subprocess.Popen[bytes] | None = None) -> None:
        self.pid = pid
        self.stdin = stdin
        self.stdout = stdout
        self.popen = popen
        try:
            self.pidfd = os.pidfd_open(pid)
        except OSError:  # it is gone already
            self.pidfd = -1
        self._lock = threading.Lock()

    @classmethod
    def start(cls, python: str, *args: str, job_pipe: bool = True, pass_fds: tuple[int, ...] = (),
              timeout: float = BOOT_TIMEOUT_S) -> _Process:
        """Start `child.py` cold and wait for its ready byte; raises _RunnerError."""
        try:
            popen = subprocess.Popen(
                [python, "-I", "-S", CHILD, ORJSON_DIR, *args],
                stdin=subprocess.PIPE if job_pipe else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
                close_fds=True,
                pass_fds=pass_fds,
                env=SANDBOX_ENV,
                cwd="/",
            )
        except OSError as exc:
            msg = f"cannot start the script runner ({python}): {exc}"
            raise _RunnerError(msg) from exc
        assert popen.stdout is not None
        stdin = os.dup(popen.stdin.fileno()) if popen.stdin is not None else -1
        proc = cls(popen.pid, stdin, os.dup(popen.stdout.fileno()), popen)
        for pipe in (popen.stdin, popen.stdout):
            if pipe is not None:
                pipe.close()
        proc.wait_ready(timeout)
        return proc

    def alive(self) -> bool:
        if self.pidfd < 0:
            return False
        return not _readable(self.pidfd, 0)

    def wait_ready(self, timeout: float) -> None:
        """Read the ready byte: b"R", or b"E" and why it cannot serve. Kills it on failure."""
        try:
            ready = _readable(self.stdout, timeout)
            first = os.read(self.stdout, 1) if ready else b""
        except OSError as exc:
            self.kill()
            msg = f"the script runner failed to start: {exc}"
            raise _RunnerError(msg) from exc
        if first == b"R":
            return
        detail = "it did not start in time" if not ready else "it exited"
        if first == b"E":
            rest, _ = self.receive(5.0)
            detail = rest.decode(errors="replace").strip()
        self.kill()
        if detail.startswith(ISOLATION_MARKER):
            msg_0 = f"scripts are refused: {detail}"
            raise _IsolationUnavailable(msg_0)
        msg_0 = f"the script runner failed to start: {detail}"
        raise _RunnerError(msg_0)

    def send(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self.stdin, view):]
        self.close_stdin()

    def close_stdin(self) -> None:
        self._close_fd("stdin")

    def receive(self, timeout: float) -> tuple[bytes, bool]:
        """Everything it writes until EOF; (bytes, False) if the timeout passed first."""
        deadline = time.monotonic() + timeout
        chunks: list[bytes] = []
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return b"".join(chunks), False
            if _readable(self.stdout, left):
                chunk = os.read(self.stdout, 1 << 20)
                if not chunk:
                    return b"".join(chunks), True
                chunks.append(chunk)

    def wait(self, timeout: float) -> bool:
        """True once it has exited (and, our child, been reaped)."""
        if self.popen is not None:
            try:
                self.popen.wait(timeout)
                return True
            except subprocess.TimeoutExpired:
                return False
        return self.pidfd < 0 or _readable(self.pidfd, timeout)

    def kill(self) -> None:
        """SIGKILL its whole process group (while it lives: the group id is its pid), reap, close."""
        if self.alive():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError, PermissionError, OSError):
                signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)
        self.wait(5.0)
        for name in ("stdin", "stdout", "pidfd"):
            self._close_fd(name)

    def _close_fd(self, name: str) -> None:
        with self._lock:
            fd = getattr(self, name)
            setattr(self, name, -1)
        if fd >= 0:
            with contextlib.suppress(OSError):
                os.close(fd)


class _Zygote:
    """The fork server (`child.zygote`): one booted interpreter that forks fresh supervisors."""

    def __init__(self, python: str) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self._proc = _Process.start(python, "--zygote", str(theirs.fileno()), job_pipe=False,
                                        pass_fds=(theirs.fileno(),))
        finally:
            theirs.close()
        ours.settimeout(FORK_TIMEOUT_S)
        self._sock = ours

    def alive(self) -> bool:
        return self._proc.alive()

    def fork(self) -> _Process:
        """A new supervisor, booted (callers serialise: one request at a time)."""
        job_r, job_w = os.pipe()
        answer_r, answer_w = os.pipe()
        try:
            socket.send_fds(self._sock, [b"F"], [job_r, answer_w])
            reply = b""
            while len(reply) < 8:
                chunk = self._sock.recv(8 - len(reply))
                if not chunk:
                    msg = "the zygote exited"
                    raise _RunnerError(msg)
                reply += chunk
        except OSError as exc:  # socket.timeout included
            for fd in (job_w, answer_r):
                os.close(fd)
            msg = f"the zygote did not fork: {exc}"
            raise _RunnerError(msg) from exc
        except BaseException:
            for fd in (job_w, answer_r):
                os.close(fd)
            raise
        finally:
            os.close(job_r)
            os.close(answer_w)
        (pid,) = struct.unpack("!q", reply)
        if pid <= 0:
            for fd in (job_w, answer_r):
                os.close(fd)
            msg = "the zygote refused the request"
            raise _RunnerError(msg)
        proc = _Process(pid, job_w, answer_r)
        proc.wait_ready(FORK_TIMEOUT_S)
        return proc

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.close()
        self._proc.kill()


class _Reaper:
    """Waits for answered supervisors to finish their clean-up and exit, off the latency path;
    kills the process group of one that takes longer than `REAP_TIMEOUT_S`.
    """

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[_Process] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def put(self, proc: _Process) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="script-runner-reaper", daemon=True)
                self._thread.start()
        self._queue.put(proc)

    def _loop(self) -> None:
        while True:
            proc = self._queue.get()
            try:
                if not proc.wait(REAP_TIMEOUT_S):
                    log.warning("script runner: supervisor %s did not exit after answering; killed", proc.pid)
                proc.kill()
            except Exception:
                log.exception("script runner: reaping supervisor %s failed", proc.pid)


_REAPER = _Reaper()
