"""Attacks of a hostile script on the engine that runs it (issue 11, class 2; RULES.md §6).

Each attack runs in an engine process (`DRIVER`) started twice: as root, and as an unprivileged
user (the Docker image runs the engine as a non-root user; there is no Docker engine here, so
that configuration is exercised by running the engine as uid 54321 on this machine). The engine
holds a secret in its environment, owns a recovery folder and listens on 127.0.0.1.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

REPO = Path(__file__).resolve().parents[2]
SITE = str(Path(orjson.__file__).resolve().parent.parent)
SECRET = "postgresql://cepflow:hunter2-s3cret@db/cepflow"
ENGINE_UID = 54321
SYSTEM_PYTHON = "/usr/bin/python3.11"  # readable by any user (the venv's interpreter is under /root)
MAX_PROCESSES = 8
MARKER = "cepflow-attack-marker"

ATTACKS = {
    "environ": """
        import os
        def main(p, i, c):
            seen = {}
            for path in [f"/proc/{p['engine_pid']}/environ", f"/proc/{os.getppid()}/environ",
                         "/proc/1/environ", "/proc/self/environ"] + [
                         f"/proc/{pid}/environ" for pid in os.listdir("/proc") if pid.isdigit()]:
                try:
                    seen[path] = open(path, "rb").read().decode(errors="replace")
                except OSError as exc:
                    seen[path] = f"refused: {exc}"
            return {"engine": seen.pop(f"/proc/{p['engine_pid']}/environ"), "all": seen,
                    "pids": sorted(x for x in os.listdir("/proc") if x.isdigit())}
    """,
    "signal": """
        import os, signal
        def main(p, i, c):
            out = {}
            for name, pid in (("engine", p["engine_pid"]), ("everyone", -1)):
                try:
                    os.kill(pid, signal.SIGKILL)
                    out[name] = "sent"
                except OSError as exc:
                    out[name] = f"refused: {exc}"
            return out
    """,
    "files": """
        import os
        def main(p, i, c):
            out = {}
            for path in (p["recovery"] + "/part-0.sqlite3", p["repo"] + "/pyproject.toml", "/etc/shadow",
                         "/usr/" + p["marker"]):
                try:
                    with open(path, "a") as handle:
                        handle.write("pwned")
                    out[path] = "written"
                except OSError as exc:
                    out[path] = f"refused: {exc}"
            try:
                out["read repo"] = open(p["repo"] + "/pyproject.toml").read()[:20]
            except OSError as exc:
                out["read repo"] = f"refused: {exc}"
            return out
    """,
    "network": """
        import socket
        def main(p, i, c):
            out = {}
            try:
                socket.create_connection(("127.0.0.1", p["port"]), timeout=2).close()
                out["tcp"] = "connected"
            except OSError as exc:
                out["tcp"] = f"refused: {exc}"
            try:
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                s.sendto(b"x", ("127.0.0.1", p["port"]))
                out["udp"] = "sent"
            except OSError as exc:
                out["udp"] = f"refused: {exc}"
            return out
    """,
    "fork_bomb": """
        import os, time
        def main(p, i, c):
            forked = 0
            try:
                while forked < 10_000:
                    if os.fork() == 0:
                        while True:  # every child keeps forking too
                            try:
                                os.fork()
                            except OSError:
                                time.sleep(0.01)
                    forked += 1
            except OSError as exc:
                return {"forked": forked, "error": exc.errno}
            return {"forked": forked}
    """,
    "memory": """
        def main(p, i, c):
            print("allocating")
            hoard = []
            while True:
                hoard.append(bytearray(10 ** 6))
    """,
    "pipes": """
        import fcntl, os
        def main(p, i, c):
            pipes = 0
            try:
                while pipes < 100_000:
                    r, w = os.pipe()
                    try:
                        fcntl.fcntl(w, 1031, 1 << 20)  # F_SETPIPE_SZ: as large a buffer as allowed
                    except OSError:
                        pass
                    pipes += 1
            except OSError as exc:
                return {"pipes": pipes, "errno": exc.errno}
            return {"pipes": pipes}
    """,
    "fill_tmp": """
        import os
        def main(p, i, c):
            written = {}
            for folder in ("/tmp", "/var/tmp", "/dev/shm"):
                total = 0
                try:
                    for n in range(100_000):
                        with open(f"{folder}/{p['marker']}-{n}", "wb") as handle:
                            handle.write(b"x" * (1 << 19))
                        total += 1 << 19
                except OSError as exc:
                    written[folder] = [total, exc.errno]
            return written
    """,
    "tmp_after": """
        import os
        def main(p, i, c):
            return {folder: os.listdir(folder) for folder in ("/tmp", "/var/tmp", "/dev/shm")}
    """,
    "privileges": """
        import ctypes, os
        def main(p, i, c):
            libc = ctypes.CDLL(None, use_errno=True)
            out = {"uid": os.getuid(), "caps": [line for line in open("/proc/self/status")
                                               if line.startswith(("CapEff", "CapPrm", "CapBnd"))]}
            out["remount /usr rw"] = libc.mount(None, b"/usr", None, 32 | 4096, None)  # MS_REMOUNT|MS_BIND
            out["mount tmpfs"] = libc.mount(b"tmpfs", b"/tmp", b"tmpfs", 0, None)
            try:
                os.setuid(0)
                out["setuid"] = "root"
            except OSError as exc:
                out["setuid"] = f"refused: {exc}"
            created = libc.unshare(0x10000000) == 0  # CLONE_NEWUSER
            out["nested user namespace"] = "created" if created else ctypes.get_errno()
            return out
    """,
}

DRIVER = """
import json, os, socket, sys
from actions.script_runner import ScriptLimits, ScriptRunner, isolation_problem
attacks = json.loads(sys.argv[1])
listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen()
listener.setblocking(False)
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
udp.bind(listener.getsockname())
udp.setblocking(False)
params = {"engine_pid": os.getpid(), "recovery": sys.argv[2], "repo": sys.argv[3], "marker": sys.argv[4],
          "port": listener.getsockname()[1]}
