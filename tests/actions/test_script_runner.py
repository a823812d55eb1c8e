"""The sandboxed script runner: output and logs, failures, limits, no process left behind, latency."""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import orjson
import pytest

from actions.script_runner import ScriptLimits, ScriptResult, ScriptRunner

LIMITS = ScriptLimits(timeout_s=3.0, memory_mb=256)
REPO = Path(__file__).resolve().parents[2]
IS_ROOT = os.geteuid() == 0


@pytest.fixture(scope="module")
def runner() -> Iterator[ScriptRunner]:
    runner = ScriptRunner(warm=2)
    runner.wait_warm()
    yield runner
    runner.close()


def script(body: str) -> str:
    return textwrap.dedent(body).lstrip()


def processes_with(marker: str) -> list[str]:
    """Live (not zombie) processes whose command line contains `marker`, from /proc."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                cmdline = handle.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if marker in cmdline:
            found.append(f"{pid}: {cmdline}")
    return found


def eventually_none(marker: str, within_s: float = 1.0) -> list[str]:
    deadline = time.monotonic() + within_s
    while (left := processes_with(marker)) and time.monotonic() < deadline:
        time.sleep(0.02)
    return left


# ------------------------------------------------------------------------------------ results


def test_output_printed_lines_and_logging_are_returned(runner: ScriptRunner) -> None:
    source = script("""
        import logging, subprocess, sys
        print("loaded")
        def main(params, input, context):
            print("opening incident for", input["host"])
            logging.getLogger("inc").warning("priority %s", params["p"])
            logging.info("info is kept too")
            logging.debug("debug is not")
            print("to stderr", file=sys.stderr)
            subprocess.run(["echo", "from a child process"], check=True)
            return {"ticket": "INC-" + input["host"], "rule": context["rule"]}
    """)
    result = runner.run(source, {"p": 2}, {"host": "web-1"}, {"rule": "r1"}, LIMITS)
    assert result.ok and result.exit_status == "ok", result
    assert result.error is None
    assert result.output == {"ticket": "INC-web-1", "rule": "r1"}
    assert result.logs == [
        "loaded",
        "opening incident for web-1",
        "WARNING inc: priority 2",
        "INFO root: info is kept too",
        "to stderr",
        "from a child process",
    ]
    assert result.duration_ms > 0
    assert result.references == {"duration_ms": result.duration_ms, "exit_status": "ok"}


def test_exception_is_a_failure_with_traceback_and_logs_kept(runner: ScriptRunner) -> None:
    source = script("""
        def helper(x):
            return 1 / x
        def main(p, i, c):
            print("before")
            return helper(0)
    """)
    result = runner.run(source, {}, {}, {}, LIMITS)
    assert not result.ok and result.exit_status == "error"
    assert result.output is None
    assert result.error.startswith("ZeroDivisionError: division by zero\n")
    assert 'File "<script>", line 5, in main' in result.error
    assert 'File "<script>", line 2, in helper' in result.error
    assert "return 1 / x" in result.error  # the script's source lines are shown
    assert "child.py" not in result.error  # the runner's own frames are not
    assert result.logs == ["before"]


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("def main(p, i, c) return 1\n", "SyntaxError: expected ':' (line 1)"),
        ("x = 1\n\ndef main(p, i, c):\nreturn 1\n", "SyntaxError: expected an indented block"),
        ("def handler(p, i, c):\n    return 1\n", "script defines no main(params, input, context)"),
        ("def main(p, i, c):\n    return object()\n", "output is not JSON-serialisable"),
        ("def main(p, i, c):\n    return {'a': {1, 2}}\n", "output is not JSON-serialisable"),
        ("import sys\ndef main(p, i, c):\n    sys.exit(3)\n", "the script called sys.exit(3)"),
        ("import os\ndef main(p, i, c):\n    os._exit(3)\n", "the script ended its process (exit code 3)"),
        ("def main(p):\n    return 1\n", "TypeError: main() takes 1 positional argument but 3 were given"),
        ("import signal, os\ndef main(p, i, c):\n    os.kill(os.getpid(), signal.SIGSEGV)\n",
         "the script was killed by SIGSEGV"),
    ],
)
def test_broken_scripts_fail_clearly(runner: ScriptRunner, source: str, message: str) -> None:
    result = runner.run(source, {}, {}, {}, LIMITS)
    assert not result.ok and result.output is None
    assert result.exit_status in ("error", "killed")
    assert result.error.startswith(message), result.error


def test_syntax_error_names_the_line(runner: ScriptRunner) -> None:
    result = runner.run("def main(p, i, c):\n    x = (1,\n    return x\n", {}, {}, {}, LIMITS)
    assert result.exit_status == "error"
    assert "(line 2)" in result.error or "(line 3)" in result.error, result.error


def test_inputs_that_are_not_json_are_an_error_not_an_exception(runner: ScriptRunner) -> None:
    result = runner.run("def main(p, i, c):\n    return i\n", {}, {"n": 2**70}, {}, LIMITS)
    assert not result.ok and result.exit_status == "error"
    assert "not JSON-serialisable" in result.error


def test_logs_and_output_are_bounded(runner: ScriptRunner) -> None:
    limits = ScriptLimits(timeout_s=3.0, max_output_bytes=10_000)
    chatty = runner.run("def main(p, i, c):\n    for n in range(100_000):\n        print('line', n)\n    return 1\n",
                        {}, {}, {}, limits)
    assert chatty.ok, chatty
    assert sum(len(line) + 1 for line in chatty.logs[:-1]) <= 10_000
    assert chatty.logs[0] == "line 0"
    assert chatty.logs[-1].startswith("[") and "bytes of output dropped" in chatty.logs[-1]
    big = runner.run("def main(p, i, c):\n    return 'x' * 20_000\n", {}, {}, {}, limits)
    assert not big.ok and big.error.startswith("output is too large")


# ------------------------------------------------------------------------------------- limits


def test_infinite_loop_is_killed_at_the_timeout_and_its_logs_kept(runner: ScriptRunner) -> None:
    started = time.monotonic()
    result = runner.run("def main(p, i, c):\n    print('spinning')\n    while True:\n        pass\n", {}, {}, {},
                        ScriptLimits(timeout_s=1.0))
    elapsed = time.monotonic() - started
    assert result.exit_status == "timeout" and not result.ok
    assert result.error == "the script timed out after 1 s"
    assert result.logs == ["spinning"]
    assert 1.0 <= elapsed < 1.0 + 1.0, elapsed


def test_cpu_time_limit(runner: ScriptRunner) -> None:
    started = time.monotonic()
    result = runner.run("def main(p, i, c):\n    while True:\n        pass\n", {}, {}, {},
                        ScriptLimits(timeout_s=10.0, cpu_s=1))
    assert result.exit_status == "cpu" and not result.ok, result  # 1 s of CPU, before the 10 s timeout
    assert result.error == "the script exceeded its CPU time limit (SIGXCPU)"
    assert time.monotonic() - started < 10.0


@pytest.mark.parametrize(
    "body",
    [
        "x = bytearray(10 ** 10)",
        "x = []\n    while True:\n        x.append(bytearray(10 ** 6))",
        "x = ' ' * (300 * 2 ** 20)",
    ],
)
def test_memory_bomb_fails_within_its_limit(runner: ScriptRunner, body: str) -> None:
    started = time.monotonic()
    result = runner.run(f"def main(p, i, c):\n    print('allocating')\n    {body}\n", {}, {}, {},
                        ScriptLimits(timeout_s=10.0, memory_mb=128))
    assert result.exit_status in ("memory", "killed") and not result.ok, result
    if result.exit_status == "memory":
        assert result.error.startswith("MemoryError: the script exceeded its memory limit (128 MB")
    assert result.logs == ["allocating"]
    assert time.monotonic() - started < 5.0


def test_no_process_is_left_behind_even_in_new_sessions(runner: ScriptRunner) -> None:
    marker = str(3000 + uuid.uuid4().int % 100_000)
    source = script(f"""
        import os, subprocess
        def main(p, i, c):
            subprocess.Popen(["sleep", "{marker}"])
            subprocess.Popen(["sleep", "{marker}"], start_new_session=True)
            subprocess.Popen(["sh", "-c", "sleep {marker}; true"], start_new_session=True)
            if os.fork() == 0:  # a daemon: double fork, setsid
                os.setsid()
                if os.fork() == 0:
                    os.execvp("sleep", ["sleep", "{marker}"])
                os._exit(0)
            return "started"
    """)
    result = runner.run(source, {}, {}, {}, LIMITS)
    assert result.ok, result
    assert eventually_none(f"sleep {marker}") == []


def test_no_process_is_left_behind_after_a_timeout(runner: ScriptRunner) -> None:
    marker = str(3000 + uuid.uuid4().int % 100_000)
    source = script(f"""
        import subprocess
        def main(p, i, c):
            subprocess.Popen(["sleep", "{marker}"], start_new_session=True)
            while True:
                pass
    """)
    result = runner.run(source, {}, {}, {}, ScriptLimits(timeout_s=0.5))
    assert result.exit_status == "timeout"
    assert eventually_none(f"sleep {marker}") == []


@pytest.mark.skipif(not IS_ROOT, reason="privileges are only dropped when the engine runs as root")
def test_runs_as_an_unprivileged_user_with_a_process_limit(runner: ScriptRunner) -> None:
    source = script("""
        import os, subprocess
        def main(p, i, c):
            children = []
            try:
                for _ in range(50):
                    children.append(subprocess.Popen(["sleep", "5"]))
            except OSError as exc:
                return {"uid": os.getuid(), "groups": os.getgroups(), "started": len(children), "errno": exc.errno}
            return {"uid": os.getuid(), "started": len(children)}
    """)
    result = runner.run(source, {}, {}, {}, ScriptLimits(max_processes=8))
    assert result.ok, result
    assert result.output["uid"] != 0 and result.output["groups"] == []
    assert result.output["started"] == 7  # the worker itself is the eighth


def test_runs_are_isolated_from_each_other_and_from_the_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CEPFLOW_TEST_SECRET", "s3cret")
    writer = script("""
        import os
        STATE = []
        def main(p, i, c):
            STATE.append(1)
            open("left-behind.txt", "w").write("x")
            return {"state": len(STATE), "cwd": os.getcwd(), "files": os.listdir("."),
                    "secret": os.environ.get("CEPFLOW_TEST_SECRET"), "pid": os.getpid()}
    """)
    with ScriptRunner(warm=1) as fresh:  # started after the secret was set
        first = fresh.run(writer, {}, {}, {}, LIMITS)
        second = fresh.run(writer, {}, {}, {}, LIMITS)
    assert first.ok and second.ok, (first, second)
    assert first.output["state"] == second.output["state"] == 1
    assert first.output["files"] == second.output["files"] == ["left-behind.txt"]  # a /tmp of its own
    assert first.output["cwd"] == "/tmp"
    assert first.output["secret"] is None
    assert first.output["pid"] == second.output["pid"] == 2  # in a pid namespace of its own


# -------------------------------------------------------------------------- runner behaviour


def test_concurrent_runs_are_independent(runner: ScriptRunner) -> None:
    source = "import time\ndef main(p, i, c):\n    time.sleep(0.05)\n    print('run', i)\n    return i * 2\n"
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda n: runner.run(source, {}, n, {}, LIMITS), range(8)))
    assert [r.output for r in results] == [n * 2 for n in range(8)]
    assert [r.logs for r in results] == [[f"run {n}"] for n in range(8)]


def test_random_state_is_not_shared_between_runs(runner: ScriptRunner) -> None:
    source = "import random\ndef main(p, i, c):\n    return [random.random(), random.getrandbits(64)]\n"
    outputs = [runner.run(source, {}, {}, {}, LIMITS).output for _ in range(3)]
    assert len({tuple(o) for o in outputs}) == 3


def test_a_dead_zygote_is_replaced_and_no_descriptor_leaks(runner: ScriptRunner) -> None:
    runner.wait_warm()  # the shared runner's pool is full: it opens no descriptor meanwhile
    fds_before = len(os.listdir("/proc/self/fd"))
    with ScriptRunner(warm=1) as fresh:
        assert fresh.wait_warm()
        assert fresh._zygote is not None
        os.kill(fresh._zygote._proc.pid, 9)
        results = [fresh.run("def main(p, i, c):\n    return i\n", {}, n, {}, LIMITS) for n in range(20)]
        assert [r.output for r in results] == list(range(20))
        assert fresh.wait_warm()
        assert fresh._zygote.alive()
        stats = fresh.stats()
    assert stats["runs"] == 20 and stats["forked"] >= 20 and stats["spawn_failures"] == 0
    deadline = time.monotonic() + 15
    while len(os.listdir("/proc/self/fd")) > fds_before and time.monotonic() < deadline:
        time.sleep(0.1)  # answered supervisors are reaped (and their pipes closed) in the background
    assert len(os.listdir("/proc/self/fd")) <= fds_before


def test_close_kills_the_warm_processes_and_refuses_new_runs() -> None:
    runner = ScriptRunner(warm=2)
    assert runner.wait_warm()
    pids = [proc.pid for proc in runner._pool]
    runner.close()
    for pid in pids:
        assert not os.path.exists(f"/proc/{pid}") or "Z" in open(f"/proc/{pid}/stat").read().split(")")[1][:3]
    result = runner.run("def main(p, i, c):\n    return 1\n", {}, {}, {}, LIMITS)
    assert result == ScriptResult(False, None, [], "runner_error", "the script runner is closed", result.duration_ms)


def test_a_broken_interpreter_is_a_runner_error_not_an_exception() -> None:
    with ScriptRunner(warm=0, python="/nonexistent/python") as runner:
        result = runner.run("def main(p, i, c):\n    return 1\n", {}, {}, {}, LIMITS)
    assert result.exit_status == "runner_error" and "cannot start the script runner" in result.error


def test_a_warm_runner_answers_in_milliseconds(runner: ScriptRunner) -> None:
    """Prints p50/p99; asserts only a generous bound that a cold interpreter start would break."""
    cold_before = runner.stats()["cold_starts"]
    latencies = []
    for _ in range(50):
        runner.wait_warm()  # the replacement of the previous run has booted
        started = time.perf_counter()
        result = runner.run("def main(p, i, c): return 1", {}, {}, {}, LIMITS)
        latencies.append((time.perf_counter() - started) * 1000)
        assert result.ok and result.output == 1
    latencies.sort()
    p50, p99 = statistics.median(latencies), latencies[int(len(latencies) * 0.99) - 1]
    print(f"\ntrivial script, warm runner: p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {latencies[-1]:.1f} ms")
    assert runner.stats()["cold_starts"] == cold_before
    assert p50 < 100


# ------------------------------------------------------- the unprivileged engine (Docker image)

DRIVER = """
import json, os, sys, time, uuid
from actions.script_runner import ScriptLimits, ScriptRunner
marker = str(3000 + uuid.uuid4().int % 100000)
fork = '''
import os, subprocess
def main(p, i, c):
    subprocess.Popen(["sleep", "%s"], start_new_session=True)
    if os.fork() == 0:
        os.setsid()
        os.execvp("sleep", ["sleep", "%s"])
    print("forked")
    return os.getuid()
''' % (marker, marker)
BOMB = '''
import subprocess
def main(p, i, c):
    children = []
    try:
        for _ in range(500):
            children.append(subprocess.Popen(["sleep", "5"]))
    except OSError:
        pass
    return len(children)
'''
with ScriptRunner(warm=1) as runner:
    runner.wait_warm()
    ok = runner.run(fork, {}, {}, {}, ScriptLimits(timeout_s=3))
    spin = runner.run("def main(p, i, c):\\n    while True:\\n        pass\\n", {}, {}, {}, ScriptLimits(timeout_s=0.5))
    nproc = runner.run("import subprocess\\ndef main(p, i, c):\\n    return [subprocess.Popen(['sleep', '1']).pid for _ in range(3)]\\n",
                       {}, {}, {}, ScriptLimits(timeout_s=3, max_processes=4))
    bomb = runner.run(BOMB, {}, {}, {}, ScriptLimits(timeout_s=5, max_processes=4))
