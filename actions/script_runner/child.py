"""The out-of-process side of the script runner: one *supervisor* process per script run.

Started by `ScriptRunner` -- forked by the zygote (`zygote()` below, a fork server booted once
with `python -I -S <this file> <orjson dir> --zygote <socket fd>`) or, without one, started cold
as `python -I -S <this file> <orjson dir>` -- in a new session (its own process group), with a
minimal environment. At boot, before any job and so off the latency path, it makes itself a child
subreaper and forks the *worker*, which sets up the run's sandbox (`sandbox.py`): it unshares
its namespaces and forks their *init* (pid 1 of the new pid namespace), which builds the
file-system view and forks the *script process* (pid 2). That one points its stdout, stderr and
the `logging` root handler at one log pipe and blocks reading the job (orjson) from the runner's
pipe (fd 0) until EOF. Once the sandbox is ready (the `ready` pipe: b"R", or b"E" and why not) the
supervisor writes one ready byte on stdout and waits. With a job:

1. the script process tells the supervisor when it started and the limits (before any script code
   runs), sets the resource limits (address space, CPU seconds, processes, open files, file size,
   no core dumps), drops to the run's unprivileged uid/gid when we are root (RLIMIT_NPROC does not
   bind root) or drops every capability in its user namespace otherwise, sets no-new-privs and
   runs `main(params, input, context)`;
2. the supervisor reads the log pipe (keeping at most `max_output_bytes`) and the worker's result
   pipe (length-prefixed) until the result is complete, the worker exits, or the wall-clock
   deadline passes;
3. it SIGKILLs every process the script started (see `_kill_all`), collects the log bytes already
   written, writes one orjson result on stdout and closes it, and only then reaps the killed
   processes (they cannot run again: SIGKILL is already pending; without a uid of its own, killing
   and reaping both happen before the answer). The runner never reuses a supervisor.

Why a supervisor *and* a worker: the supervisor stays privileged and outside the limits, so it can
always enforce the timeout, drain the logs and clean up, whatever the script does to itself.

Why a per-run uid (`SANDBOX_UID_BASE + supervisor pid`, no passwd entry needed) instead of
`nobody`: RLIMIT_NPROC counts every process of the *real uid*, so with a shared `nobody`
concurrent runs (and any system daemon running as nobody) would eat each other's budget, and could
signal or ptrace each other. A uid of its own gives each run its own process budget, isolation from
the other runs, and a race-free way to kill everything it started: `kill(-1, SIGKILL)` issued with
that uid reaches exactly the sandbox's processes, even ones that called `setsid()` or were
reparented, and the kernel lets no fork complete concurrently with it. When not root, the run's
user namespace gives it a process budget of its own instead (RLIMIT_NPROC is counted per user
namespace), and the clean-up walks /proc for our descendants (reading parent links from
/proc/<pid>/stat: /proc/<pid>/task/<tid>/children needs CONFIG_PROC_CHILDREN, which some kernels
lack), repeating until no child is left. The subreaper bit keeps every orphan a descendant of the
supervisor, so "no child left" (ECHILD) means "nothing left"; and when the sandbox's init dies,
the kernel kills whatever is left in its pid namespace.

Imports: the standard library, orjson (its directory is the first argument; `-S` skips
site-packages and its .pth files, which cost ~30 ms of boot) and our sibling `sandbox`. Modules a
script is likely to import are imported here ahead of time, which saves each run their import
(the interpreter's own files are visible in the sandbox, read-only): `PRELOADED`.
"""

from __future__ import annotations

import ctypes
import io
import linecache
import logging
import os
import resource
import select
import signal
import struct
import sys
import time
import traceback

if len(sys.argv) > 1 and sys.argv[1] not in sys.path:
    sys.path.append(sys.argv[1])
sys.path.append(os.path.dirname(os.path.abspath(__file__)))  # for `sandbox`, our sibling

import orjson
import sandbox  # type: ignore[import-not-found]  # a sibling, found by path (the runner runs this file)

