"""The action deadline and database outages (issue 12, found by `make chaos`): time the database
was down does not count against a batch's action deadline, so the executions of a batch that
waited out a 30 s outage still run their webhooks instead of failing at once as "past the
deadline" — the one that met the outage and the ones after it alike."""

from __future__ import annotations

import time
from typing import Any

import psycopg
import pytest
from sqlalchemy.exc import OperationalError

from actions.pipeline import ActionPipeline, PipelineConfig
from dataflow.sealing import Sealer

OUTAGE_S = 1.0
DEADLINE_S = 0.5


def test_executions_after_an_outage_keep_the_time_they_had_left(monkeypatch: pytest.MonkeyPatch) -> None:
    config = PipelineConfig("dead", concurrency=1, deadline_s=DEADLINE_S, sealer=Sealer(b"k" * 32))
    pipeline = ActionPipeline(None, None, lambda: None, lambda: None, config)  # type: ignore[arg-type]
    began = time.monotonic()
    deadlines: list[float] = []

    def execute(execution: Any, actions: Any, *, by: str, deadline: float) -> list[Any]:
        if time.monotonic() - began < OUTAGE_S:  # the database refuses connections for a while
            raise OperationalError("INSERT", {}, psycopg.OperationalError("connection refused"))
        deadlines.append(deadline - time.monotonic())  # the time left when the actions start
        return []

    monkeypatch.setattr(pipeline, "execute", execute)
    batch_deadline, mark = began + DEADLINE_S, pipeline._database.down_s()
    for execution in ("met the outage", "came after it"):
        pipeline._settle(execution, None, by="stream", deadline=batch_deadline, down_mark=mark)  # type: ignore[arg-type]
    assert len(deadlines) == 2
    assert all(left > DEADLINE_S / 2 for left in deadlines), deadlines