time.sleep(0.3)
def cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read()
    except OSError:  # the process ended while we looked
        return b""
left = [p for p in os.listdir("/proc") if p.isdigit() and marker.encode() in cmdline(p)]
print(json.dumps({"uid": os.getuid(), "ok": [ok.ok, ok.output, ok.logs, ok.error], "spin": spin.exit_status,
                  "nproc": [nproc.ok, nproc.error], "bomb": bomb.output, "left": left}))
"""


@pytest.mark.skipif(not IS_ROOT or not shutil.which("python3.11", path="/usr/bin"),
                    reason="needs root to start the engine as another user, and a world-readable python3.11")
def test_an_unprivileged_engine_still_limits_and_cleans_up(tmp_path: Path) -> None:
    """The Docker image runs the engine as a non-root user: no uid switch, /proc-based clean-up."""
    site = str(Path(orjson.__file__).resolve().parent.parent)
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": f"{REPO}:{site}", "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run(["/usr/bin/python3.11", "-c", DRIVER], user=54321, group=54321, extra_groups=[],
                          env=env, cwd=tmp_path, capture_output=True, timeout=120, check=False)
    if done.returncode != 0 and b"ModuleNotFoundError" in done.stderr:
        pytest.skip(f"the unprivileged user cannot import the project: {done.stderr[-300:]!r}")
    assert done.returncode == 0, done.stderr.decode()
    report = orjson.loads(done.stdout.splitlines()[-1])
    assert report["uid"] == 54321
    assert report["ok"] == [True, 1000, ["forked"], None]  # uid 1000 in a user namespace of its own
    assert report["spin"] == "timeout"
    assert report["nproc"] == [True, None]
    assert report["bomb"] == 3  # RLIMIT_NPROC counts the namespace's tasks: exactly the run's own
    assert report["left"] == []


def test_child_and_runner_agree_on_the_sandbox_uid_base() -> None:
    from actions import script_runner

    text = (REPO / "actions" / "script_runner" / "child.py").read_text()
    assert f"SANDBOX_UID_BASE = {script_runner.SANDBOX_UID_BASE:_}" in text


@pytest.mark.parametrize("name", ["child.py", "sandbox.py"])
def test_the_child_imports_only_the_standard_library_and_orjson(name: str) -> None:
    """It runs with -I -S: nothing of the engine or site-packages but orjson (and its sibling
    `sandbox`) is importable there."""
    import ast

    tree = ast.parse((REPO / "actions" / "script_runner" / name).read_text())
    modules = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
               for alias in node.names}
    modules |= {node.module.split(".")[0] for node in ast.walk(tree)
                if isinstance(node, ast.ImportFrom) and node.module and node.level == 0}
    assert modules - {"__future__", "orjson", "sandbox"} <= set(sys.stdlib_module_names)