PRELOADED = (
    "base64", "binascii", "bisect", "calendar", "collections", "copy", "csv", "dataclasses", "datetime",
    "decimal", "email.message", "email.utils", "encodings.ascii", "encodings.idna", "encodings.latin_1",
    "enum", "fractions", "functools", "hashlib", "heapq", "hmac", "html", "http.client", "ipaddress",
    "itertools", "json", "math", "operator", "pprint", "random", "re", "secrets", "shlex", "socket",
    "ssl", "statistics", "string", "struct", "subprocess", "textwrap", "typing", "unicodedata",
    "urllib.error", "urllib.parse", "urllib.request", "uuid", "zoneinfo",
)

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38
PR_SET_DUMPABLE = 4
SANDBOX_UID_BASE = 2_000_000_000
SANDBOX_PARENTS = 2  # the worker and the sandbox's init: tasks of the run's user besides the script's
SANDBOX_READY_S = 10.0  # setting up the namespaces takes milliseconds
SCRIPT_DIR = "/tmp"  # the run's private tmpfs (see sandbox.py): working directory, HOME, TMPDIR
RESULT_SLACK = 64 * 1024  # result bytes allowed beyond max_output_bytes (status, error text)
MEMORY_RESERVE = 1 << 20  # freed on MemoryError so the worker can still report it
TRACEBACK_LINES = 12
LOG_FORMAT = "%(levelname)s %(name)s: %(message)s"

_libc = ctypes.CDLL(None, use_errno=True)


def _prctl(option: int, value: int) -> None:
    if _libc.prctl(option, value, 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def _sandbox_uid() -> int | None:
    """The uid/gid this run's script gets, or None when we cannot switch users (not root, or root
    in a user namespace without that uid): the run then gets a user namespace (sandbox.py).
    """
    if os.geteuid() != 0:
        return None
    uid = SANDBOX_UID_BASE + os.getpid()
    try:
        with open("/proc/self/uid_map") as handle:  # inside a user namespace, only mapped ids work
            mapped = any(int(lo) <= uid < int(lo) + int(n) for lo, _, n in (line.split() for line in handle))
    except OSError:
        mapped = True
    return uid if mapped else None


# --------------------------------------------------------------------------------------- worker


class _Failure(Exception):
    """A script failure already described: (exit_status, error)."""


def _describe(exc: BaseException) -> str:
    """`Type: message`, then the last lines of the traceback, runner frames left out."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
        tb = tb.tb_next
    lines = "".join(traceback.format_exception(type(exc), exc, tb)).rstrip().splitlines()
    head = traceback.format_exception_only(type(exc), exc)[-1].strip()
    return head + "\n" + "\n".join(lines[-TRACEBACK_LINES:])


def _limit(limits: dict, shared_tasks: int) -> None:
    """Set the run's limits; `shared_tasks`: tasks the run's user has besides the script's."""
    memory = int(limits["memory_mb"]) * 1024 * 1024
    cpu = int(limits["cpu_s"])
    nproc = int(limits["max_processes"]) + shared_tasks
    fsize = int(limits["max_output_bytes"])
    nofile = int(limits["max_open_files"])
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))  # also bounds its pipe buffers
    resource.setrlimit(resource.RLIMIT_MSGQUEUE, (0, 0))
    resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))


def _redirect_output(log_fd: int) -> None:
    """Fd 0 from /dev/null; fd 1 and 2 (print, logging, subprocesses) into the one log pipe."""
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    os.close(devnull)
    os.close(log_fd)

    def stream(fd: int) -> io.TextIOWrapper:
        raw = io.FileIO(fd, "w", closefd=False)
        return io.TextIOWrapper(io.BufferedWriter(raw), encoding="utf-8", errors="backslashreplace",
                                line_buffering=True)

    sys.stdout, sys.stderr = stream(1), stream(2)
    sys.__stdout__, sys.__stderr__ = sys.stdout, sys.stderr  # type: ignore[misc]  # the script sees only these
    root = logging.getLogger()
    for handler in root.handlers[:]:
        root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root.addHandler(handler)
    root.setLevel(logging.INFO)


