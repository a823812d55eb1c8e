"""Outages are waited out (issue 12): a PRIVATE PostgreSQL is stopped for 20 s during a paced
stream (20 events/s); the engine pauses, resumes, and every event is logged exactly once."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from cepflow.receiver import Receiver
from storage.db import make_engine, make_session_factory
from storage.migrate import upgrade
from storage.models.exec_log import ExecLog
from tests.integration.detections import AppliedRules
from tests.integration.harness import EngineProcess, Feed, StackEnv, free_port, metric, metrics_env, wait_until
from tests.integration.private_postgres import PrivatePostgres

pytestmark = pytest.mark.integration

OUTAGE_S = 20


@pytest.fixture()
def private_pg() -> Iterator[PrivatePostgres]:
    server = PrivatePostgres()
    server.start()
    yield server
    server.destroy()


def test_postgresql_stopped_20s_during_a_stream_loses_and_duplicates_nothing(
        kafka: str, private_pg: PrivatePostgres, tmp_path: Path, unique: str) -> None:
    upgrade(private_pg.url)
    sessions = make_session_factory(make_engine(private_pg.url, connect_args={"connect_timeout": 2}))
    stack = StackEnv(kafka, private_pg.url)
    stack.ensure_topics()
    port = free_port()
    engine = EngineProcess(stack, tmp_path, env=metrics_env(port, tmp_path))
    feed = Feed(stack)
    with Receiver() as receiver:
        doc = {"name": f"ticks-{unique}", "match": {"topic": stack.events_topic, "type": "tick"},
               "action": {"endpoint": receiver.url("/tick"), "body": {"n": "{{ event.n }}"}}}
        rules = AppliedRules(sessions).apply(doc)
        engine.start()
        try:
            feed.thread.start()
            wait_until(lambda: len(receiver.requests) >= 40, 60, "the stream flowing")
            private_pg.stop()
            down_at = time.monotonic()
            while time.monotonic() - down_at < OUTAGE_S:
                assert engine.alive(), f"the engine exited during the outage:\n{engine.log()[-3000:]}"
                time.sleep(1)
            assert (metric(port, "cepflow_dependency_up", dependency="postgresql") == 0.0)
            private_pg.start()
            time.sleep(5)
            feed.stop.set()
            feed.thread.join(10)
            sent = feed.sent

            def logged() -> tuple[int, int] | None:
                assert engine.alive(), f"the engine exited:\n{engine.log()[-3000:]}"
                with sessions() as session:
                    total, distinct = session.execute(
                        select(func.count(), func.count(func.distinct(ExecLog.references["event_id"].astext)))
                        .where(ExecLog.rule_id == rules.ids[doc["name"]])).one()
                return (total, distinct) if total >= sent else None

            total, distinct = wait_until(logged, 90, f"{sent} exec_logs rows")
            time.sleep(2)
            assert logged() == (total, distinct) and total == distinct == sent, "lost or duplicated rows"
            assert {r.json["n"] for r in receiver.requests} == {str(n) for n in range(sent)}
            assert metric(port, "cepflow_dependency_up", dependency="postgresql") == 1.0
            assert (metric(port, "cepflow_outage_retries_total", dependency="postgresql") or 0) > 0
            assert "postgresql unavailable" in engine.log() and "postgresql is back" in engine.log()
            retries = metric(port, "cepflow_outage_retries_total", dependency="postgresql")
            print(f"outage {OUTAGE_S}s: {sent} events sent, {total} rows, {distinct} distinct, "
                  f"{len(receiver.requests)} webhooks, {retries:.0f} waits")
        finally:
            engine.stop()
            rules.delete()
