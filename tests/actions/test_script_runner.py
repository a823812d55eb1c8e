"""The sandboxed script runner: output and logs, failures, limits, no process left behind."""

from __future__ import annotations

import os
import statistics
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from actions.script_runner import ScriptLimits, ScriptRunner

LIMITS = ScriptLimits(timeout_s=2.0, memory_mb=256)


@pytest.fixture(scope="module")
def runner() -> Iterator[ScriptRunner]:
    runner = ScriptRunner(warm=2)
    yield runner
    runner.close()


def test_output_printed_lines_and_logging_are_returned(runner: ScriptRunner) -> None:
    source = (
        "import logging\n"
        "def main(params, input, context):\n"
        "    print('opening incident for', input['host'])\n"
        "    logging.getLogger('inc').warning('priority %s', params['p'])\n"
        "    return {'ticket': 'INC-' + input['host'], 'rule': context['rule']}\n"
    )
    result = runner.run(source, {"p": 2}, {"host": "web-1"}, {"rule": "r1"}, LIMITS)
    assert result.ok and result.exit_status == "ok"
    assert result.output == {"ticket": "INC-web-1", "rule": "r1"}
    assert result.logs == ["opening incident for web-1", "WARNING inc: priority 2"]
    assert result.duration_ms > 0


def test_exception_is_a_failure_with_logs_kept(runner: ScriptRunner) -> None:
    result = runner.run("def main(p, i, c):\n    print('before')\n    raise ValueError('boom')\n", {}, {}, {}, LIMITS)
    assert not result.ok and result.exit_status == "error"
    assert result.error.startswith("ValueError: boom")
    assert result.logs == ["before"]


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("def main(p, i, c) return 1\n", "SyntaxError: expected ':' (line 1)"),
        ("def handler(p, i, c):\n    return 1\n", "script defines no main(params, input, context)"),
        ("def main(p, i, c):\n    return object()\n", "output is not JSON-serialisable"),
        ("import sys\ndef main(p, i, c):\n    sys.exit(3)\n", "the script called sys.exit(3)"),
        ("import os\ndef main(p, i, c):\n    os._exit(3)\n", "the script exited without a result"),
    ],
)
def test_broken_scripts_fail_clearly(runner: ScriptRunner, source: str, message: str) -> None:
    result = runner.run(source, {}, {}, {}, LIMITS)
    assert not result.ok
    assert result.error.startswith(message)


def test_infinite_loop_is_killed_at_the_timeout(runner: ScriptRunner) -> None:
    started = time.monotonic()
    result = runner.run("def main(p, i, c):\n    while True:\n        pass\n", {}, {}, {},
                        ScriptLimits(timeout_s=1.0))
    assert result.exit_status == "timeout" and not result.ok
    assert time.monotonic() - started < 3.0


@pytest.mark.parametrize(
    "body", ["x = bytearray(10 ** 10)", "x = []\n    while True:\n        x.append(' ' * 10 ** 6)"]
)
def test_memory_bomb_fails_within_its_limit(runner: ScriptRunner, body: str) -> None:
    started = time.monotonic()
    result = runner.run(f"def main(p, i, c):\n    {body}\n", {}, {}, {}, ScriptLimits(timeout_s=5.0, memory_mb=128))
    assert result.exit_status in ("memory", "killed") and not result.ok
    assert time.monotonic() - started < 5.0


def _processes_with(marker: str) -> list[str]:
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


def test_forked_children_are_killed_even_in_new_sessions(runner: ScriptRunner) -> None:
    marker = str(300 + uuid.uuid4().int % 1000)
    source = (
        "import subprocess, os\n"
        "def main(p, i, c):\n"
        f"    subprocess.Popen(['sleep', '{marker}'])\n"
        f"    subprocess.Popen(['sleep', '{marker}'], start_new_session=True)\n"
        "    if os.fork() == 0:\n"
        "        os.setsid()\n"
        f"        os.execvp('sleep', ['sleep', '{marker}'])\n"
        "    return 'started'\n"
    )
    result = runner.run(source, {}, {}, {}, LIMITS)
    assert result.ok, result.error
    time.sleep(0.2)
    assert _processes_with(f"sleep {marker}") == []


def test_runs_as_an_unprivileged_user_with_a_process_limit(runner: ScriptRunner) -> None:
    if os.geteuid() != 0:
        pytest.skip("privileges are only dropped when the engine runs as root")
    source = (
        "import os, subprocess\n"
        "def main(p, i, c):\n"
        "    children = []\n"
        "    try:\n"
        "        for _ in range(50):\n"
        "            children.append(subprocess.Popen(['sleep', '5']))\n"
        "    except OSError as exc:\n"
        "        return {'uid': os.getuid(), 'started': len(children), 'error': exc.errno}\n"
        "    return {'uid': os.getuid(), 'started': len(children)}\n"
    )
    result = runner.run(source, {}, {}, {}, ScriptLimits(max_processes=8))
    assert result.ok, result.error
    assert result.output["uid"] != 0
    assert result.output["started"] < 8


def test_concurrent_runs_are_independent(runner: ScriptRunner) -> None:
    source = "def main(p, i, c):\n    return i * 2\n"
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda n: runner.run(source, {}, n, {}, LIMITS), range(8)))
    assert [r.output for r in results] == [n * 2 for n in range(8)]


def test_a_warm_runner_answers_in_milliseconds(runner: ScriptRunner) -> None:
    """Not a timing assertion: a generous bound that only a cold interpreter start would break."""
    time.sleep(0.5)  # let the warm supervisors finish starting
    latencies = []
    for _ in range(20):
        started = time.perf_counter()
        assert runner.run("def main(p, i, c):\n    return 1\n", {}, {}, {}, LIMITS).ok
        latencies.append((time.perf_counter() - started) * 1000)
        time.sleep(0.1)
    print(f"trivial script p50 {statistics.median(latencies):.1f} ms, max {max(latencies):.1f} ms")
    assert statistics.median(latencies) < 100
