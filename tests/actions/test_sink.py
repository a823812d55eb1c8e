"""The action sink partition: actions run behind the dataflow, per (rule, group) in order, one
group never waiting for another's — and nothing is lost for it."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest

from actions import sink
from actions.sink import _ActionPartition
from dataflow.watermark import WatermarkClock


@dataclass(frozen=True)
class Ex:
    """An execution as far as the sink reads one: its lock key is (rule_id, group)."""

    name: str
    rule_id: str = "r"
    group: dict[str, Any] = field(default_factory=dict)


class Pipeline:
    """Records what ran; holds the executions named in `held` until `gate` is set; fails the
    groups holding a name in `fail`."""

    def __init__(self, held: set[str] | None = None) -> None:
        self.gate = threading.Event()
        self.held = held
        self.ran: list[list[str]] = []
        self.fail: set[str] = set()
        self.warmed = False
        self._lock = threading.Lock()

    def warm(self) -> None:
        self.warmed = True

    def run_batch(self, values: list[Ex]) -> list[Any]:
        names = [v.name for v in values]
        if self.held is None or self.held & set(names):
            self.gate.wait(10)
        if self.fail & set(names):
            raise RuntimeError(f"database gone while running {names}")
        with self._lock:
            self.ran.append(names)
        return []


def partition(pipeline: Pipeline, resume: list[Any] | None = None) -> _ActionPartition:
    return _ActionPartition(SimpleNamespace(pipeline=pipeline, clock=WatermarkClock(now=None)), resume)


def wait_for(check: Any, what: str) -> None:
    deadline = time.monotonic() + 5
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.005)


def test_write_returns_before_the_actions_and_the_snapshot_holds_what_is_pending() -> None:
    pipeline = Pipeline()
    part = partition(pipeline)
    started = time.monotonic()
    part.write_batch([Ex("a"), Ex("b")])
    part.write_batch([Ex("c")])
    assert time.monotonic() - started < 1 and pipeline.ran == []
    assert [v.name for v in part.snapshot()] == ["a", "b", "c"]
    pipeline.gate.set()
    part.close()
    assert pipeline.ran == [["a", "b"], ["c"]]  # one group: in order
    assert part.snapshot() == []


def test_a_slow_group_does_not_hold_up_the_other_groups_behind_it() -> None:
    pipeline = Pipeline(held={"slow"})
    part = partition(pipeline)
    part.write_batch([Ex("slow", rule_id="a"), Ex("fast-1", rule_id="b")])
    part.write_batch([Ex("fast-2", rule_id="b"), Ex("other", rule_id="a", group={"host": "h1"})])
    wait_for(lambda: len(pipeline.ran) == 3, "the groups other than the slow one ran")
    assert sorted(pipeline.ran) == [["fast-1"], ["fast-2"], ["other"]]
    assert pipeline.ran.index(["fast-1"]) < pipeline.ran.index(["fast-2"])  # one group: in order
    assert [v.name for v in part.snapshot()] == ["slow"]
    pipeline.gate.set()
    part.close()
    assert pipeline.ran[-1] == ["slow"]


def test_a_group_waits_for_its_own_earlier_executions() -> None:
    pipeline = Pipeline(held={"first"})
    part = partition(pipeline)
    part.write_batch([Ex("first")])
    part.write_batch([Ex("second")])
    part.write_batch([Ex("third"), Ex("elsewhere", rule_id="z")])
    wait_for(lambda: pipeline.ran == [["elsewhere"]], "the other group ran")
    time.sleep(0.05)
    assert pipeline.ran == [["elsewhere"]], "second and third must wait for first"
    assert [v.name for v in part.snapshot()] == ["first", "second", "third"]
    pipeline.gate.set()
    part.close()
    assert pipeline.ran == [["elsewhere"], ["first"], ["second"], ["third"]]


def test_resume_runs_the_pending_executions_first() -> None:
    pipeline = Pipeline()
    pipeline.gate.set()
    part = partition(pipeline, resume=[Ex("x"), Ex("y")])
    part.write_batch([Ex("z")])
    part.close()
    assert pipeline.ran == [["x", "y"], ["z"]]


def test_a_failed_group_fails_the_next_write_or_snapshot() -> None:
    pipeline = Pipeline()
    pipeline.fail = {"bad"}
    pipeline.gate.set()
    part = partition(pipeline)
    part.write_batch([Ex("bad")])
    deadline = time.monotonic() + 5
    with pytest.raises(RuntimeError, match="database gone"):
        while time.monotonic() < deadline:
            part.snapshot()
            time.sleep(0.01)


def test_the_dataflow_waits_when_too_many_executions_are_pending(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sink, "MAX_PENDING", 2)
    pipeline = Pipeline()
    part = partition(pipeline)
    part.write_batch([Ex("a"), Ex("b")])
    part.write_batch([Ex("c")])  # 2 pending: still room
    writer = threading.Thread(target=part.write_batch, args=([Ex("d")],))  # 3 pending: waits
    writer.start()
    writer.join(0.3)
    assert writer.is_alive(), "write_batch should wait for the actions ahead of it"
    pipeline.gate.set()
    writer.join(5)
    part.close()
    assert [v for batch in pipeline.ran for v in batch] == ["a", "b", "c", "d"]


def test_a_partition_opens_its_database_connections_when_built():
    pipeline = Pipeline()
    partition(pipeline).close()
    assert pipeline.warmed