def _execute(job: dict, max_output: int, reserve: bytearray) -> tuple[dict, bytes]:
    """Compile and call `main`; (status, output JSON). Runs under the limits, as the sandbox user."""
    source = job["source"]
    try:
        try:
            code = compile(source, "<script>", "exec")
        except SyntaxError as exc:
            where = f" (line {exc.lineno})" if exc.lineno else ""
            text = f"\n  {exc.text.rstrip()}" if exc.text else ""
            msg = "error"
            raise _Failure(msg, f"SyntaxError: {exc.msg}{where}{text}") from None
        linecache.cache["<script>"] = (len(source), None, source.splitlines(True), "<script>")
        scope: dict = {"__name__": "__script__", "__builtins__": __builtins__}
        exec(code, scope)
        main = scope.get("main")
        if not callable(main):
            msg = "error"
            raise _Failure(msg, "script defines no main(params, input, context)")
        output = main(job["params"], job["input"], job["context"])
        try:
            encoded = orjson.dumps(output, option=orjson.OPT_NON_STR_KEYS)
        except (TypeError, orjson.JSONEncodeError) as exc:
            msg = "error"
            raise _Failure(msg, f"output is not JSON-serialisable: {exc}") from None
        if len(encoded) > max_output:
            msg = "error"
            raise _Failure(msg, f"output is too large: {len(encoded)} bytes, the limit is {max_output}")
        return {"ok": True, "exit_status": "ok", "error": None}, encoded
    except _Failure as failure:
        status, error = failure.args
        return {"ok": False, "exit_status": status, "error": error}, b"null"
    except MemoryError as exc:
        reserve.clear()  # room to report it
        traceback.clear_frames(exc.__traceback__)  # let the script's objects go
        return {"ok": False, "exit_status": "memory",
                "error": f"MemoryError: the script exceeded its memory limit ({job['limits']['memory_mb']} MB"
                         f" of address space, ~{job['baseline_mb']} MB of it taken by the interpreter)"}, b"null"
    except SystemExit as exc:
        return {"ok": False, "exit_status": "error", "error": f"the script called sys.exit({exc.code!r})"}, b"null"
    except BaseException as exc:
        return {"ok": False, "exit_status": "error", "error": _describe(exc)}, b"null"


