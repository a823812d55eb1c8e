"""The action process: batches run in a child with its own GIL, and what goes wrong there reaches
the sink (a failed batch, a child that died)."""

from __future__ import annotations

import os
import signal
import time
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from actions.action_process import ActionProcess, ActionProcessGone


class FakeActions:
    """Child side: appends what it does to `log` (one line per call)."""

    def __init__(self, log: str) -> None:
        self.log = Path(log)

    def _write(self, line: str) -> None:
        with self.log.open("a") as out:
            out.write(line + "\n")

    def run_batch(self, executions: list[Any]) -> object:
        if "die" in executions:
            os.kill(os.getpid(), signal.SIGKILL)
        if "fail" in executions:
            msg = f"database gone while running {executions}"
            raise RuntimeError(msg)
        self._write(f"{os.getpid()} ran {' '.join(executions)}")
        return []

    def catch_up(self, rules_marker: Any) -> None:
        self._write(f"{os.getpid()} catch_up {rules_marker}")

    def close(self) -> None:
        self._write(f"{os.getpid()} closed")


def build(log: str) -> FakeActions:
    return FakeActions(log)


@pytest.fixture
def log(tmp_path: Path) -> Path:
    return tmp_path / "child.log"


def test_batches_run_in_the_child_after_it_caught_up_with_the_rules_and_failures_come_back(log: Path) -> None:
    marker = iter([("rules", 1), ("rules", 2), ("rules", 2)])
    process = ActionProcess(partial(build, str(log)), lambda: next(marker))
    try:
        process.run_batch(["a", "b"])
        process.run_batch(["c"])
        with pytest.raises(RuntimeError, match=r"database gone while running \['fail'\]"):
            process.run_batch(["fail"])
    finally:
        process.close()
    child = str(process.pid)
    assert process.pid != os.getpid()
    assert log.read_text().splitlines() == [
        f"{child} catch_up ('rules', 1)", f"{child} ran a b",
        f"{child} catch_up ('rules', 2)", f"{child} ran c",
        f"{child} catch_up ('rules', 2)",
        f"{child} closed",
    ]


def test_a_child_that_dies_fails_the_batch_under_way_and_every_later_one(log: Path) -> None:
    process = ActionProcess(partial(build, str(log)), lambda: None)
    try:
        with pytest.raises(ActionProcessGone, match="exited"):
            process.run_batch(["die"])
        with pytest.raises(ActionProcessGone):
            process.run_batch(["a"])
    finally:
        process.close()
    assert not log.exists() or "ran" not in log.read_text()


def test_a_child_that_dies_between_batches_is_reported_to_on_gone(log: Path) -> None:
    """No batch under way (its relay thread crashed, say): the engine must still hear of it."""
    gone: list[str] = []
    process = ActionProcess(partial(build, str(log)), lambda: None, on_gone=gone.append)
    try:
        process.run_batch(["a"])
        assert process.pid is not None
        os.kill(process.pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while not gone and time.monotonic() < deadline:
            time.sleep(0.05)
        assert gone == ["the action process exited (code -9)"]
        with pytest.raises(ActionProcessGone):
            process.run_batch(["b"])
    finally:
        process.close()
    assert gone == ["the action process exited (code -9)"]  # closing is not a death


def test_closing_is_not_reported_as_a_death(log: Path) -> None:
    gone: list[str] = []
    ActionProcess(partial(build, str(log)), lambda: None, on_gone=gone.append).close()
    assert gone == []
    assert log.read_text().endswith("closed\n")