limits = ScriptLimits(timeout_s=5, memory_mb=128, max_processes=%d)
results = {}
with ScriptRunner(warm=1) as runner:
    runner.wait_warm()
    for name, source in attacks.items():
        r = runner.run(source, params, {}, {}, limits)
        results[name] = {"ok": r.ok, "output": r.output, "status": r.exit_status, "error": r.error,
                         "logs": r.logs}
    refusal = runner.refusal
def received(sock, how):
    try:
        how(sock)
        return True
    except BlockingIOError:
        return False
print(json.dumps({"uid": os.getuid(), "results": results, "refusal": refusal, "problem": isolation_problem(),
                  "tcp_accepted": received(listener, lambda s: s.accept()),
                  "udp_received": received(udp, lambda s: s.recv(10))}))
""" % MAX_PROCESSES

IS_ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not IS_ROOT or not Path(SYSTEM_PYTHON).exists(),
                                reason="needs root to start engines as another user, and a world-readable python3.11")


def run_engine(attacks: dict[str, str], *, as_root: bool, prefix: tuple[str, ...] = ()) -> dict[str, Any]:
    """Start the engine (`DRIVER`) with a secret in its environment; its report."""
    uid = 0 if as_root else ENGINE_UID
    recovery = tempfile.mkdtemp(prefix="cepflow-recovery-")
    os.chown(recovery, uid, uid)
    os.chmod(recovery, 0o700)
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": f"{REPO}:{SITE}", "PYTHONDONTWRITEBYTECODE": "1",
           "CEPFLOW_DATABASE_URL": SECRET}
    python = sys.executable if as_root else SYSTEM_PYTHON
    sources = orjson.dumps({name: textwrap.dedent(src).lstrip() for name, src in attacks.items()}).decode()
    try:
        done = subprocess.run([*prefix, python, "-c", DRIVER, sources, recovery, str(REPO), MARKER],
                              user=uid, group=uid, extra_groups=[], env=env, cwd="/", capture_output=True,
                              timeout=300, check=False)
        assert done.returncode == 0, done.stderr.decode()[-3000:]
        report = orjson.loads(done.stdout.splitlines()[-1])
        report["recovery_files"] = os.listdir(recovery)
        report["stderr"] = done.stderr.decode(errors="replace")
        return report
    finally:
        shutil.rmtree(recovery, ignore_errors=True)


@pytest.fixture(scope="module", params=["root", "non-root"])
def engine(request: pytest.FixtureRequest) -> Iterator[dict[str, Any]]:
    if not IS_ROOT or not Path(SYSTEM_PYTHON).exists():
        pytest.skip("needs root to start engines as another user, and a world-readable python3.11")
    yield {"mode": request.param, **run_engine(ATTACKS, as_root=request.param == "root")}


def result(engine: dict[str, Any], name: str) -> dict[str, Any]:
    return engine["results"][name]


def test_the_engine_ran_in_the_intended_mode(engine: dict[str, Any]) -> None:
    assert engine["uid"] == (0 if engine["mode"] == "root" else ENGINE_UID)
    assert engine["refusal"] is None and engine["problem"] is None


def test_the_engine_environment_and_other_processes_are_invisible(engine: dict[str, Any]) -> None:
    got = result(engine, "environ")
    assert got["ok"], got
    assert SECRET not in orjson.dumps(got).decode()
    assert got["output"]["engine"].startswith("refused: [Errno 2]")  # no such pid in its /proc
    assert got["output"]["pids"] == ["1", "2"]  # its init and itself: nothing else


def test_the_engine_cannot_be_signalled(engine: dict[str, Any]) -> None:
    got = result(engine, "signal")
    assert got["output"]["engine"].startswith("refused: [Errno 3]"), got  # ESRCH: not in its pid namespace
    # the engine survived kill(-1, SIGKILL) too: it wrote this report


def test_the_engine_files_and_recovery_folder_are_out_of_reach(engine: dict[str, Any]) -> None:
    got = result(engine, "files")["output"]
    assert all(outcome.startswith("refused") for outcome in got.values()), got
    assert engine["recovery_files"] == []
    assert not Path("/usr", MARKER).exists()
    assert "pwned" not in (REPO / "pyproject.toml").read_text()


def test_no_network_not_even_loopback(engine: dict[str, Any]) -> None:
    got = result(engine, "network")["output"]
    assert got["tcp"].startswith("refused: [Errno 101]"), got  # ENETUNREACH: no interface is up
    assert got["udp"].startswith("refused"), got
    assert not engine["tcp_accepted"] and not engine["udp_received"]


def test_a_fork_bomb_is_bounded_and_leaves_nothing(engine: dict[str, Any]) -> None:
    got = result(engine, "fork_bomb")
    assert got["status"] in ("ok", "timeout"), got
    if got["status"] == "ok":
        assert got["output"]["forked"] < MAX_PROCESSES and got["output"]["error"] == 11  # EAGAIN
    assert result(engine, "tmp_after")["ok"]  # the runner went on working


def test_memory_is_bounded(engine: dict[str, Any]) -> None:
    got = result(engine, "memory")
    assert got["status"] in ("memory", "killed") and got["logs"] == ["allocating"], got


def test_pipe_buffers_are_bounded_by_the_descriptor_limit(engine: dict[str, Any]) -> None:
    got = result(engine, "pipes")["output"]
    assert got["errno"] == 24 and got["pipes"] < 32, got  # EMFILE: 64 descriptors, 2 per pipe


def test_temporary_folders_are_private_bounded_and_removed(engine: dict[str, Any]) -> None:
    filled = result(engine, "fill_tmp")["output"]
    assert filled["/tmp"][0] <= 64 << 20 and filled["/tmp"][1] == 28, filled  # ENOSPC: a 64 MB tmpfs
    assert result(engine, "tmp_after")["output"] == {"/tmp": [], "/var/tmp": [], "/dev/shm": []}
    for folder in ("/tmp", "/var/tmp", "/dev/shm"):
        assert not [name for name in os.listdir(folder) if name.startswith(MARKER)]


def test_no_privilege_is_left(engine: dict[str, Any]) -> None:
    got = result(engine, "privileges")["output"]
    assert got["remount /usr rw"] == -1 and got["mount tmpfs"] == -1, got
    assert got["setuid"].startswith("refused"), got
    assert all(line.split()[1].strip("0") == "" for line in got["caps"] if not line.startswith("CapBnd")), got
    if engine["mode"] == "root":
        assert got["uid"] >= 2_000_000_000  # a per-run uid
    else:
        assert got["uid"] == 1000  # the engine's uid, mapped in a user namespace of its own
        assert got["nested user namespace"] == 28  # ENOSPC: max_user_namespaces is 0 in its own


@needs_root
def test_without_user_namespaces_scripts_are_refused_with_the_reason() -> None:
    """A non-root engine where user namespaces are not allowed (here: a user namespace of the test
    whose `user.max_user_namespaces` is 0) refuses scripts and says why; it never runs them."""
    prefix = ("unshare", "-U", "-r", "sh", "-c", 'echo 0 > /proc/sys/user/max_user_namespaces && exec "$@"', "sh")
    report = run_engine({"tmp_after": ATTACKS["tmp_after"]}, as_root=False, prefix=prefix)
    got = report["results"]["tmp_after"]
    assert not got["ok"] and got["status"] == "runner_error" and got["output"] is None, got
    assert got["error"].startswith("scripts are refused: script isolation unavailable: unshare(user"), got
    assert report["refusal"] == got["error"] == report["problem"]  # what `cepflow run` says at start
    assert "script runner: scripts are refused" in report["stderr"]