def _read_to_eof(fd: int) -> bytes:
    chunks: list[bytes] = []
    while True:
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def _write(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _exit_like(status: int) -> None:
    """End this process as init said the script ended: exit code N, or 128 + the signal number
    (see `_sandbox_init`; a script's own `os._exit(128 + N)` reads as signal N, harmlessly).
    """
    code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else 70
    if code > 128:
        sig = code - 128
        _prctl(PR_SET_DUMPABLE, 0)  # no core dump of ours
        signal.signal(sig, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, [sig])
        os.kill(os.getpid(), sig)
    os._exit(code)


def _report_setup_failure(ready_w: int, exc: BaseException) -> None:
    """Tell the supervisor why the sandbox could not be set up (it tells the runner)."""
    if isinstance(exc, sandbox.IsolationUnavailable):
        text = f"script isolation unavailable: {exc}"
    else:
        text = "script isolation unavailable: " + traceback.format_exc(limit=-3)
    try:
        _write(ready_w, b"E" + text.encode(errors="replace"))
    except BaseException:
        pass


def _sandbox_parent(uid: int | None, ready_w: int, pipes: tuple[int, int, int]) -> None:
    """The forked worker; never returns. Creates the run's namespaces (sandbox.py), forks their
    init and ends as it ends, so the supervisor sees the script's exit status or signal.
    """
    try:
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # the supervisor dies (killed while idle): go too
        devnull = os.open(os.devnull, os.O_WRONLY)  # fd 1 is the runner's answer pipe: holding it
        os.dup2(devnull, 1)  # would delay its EOF (the answer) until this process has exited
        os.close(devnull)
        sandbox.unshare(user_namespace=uid is None)
        pid = os.fork()
        if pid == 0:
            _sandbox_init(uid, ready_w, pipes)
        for fd in (0, ready_w, *pipes):
            os.close(fd)
        _exit_like(os.waitpid(pid, 0)[1])
    except BaseException as exc:
        _report_setup_failure(ready_w, exc)
    finally:
        os._exit(70)


def _sandbox_init(uid: int | None, ready_w: int, pipes: tuple[int, int, int]) -> None:
    """Pid 1 of the run's pid namespace; never returns. Builds the file-system view, forks the
    script process, reaps whatever gets orphaned, and ends as the script process ends (its end
    kills every process left in the namespace).
    """
    try:
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # the worker killed: the whole namespace goes
        sandbox.build_root(user_namespace=uid is None)
        pid = os.fork()
        if pid == 0:
            os.close(ready_w)
            _worker(uid, *pipes)
        _write(ready_w, b"R")
        for fd in (0, ready_w, *pipes):
            os.close(fd)
        while True:
            child, status = os.wait()
            if child == pid:
                break
        # pid 1 ignores its own default-action signals: say how the script ended in the exit code
        os._exit(128 + os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status))
    except BaseException as exc:
        _report_setup_failure(ready_w, exc)
    finally:
        os._exit(70)


def _worker(uid: int | None, log_w: int, start_w: int, result_w: int) -> None:
    """The script process, inside the sandbox; never returns. Waits for its job, then runs it under
    the limits, with no privilege left.

    The job comes straight from the runner (fd 0, inherited), which saves a process hop on the
    latency path. Before any script code runs, the worker tells the supervisor when it started and
    the limits (the `start` pipe, then closed), so the supervisor can keep the wall-clock deadline.
    """
    code = 70
    try:
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # init dies: go too (the kernel sees to it anyway)
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a too-large file write fails (EFBIG), no kill
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
        job_r = os.dup(0)
        _redirect_output(log_w)
        os.chdir(SCRIPT_DIR)
        os.umask(0o077)
        os.environ.update(HOME=SCRIPT_DIR, TMPDIR=SCRIPT_DIR)
        with open("/proc/self/statm") as statm:  # address space in use before the script
            baseline_mb = round(int(statm.read().split()[0]) * resource.getpagesize() / 2**20)
        reserve = bytearray(MEMORY_RESERVE)  # freed on MemoryError so that we can still report it
        raw = _read_to_eof(job_r)
        started = time.monotonic()
        os.close(job_r)
        if not raw:
            code = 0
            return  # the runner closed us without a job (shutdown)
        job = orjson.loads(raw)
        del raw
        limits = job["limits"]
        _write(start_w, orjson.dumps({"started": started, "limits": limits}))
        os.close(start_w)
        job["baseline_mb"] = baseline_mb
        _limit(limits, 0 if uid is not None else SANDBOX_PARENTS)
        if uid is not None:
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)  # all uids non-zero: every capability is gone
            _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # a change of uid clears it
        else:
            sandbox.drop_capabilities()
        _prctl(PR_SET_NO_NEW_PRIVS, 1)
        meta, output = _execute(job, int(limits["max_output_bytes"]), reserve)
        del reserve
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except BaseException:
                pass
        payload = orjson.dumps(meta) + b"\n" + output
        _write(result_w, struct.pack("!Q", len(payload)) + payload)
        code = 0
    except BaseException:
        try:
            os.write(2, ("script runner: " + traceback.format_exc()).encode(errors="replace"))
        except BaseException:
            pass
    finally:
        os._exit(code)


# ----------------------------------------------------------------------------------- supervisor


