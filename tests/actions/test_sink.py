"""The action sink partition: actions run behind the dataflow, and nothing is lost for it."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace
from typing import Any

import pytest

from actions import sink
from actions.sink import _ActionPartition
from dataflow.watermark import WatermarkClock


class Pipeline:
    """Records batches; blocks while `gate` is clear; fails the batches named in `fail`."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.ran: list[list[Any]] = []
        self.fail: set[str] = set()

    def run_batch(self, values: list[Any]) -> list[Any]:
        self.gate.wait(10)
        if self.fail & set(values):
            raise RuntimeError(f"database gone while running {values}")
        self.ran.append(values)
        return []


def partition(pipeline: Pipeline, resume: list[Any] | None = None) -> _ActionPartition:
    return _ActionPartition(SimpleNamespace(pipeline=pipeline, clock=WatermarkClock(now=None)), resume)


def test_write_returns_before_the_actions_and_the_snapshot_holds_what_is_pending() -> None:
    pipeline = Pipeline()
    part = partition(pipeline)
    started = time.monotonic()
    part.write_batch(["a", "b"])
    part.write_batch(["c"])
    assert time.monotonic() - started < 1 and pipeline.ran == []
    assert part.snapshot() == ["a", "b", "c"]
    pipeline.gate.set()
    part.close()
    assert pipeline.ran == [["a", "b"], ["c"]]  # in order
    assert part.snapshot() == []


def test_resume_runs_the_pending_executions_first() -> None:
    pipeline = Pipeline()
    pipeline.gate.set()
    part = partition(pipeline, resume=["x", "y"])
    part.write_batch(["z"])
    part.close()
    assert pipeline.ran == [["x", "y"], ["z"]]


def test_a_failed_batch_fails_the_next_write_or_snapshot() -> None:
    pipeline = Pipeline()
    pipeline.fail = {"bad"}
    pipeline.gate.set()
    part = partition(pipeline)
    part.write_batch(["bad"])
    deadline = time.monotonic() + 5
    with pytest.raises(RuntimeError, match="database gone"):
        while time.monotonic() < deadline:
            part.snapshot()
            time.sleep(0.01)


def test_the_dataflow_waits_when_too_many_executions_are_pending(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sink, "MAX_PENDING", 2)
    pipeline = Pipeline()
    part = partition(pipeline)
    part.write_batch(["a", "b"])
    part.write_batch(["c"])  # 2 pending: still room
    writer = threading.Thread(target=part.write_batch, args=(["d"],))  # 3 pending: waits
    writer.start()
    writer.join(0.3)
    assert writer.is_alive(), "write_batch should wait for the actions ahead of it"
    pipeline.gate.set()
    writer.join(5)
    part.close()
    assert [v for batch in pipeline.ran for v in batch] == ["a", "b", "c", "d"]
