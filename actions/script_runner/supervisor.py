"""The out-of-process side of the script runner: one supervisor process per script run.

Started ahead of time by `ScriptRunner` (a "warm" process, imports done), it blocks on stdin for
one job, then:

1. makes itself a child subreaper, so every process the script starts — even one that calls
   `setsid()` — stays its descendant;
2. forks a worker that sets the resource limits (address space, CPU seconds, processes, file
   size, no core dumps), drops to an unprivileged user when running as root (RLIMIT_NPROC does
   not bind root), captures `print` and `logging` output, and runs `main(params, input, context)`;
3. waits for the worker at most `timeout_s`, then kills the worker and every remaining
   descendant, and writes one JSON result on stdout.

Standard library only, run with `python -I`: nothing of the engine is importable in here.
"""

from __future__ import annotations

import contextlib
import ctypes
import io
import json
import logging
import os
import resource
import select
import shutil
import signal
import sys
import tempfile
import time
import traceback

# Scripts run as an unprivileged user who may not be able to read the interpreter's files (a
# Python under /root, say), so the modules a script may import are imported here, ahead of time.
PRELOADED = (
    "base64", "collections", "dataclasses", "datetime", "decimal", "functools", "hashlib", "hmac",
    "itertools", "math", "random", "re", "statistics", "string", "subprocess", "textwrap", "urllib.parse",
    "uuid", "zoneinfo",
)
for _module in PRELOADED:
    __import__(_module)

PR_SET_CHILD_SUBREAPER = 36
NOBODY = 65534
MAX_LOG_LINES = 1000


def _set_subreaper() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def _descendants(pid: int) -> list[int]:
    """Every live descendant of `pid`, from /proc (children of each thread, recursively)."""
    found: list[int] = []
    stack = [pid]
    while stack:
        parent = stack.pop()
        try:
            tasks = os.listdir(f"/proc/{parent}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{parent}/task/{task}/children") as handle:
                    children = [int(c) for c in handle.read().split()]
            except OSError:
                continue
            found.extend(children)
            stack.extend(children)
    return found


def _kill_descendants() -> None:
    """SIGKILL every descendant until none is left (new ones may appear while we kill)."""
    for _ in range(50):
        pids = _descendants(os.getpid())
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            while os.waitpid(-1, os.WNOHANG)[0]:
                pass
        time.sleep(0.001)


def _limit(job: dict) -> None:
    limits = job["limits"]
    memory = limits["memory_mb"] * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CPU, (limits["cpu_s"], limits["cpu_s"] + 1))
    resource.setrlimit(resource.RLIMIT_NPROC, (limits["max_processes"], limits["max_processes"]))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits["max_output_bytes"], limits["max_output_bytes"]))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _drop_privileges(workdir: str) -> None:
    if os.geteuid() != 0:
        return
    os.chown(workdir, NOBODY, NOBODY)
    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)


def _run_user_code(job: dict) -> dict:
    """Inside the worker: compile, call `main`, and report output, logs and errors."""
    capture = io.StringIO()
    sys.stdout = sys.stderr = capture
    logging.basicConfig(stream=capture, level=logging.DEBUG, format="%(levelname)s %(name)s: %(message)s",
                        force=True)
    result: dict = {"ok": False, "output": None, "exit_status": "error", "error": None}
    try:
        code = compile(job["source"], "<script>", "exec")
        scope: dict = {"__name__": "__script__"}
        exec(code, scope)  # noqa: S102 - running user scripts is the point; limits are set above
        main = scope.get("main")
        if not callable(main):
            result["error"] = "script defines no main(params, input, context)"
        else:
            output = main(job["params"], job["input"], job["context"])
            json.dumps(output)
            result.update(ok=True, output=output, exit_status="ok")
    except SyntaxError as exc:
        result["error"] = f"SyntaxError: {exc.msg} (line {exc.lineno})"
    except MemoryError:
        result.update(exit_status="memory", error="MemoryError: the script exceeded its memory limit")
    except SystemExit as exc:
        result["error"] = f"the script called sys.exit({exc.code!r})"
    except (TypeError, ValueError) as exc:
        if "JSON serializable" in str(exc) or "Circular reference" in str(exc):
            result["error"] = f"output is not JSON-serialisable: {exc}"
        else:
            result["error"] = _describe(exc)
    except BaseException as exc:  # noqa: BLE001 - anything the script raises is its failure
        result["error"] = _describe(exc)
    result["logs"] = capture.getvalue().splitlines()[-MAX_LOG_LINES:]
    return result


def _describe(exc: BaseException) -> str:
    frames = traceback.format_exception(exc)
    return f"{type(exc).__name__}: {exc}\n" + "".join(frames[-4:]).rstrip()


def _worker(job: dict, workdir: str, result_fd: int) -> None:
    """The forked worker: never returns."""
    status = 1
    try:
        os.chdir(workdir)
        out = os.open(os.path.join(workdir, "output.log"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(out, 1)
        os.dup2(out, 2)
        _drop_privileges(workdir)
        _limit(job)
        payload = json.dumps(_run_user_code(job)).encode()
        with os.fdopen(result_fd, "wb") as pipe:
            pipe.write(payload)
        status = 0
    finally:
        os._exit(status)


def _wait(pid: int, result_r: int, timeout_s: float) -> tuple[bytes, str | None]:
    """The worker's result bytes, and why it ended without one (timeout, signal), if it did."""
    deadline = time.monotonic() + timeout_s
    chunks: list[bytes] = []
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return b"".join(chunks), "timeout"
        ready, _, _ = select.select([result_r], [], [], left)
        if ready:
            chunk = os.read(result_r, 65536)
            if not chunk:
                break
            chunks.append(chunk)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        return b"".join(chunks), f"killed by {signal.Signals(os.WTERMSIG(status)).name}"
    return b"".join(chunks), None


def _read_output(workdir: str) -> list[str]:
    with contextlib.suppress(OSError), open(os.path.join(workdir, "output.log"), errors="replace") as handle:
        return handle.read().splitlines()[-MAX_LOG_LINES:]
    return []


def main() -> None:
    job = json.loads(sys.stdin.buffer.read())
    started = time.monotonic()
    _set_subreaper()
    workdir = tempfile.mkdtemp(prefix="cepflow-script-")
    result_r, result_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(result_r)
        _worker(job, workdir, result_w)
    os.close(result_w)
    raw, ended = _wait(pid, result_r, job["limits"]["timeout_s"])
    _kill_descendants()
    try:
        result = json.loads(raw) if raw and ended is None else None
    except ValueError:
        result = None
    if result is None:
        if ended == "timeout":
            result = {"ok": False, "output": None, "exit_status": "timeout", "logs": [],
                      "error": f"timed out after {job['limits']['timeout_s']} s"}
        elif ended is not None:
            status = "cpu_limit" if "SIGXCPU" in ended else "killed"
            result = {"ok": False, "output": None, "exit_status": status, "logs": [], "error": f"script {ended}"}
        else:
            result = {"ok": False, "output": None, "exit_status": "error", "logs": [],
                      "error": "the script exited without a result (os._exit or a crash)"}
    result["logs"] = _read_output(workdir) + result.get("logs", [])
    result["duration_ms"] = (time.monotonic() - started) * 1000
    shutil.rmtree(workdir, ignore_errors=True)
    payload = memoryview(json.dumps(result).encode())
    while payload:
        payload = payload[os.write(1, payload):]


if __name__ == "__main__":
    try:
        main()
    finally:
        os._exit(0)  # no interpreter teardown: the runner is waiting for our exit
