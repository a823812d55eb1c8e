"""The action deadline and database outages (issue 12, found by `make chaos`): time spent waiting
for PostgreSQL does not count against the actions' deadline, so an execution retried after a
30 s outage still runs its webhook instead of failing at once as "past the deadline"."""

from __future__ import annotations

import time
from typing import Any

import psycopg
import pytest
from sqlalchemy.exc import OperationalError

from actions.pipeline import ActionPipeline, PipelineConfig
from dataflow.sealing import Sealer

OUTAGE_S = 1.0


def pipeline() -> ActionPipeline:
    config = PipelineConfig("dead", concurrency=1, deadline_s=0.5, sealer=Sealer(b"k" * 32))
    return ActionPipeline(None, None, lambda: None, lambda: None, config)  # type: ignore[arg-type]


def test_an_execution_retried_after_an_outage_keeps_its_time_left(monkeypatch: pytest.MonkeyPatch) -> None:
    p = pipeline()
    deadlines: list[float] = []

    def execute(execution: Any, actions: Any, *, by: str, deadline: float) -> list[Any]:
        deadlines.append(deadline)
        if len(deadlines) == 1:
            time.sleep(OUTAGE_S)  # the database stops answering for a while
            refused = psycopg.OperationalError("connection refused")
            raise OperationalError("INSERT", {}, refused)
        return []

    monkeypatch.setattr(p, "execute", execute)
    batch_deadline = time.monotonic() + 0.5
    p._settle(object(), None, by="stream", deadline=batch_deadline)  # type: ignore[arg-type]
    first, retried = deadlines
    assert first == pytest.approx(batch_deadline, abs=0.05)
    assert retried - time.monotonic() > 0.3  # not already past: the outage did not eat the budget
