"""OutboxRepository and poison values on PostgreSQL: the outbox takes, locks and marks rows; the
execution log stores rows holding NUL, lone surrogates and NaN, escaped and flagged."""

from __future__ import annotations

import math
import uuid

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from storage.models import ExecLog
from storage.records import ExecLogRecord
from storage.repositories import ExecLogRepository
from storage.repositories.outbox import OutboxRepository
from storage.storable import unescape

pytestmark = pytest.mark.integration


def test_added_messages_are_taken_in_order_then_marked_sent(session: Session) -> None:
    outbox = OutboxRepository(session)
    before = outbox.unsent_count()
    outbox.add([("t1", b"k1", b"v1", [("h", b"x")]), ("t2", None, b"v2", [])])
    assert outbox.unsent_count() == before + 2
    taken = [p for p in outbox.take_unsent(10_000) if p.topic in ("t1", "t2")][-2:]
    assert [(p.topic, p.key, p.value, p.headers) for p in taken] == [
        ("t1", b"k1", b"v1", (("h", b"x"),)), ("t2", None, b"v2", ())]
    outbox.mark_sent([p.id for p in taken])
    assert outbox.unsent_count() == before
    assert outbox.purge_sent(0) >= 2


def test_a_row_locked_by_one_relay_is_skipped_by_another(engine: Engine) -> None:
    sessions = sessionmaker(bind=engine, expire_on_commit=False)
    with sessions.begin() as setup:
        OutboxRepository(setup).add([("lock-test", None, uuid.uuid4().bytes, [])])
    try:
        with sessions() as first, sessions() as second:
            mine = {p.id for p in OutboxRepository(first).take_unsent(10_000)}
            theirs = {p.id for p in OutboxRepository(second).take_unsent(10_000)}
            assert mine and not (mine & theirs)
            first.rollback()
            second.rollback()
    finally:
        with sessions.begin() as cleanup:
            outbox = OutboxRepository(cleanup)
            outbox.mark_sent([p.id for p in outbox.take_unsent(10_000)])
            outbox.purge_sent(0)


def test_poison_values_are_stored_escaped_and_flagged(session: Session) -> None:
    logs = ExecLogRepository(session)
    key = f"poison-\x00-{uuid.uuid4()}"
    row = {"rule_id": uuid.uuid4(), "rule_name": "r\x00", "status": "fail", "executed_by": "stream",
           "idempotency_key": key, "error_message": "bad \ud800 answer", "group_key": {"host": "h\x00"},
           "references": {"event_id": "e\x00", "actions": [{"response": "x\ud83d", "n": math.inf}]}}
    assert logs.insert([ExecLogRecord(**row)]) == 1
    assert logs.claim(key) == (True, True)  # the claim escapes the key the same way: a replay is seen
    assert logs.insert([ExecLogRecord(**row)]) == 0
    stored = session.scalars(select(ExecLog).where(ExecLog.rule_id == row["rule_id"])).one()
    assert unescape(stored.idempotency_key) == key
    assert unescape(stored.group_key["host"]) == "h\x00"
    assert unescape(stored.references["event_id"]) == "e\x00"
    assert unescape(stored.error_message) == "bad \ud800 answer"
    assert sorted(stored.references["escaped"]) == sorted([
        "rule_name", "error_message", "idempotency_key", "references.event_id",
        "references.actions.0.response", "references.actions.0.n", "group_key.host"])
