"""The engine honours a silence made through the API within the refresh period: a streamed
execution is logged `skipped`/`silenced` with the silence's id; once expired, it runs again."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from cepflow.receiver import Receiver
from tests.api.conftest import Api, hot_rule
from tests.integration.harness import EngineProcess, StackEnv, wait_until

pytestmark = pytest.mark.integration


def _rows(api: Api, name: str) -> list[dict]:
    return api.get("/executions", params={"rule": name, "limit": 100}).json()


def test_a_streamed_execution_is_silenced_then_runs_after_expiry(api: Api, stack: StackEnv, engine: EngineProcess,
                                                                receiver: Receiver, unique: str):
    name = f"eng-{unique}"
    api.put("/rules", as_="author", json=hot_rule(name, receiver))
    ends = (datetime.now(UTC) + timedelta(minutes=10)).isoformat()
    silence = api.post("/silences", as_="author", json={"rule": name, "ends_at": ends, "comment": "deploy"}).json()
    engine.start()
    now = int(time.time() * 1000)
    stack.produce([{"id": f"{unique}-1", "ts": now, "host": "web-1", "value": 99}])
    [row] = wait_until(lambda: _rows(api, name), 60, "the silenced row")
    assert (row["status"], row["reason"], row["executed_by"]) == ("skipped", "silenced", "stream")
    assert row["references"]["silence_id"] == silence["id"]
    assert receiver.requests == []
    api.delete(f"/silences/{silence['id']}", as_="author")
    time.sleep(1.0)  # the engine's refresh period is 0.3 s in tests
    stack.produce([{"id": f"{unique}-2", "ts": now + 1, "host": "web-1", "value": 99}])
    rows = wait_until(lambda: [r for r in _rows(api, name) if r["status"] == "success"], 30, "the next execution")
    assert len(rows) == 1 and len(receiver.wait_for(1, timeout=10)) == 1