class _Logs:
    """The first `limit` bytes of the script's output; the rest is counted and dropped."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.data = bytearray()
        self.dropped = 0

    def add(self, chunk: bytes) -> None:
        room = self.limit - len(self.data)
        if room > 0:
            self.data += chunk[:room]
        self.dropped += max(0, len(chunk) - max(room, 0))

    def lines(self) -> list[str]:
        text = self.data.decode("utf-8", errors="replace")
        lines = [line.rstrip("\r") for line in text.split("\n")]
        if lines and lines[-1] == "":
            lines.pop()
        if self.dropped:
            lines.append(f"[{self.dropped} more bytes of output dropped: max_output_bytes is {self.limit}]")
        return lines


def _children_by_parent() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as handle:
                stat = handle.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(b")") + 2:].split(None, 2)[1])
        tree.setdefault(ppid, []).append(int(name))
    return tree


def _descendants() -> list[int]:
    tree = _children_by_parent()
    found, stack = [], [os.getpid()]
    while stack:
        for child in tree.get(stack.pop(), ()):
            found.append(child)
            stack.append(child)
    return found


def _reap(statuses: dict[int, int], wait_s: float) -> bool:
    """Reap children for up to `wait_s`; True once none is left (so no descendant is left)."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return True
        if pid:
            statuses[pid] = status
            continue
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.0005)


def _signal_uid(uid: int) -> None:
    """SIGKILL every process of `uid` (not us): real and effective uid become `uid` for the call,
    the saved uid stays 0 to come back, and kill(-1) then reaches exactly the processes whose real
    or saved uid is `uid`.
    """
    os.setresuid(uid, uid, 0)
    try:
        os.kill(-1, signal.SIGKILL)
    except ProcessLookupError:
        pass
    finally:
        os.setresuid(0, 0, 0)


def _kill_all(uid: int | None, statuses: dict[int, int], worker: int = 0) -> bool:
    """SIGKILL every process of the run. True when they are doomed but maybe not reaped yet (the
    per-run uid way); False when they are all killed *and* reaped already (the /proc way).
    """
    if uid is not None:
        if worker and worker not in statuses:  # unreaped: the pid is still ours
            os.kill(worker, signal.SIGKILL)  # (it may not have switched to the sandbox uid yet)
        _signal_uid(uid)
        return True
    if worker and worker not in statuses:
        os.kill(worker, signal.SIGKILL)  # it is done or out of time either way
        if _reap(statuses, 0.005):
            return False
    for _ in range(500):
        if _reap(statuses, 0.0):
            return False
        for pid in _descendants():
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        _reap(statuses, 0.01)
    return False


def _finish_kill(uid: int | None, statuses: dict[int, int]) -> None:
    """After the answer: reap what `_kill_all` doomed; fall back to /proc for any straggler."""
    if _reap(statuses, 2.0):
        return
    if uid is not None:
        _signal_uid(uid)
        if _reap(statuses, 2.0):
            return
    _kill_all(None, statuses)


def _drain(fd: int, sink: _Logs | _Result) -> None:
    """Read what is already in a pipe, without waiting for more (writes that returned are in it)."""
    os.set_blocking(fd, False)
    while True:
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            return
        if not chunk:
            return
        sink.add(chunk)


class _Result:
    """The worker's result: an 8-byte length, then the metadata line and the output JSON."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.data = bytearray()
        self.overflow = False

    def add(self, chunk: bytes) -> None:
        if len(self.data) + len(chunk) > self.limit:
            self.overflow = True
        else:
            self.data += chunk

    @property
    def complete(self) -> bool:
        return len(self.data) >= 8 and len(self.data) - 8 >= struct.unpack("!Q", self.data[:8])[0]

    def payload(self) -> bytes | None:
        return bytes(self.data[8:]) if self.complete and not self.overflow else None


class _Supervisor:
    """Set up at boot, before any job: pipes, the worker and its sandbox (forked, waiting).

    Raises `sandbox.IsolationUnavailable` (with the reason) when the sandbox cannot be set up.
    """

    def __init__(self) -> None:
        self.uid = _sandbox_uid()
        self.log_r, log_w = os.pipe()
        self.start_r, start_w = os.pipe()
        self.result_r, result_w = os.pipe()
        ready_r, ready_w = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:
            for fd in (self.log_r, self.start_r, self.result_r, ready_r):
                os.close(fd)
            _sandbox_parent(self.uid, ready_w, (log_w, start_w, result_w))
        for fd in (log_w, start_w, result_w, ready_w):
            os.close(fd)
        devnull = os.open(os.devnull, os.O_RDONLY)  # the job pipe is the worker's alone
        os.dup2(devnull, 0)
        os.close(devnull)
        self.exited = os.pidfd_open(self.pid)
        self.statuses: dict[int, int] = {}
        try:
            ready = _read_to_eof(ready_r) if select.select([ready_r], [], [], SANDBOX_READY_S)[0] else b""
        finally:
            os.close(ready_r)
        if ready != b"R":
            _kill_all(self.uid, self.statuses, self.pid)
            raise sandbox.IsolationUnavailable(ready[1:].decode(errors="replace") if ready[:1] == b"E"
                                               else "script isolation unavailable: the sandbox set-up died or hung")

    def wait_start(self) -> dict | None:
        """Block until the worker has its job: its start time and limits; None if it exited."""
        ready, _, _ = select.select([self.start_r, self.exited], [], [])
        if self.start_r in ready:
            raw = _read_to_eof(self.start_r)
            if raw:
                return orjson.loads(raw)
        return None

    def run(self, start: dict) -> dict:
        limits = start["limits"]
        timeout_s = float(limits["timeout_s"])
        max_output = int(limits["max_output_bytes"])
        logs, result = _Logs(max_output), _Result(max_output + RESULT_SLACK)
        watched = [self.log_r, self.result_r, self.exited]
        deadline = float(start["started"]) + timeout_s  # CLOCK_MONOTONIC is the same for all processes
        timed_out = exited = False
        while not result.complete:
            left = deadline - time.monotonic()
            if left <= 0:
                timed_out = True
                break
            ready, _, _ = select.select(watched, [], [], left)
            for fd in ready:
                if fd == self.exited:
                    exited = True
                    continue
                chunk = os.read(fd, 65536)
                if not chunk:
                    watched.remove(fd)
                elif fd == self.log_r:
                    logs.add(chunk)
                else:
                    result.add(chunk)
            if exited:
                break
        script_ms = (time.monotonic() - float(start["started"])) * 1000
        _kill_all(self.uid, self.statuses, self.pid)
        _drain(self.log_r, logs)
        payload = result.payload()
        if payload is None and not result.complete:  # the worker exited: what it wrote is in the pipe
            _drain(self.result_r, result)
            payload = result.payload()
        status = self.statuses.get(self.pid)
        if payload is None and not timed_out and status is None:  # the worker exited: how?
            try:
                status = self.statuses[self.pid] = os.waitpid(self.pid, 0)[1]
            except ChildProcessError:
                pass
        outcome = _outcome(payload, status, timed_out, timeout_s, result.overflow)
        outcome["logs"] = logs.lines()
        outcome["script_ms"] = script_ms
        return outcome

    def clean_up(self) -> None:
        _finish_kill(self.uid, self.statuses)


def _outcome(payload: bytes | None, status: int | None, timed_out: bool, timeout_s: float,
             overflow: bool) -> dict:
    """The run's result from the worker's result and how the worker ended."""
    def failed(exit_status: str, error: str) -> dict:
        return {"ok": False, "output": None, "exit_status": exit_status, "error": error}

    if payload is not None:
        meta_end = payload.find(b"\n")
        try:
            meta = orjson.loads(payload[:meta_end])
            output = orjson.Fragment(payload[meta_end + 1:]) if meta.get("ok") else None
            return {"ok": bool(meta["ok"]), "output": output, "exit_status": str(meta["exit_status"]),
                    "error": meta.get("error")}
        except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError, ValueError):
            return failed("error", "the script produced an unreadable result")
    if timed_out:
        return failed("timeout", f"the script timed out after {timeout_s:g} s")
    if overflow:
        return failed("error", "the script wrote an oversized result")
    if status is not None and os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = f"signal {sig}"
        if sig == signal.SIGXCPU:
            return failed("cpu", "the script exceeded its CPU time limit (SIGXCPU)")
        if sig == signal.SIGKILL:
            return failed("killed", "the script was killed by SIGKILL (its own doing, the CPU hard limit or the"
                                    " kernel's out-of-memory killer)")
        return failed("killed", f"the script was killed by {name}")
    code = os.WEXITSTATUS(status) if status is not None and os.WIFEXITED(status) else None
    return failed("error", f"the script ended its process (exit code {code}) without returning from main()")


def main() -> None:
    """The runner process: preload modules once, then serve runs from the engine until stdin closes."""
    try:
        for module in PRELOADED:
            __import__(module)
        _prctl(PR_SET_CHILD_SUBREAPER, 1)
        supervisor = _Supervisor()
    except sandbox.IsolationUnavailable as exc:  # the runner refuses scripts, with this reason
        _write(1, b"E" + str(exc).encode(errors="replace"))
        return
    except BaseException:
        _write(1, b"E" + traceback.format_exc().encode(errors="replace"))
        return
    try:
        _write(1, b"R")
        start = supervisor.wait_start()
        if start is None:
            return  # no job (shutdown), or the worker failed before starting: the runner sees EOF
        try:
            result = supervisor.run(start)
        except BaseException:
            _kill_all(supervisor.uid, supervisor.statuses, supervisor.pid)
            result = {"ok": False, "output": None, "exit_status": "runner_error", "logs": [],
                      "error": "script runner failure:\n" + traceback.format_exc(limit=-4)}
        _write(1, orjson.dumps(result))
        os.close(1)  # the runner has its answer now: it need not wait for our clean-up and exit
    finally:
        supervisor.clean_up()


def zygote(sock_fd: int) -> None:
    """The fork server: booted once, it forks a fresh supervisor for each request of the runner.

    A request is one byte with two descriptors (SCM_RIGHTS): the read end of the new supervisor's
    job pipe and the write end of its answer pipe. The answer is the new pid (8 bytes, -1 when the
    request was malformed). The forked supervisor starts its own session, takes the pipes as fd 0
    and 1, reseeds `random` (it would otherwise share the zygote's state with every other run) and
    carries on as `main()`. Forked supervisors are reaped by the kernel (SIGCHLD ignored here); the
    runner follows them with pidfds. EOF on the socket (the runner closed it or died): exit.
    """
    import random
    import socket

    sock = socket.socket(fileno=sock_fd)
    try:
        for module in PRELOADED:
            __import__(module)
    except BaseException:
        _write(1, b"E" + traceback.format_exc().encode(errors="replace"))
        return
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    _write(1, b"R")
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 1)
    os.close(devnull)
    while True:
        try:
            message, fds, _, _ = socket.recv_fds(sock, 1, 2)
        except OSError:
            return
        if not message:
            return
        if len(fds) != 2:
            for fd in fds:
                os.close(fd)
            sock.sendall(struct.pack("!q", -1))
            continue
        pid = os.fork()
        if pid == 0:
            try:
                sock.close()
                os.setsid()
                os.dup2(fds[0], 0)
                os.dup2(fds[1], 1)
                for fd in fds:
                    os.close(fd)
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                random.seed()
                main()
            finally:
                os._exit(0)
        for fd in fds:
            os.close(fd)
        sock.sendall(struct.pack("!q", pid))


if __name__ == "__main__":
    try:
        if len(sys.argv) > 3 and sys.argv[2] == "--zygote":
            zygote(int(sys.argv[3]))
        else:
            main()
    finally:
        os._exit(0)  # no interpreter teardown
