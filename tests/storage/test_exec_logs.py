"""ExecLogRepository against PostgreSQL: idempotent inserts, key lookups, filtered queries."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, update
from sqlalchemy.engine.interfaces import CacheStats
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from storage.errors import InvalidRow
from storage.models import ExecLog
from storage.records import RECORD_FIELDS, ExecLogRecord
from storage.repositories import ExecLogRepository

pytestmark = pytest.mark.integration

RULE_A = uuid.uuid4()
RULE_B = uuid.uuid4()


def row(key: str, **extra: Any) -> ExecLogRecord:
    values: dict[str, Any] = {
        "rule_id": RULE_A,
        "rule_name": "rule-a",
        "rule_version": 1,
        "status": "success",
        "duration_ms": 12.5,
        "references": {"action": "webhook", "response": {"status": 200}},
        "executed_by": "stream",
        "idempotency_key": key,
        "group_key": {"host": "web-1"},
    }
    values.update(extra)
    return ExecLogRecord(**values)


@pytest.fixture
def logs(session: Session) -> ExecLogRepository:
    return ExecLogRepository(session)


def test_insert_is_idempotent_on_the_key(logs: ExecLogRepository) -> None:
    assert logs.insert([row("k1"), row("k2")]) == 2
    assert logs.insert([row("k1")]) == 0
    assert logs.insert([row("k2"), row("k3"), row("k3")]) == 1
    assert logs.insert([]) == 0
    assert [logs.claim(k)[0] for k in ("k1", "k3", "k9")] == [True, True, False]


def test_inserting_reuses_the_compiled_statement(logs: ExecLogRepository) -> None:
    """SQLAlchemy never caches its PostgreSQL `insert()` construct (ON CONFLICT has no cache key):
    compiling it for every execution cost the action threads 0.5 ms each (issue 14)."""
    seen: list[CacheStats] = []

    def record(*args: Any) -> None:
        statement, context = args[2], args[4]
        if statement.startswith("INSERT INTO exec_logs"):
            seen.append(context.cache_hit)

    bind = logs.session.get_bind()
    event.listen(bind, "after_cursor_execute", record)
    try:
        logs.insert([row("compiled-1")])
        logs.insert([row("compiled-2")])
    finally:
        event.remove(bind, "after_cursor_execute", record)
    assert seen[-1] == CacheStats.CACHE_HIT


def test_insert_fills_defaults_and_accepts_rows_of_different_shapes(
    logs: ExecLogRepository,
) -> None:
    minimal = ExecLogRecord(rule_name="manual", status="dry_run", executed_by="cli", idempotency_key="m1")
    assert logs.insert([minimal, row("full", reason=None, chain_id="c1")]) == 2
    stored = {log.idempotency_key: log for log in logs.query()}
    manual = stored["m1"]
    assert manual.references == {} and manual.group_key == {} and manual.duration_ms == 0
    assert manual.rule_id is None and manual.created_at.tzinfo is not None
    assert stored["full"].references["response"] == {"status": 200}


def test_insert_refuses_rows_it_would_lose_or_the_database_would_reject(
    logs: ExecLogRepository,
) -> None:
    with pytest.raises(InvalidRow, match=r"'bad' has status 'fired'"):
        logs.insert([row("ok"), row("bad", status="fired")])
    with pytest.raises(TypeError, match="group"):
        row("typo", group={"host": "web-1"})  # a record has the row's fields and no others
    with pytest.raises(InvalidRow, match=r"lacks one of rule_name, executed_by"):
        logs.insert([row("anonymous", executed_by="")])
    assert logs.claim("ok") == (False, True)


def test_the_record_maps_one_to_one_to_the_row() -> None:
    columns = {c.key for c in ExecLog.__table__.columns} - {"id", "created_at"}  # both set by the database
    assert set(RECORD_FIELDS) == columns


def test_the_database_also_refuses_an_unknown_status(session: Session) -> None:
    with pytest.raises(IntegrityError, match="ck_exec_logs_status"):
        session.add(ExecLog(rule_name="r", status="fired", executed_by="s", idempotency_key="x"))
        session.flush()


def test_query_filters_and_orders_newest_first(logs: ExecLogRepository) -> None:
    now = datetime.now(UTC)
    logs.insert(
        [
            row("old"),
            row("fail", status="fail", error_message="boom"),
            row("chain-1", rule_id=RULE_B, chain_id="c1"),
            row("chain-2", rule_id=RULE_B, chain_id="c1"),
            row("skip", status="skipped", reason="cooldown"),
        ]
    )
    ages = {"old": timedelta(hours=2), "fail": timedelta(minutes=5), "chain-1": timedelta(minutes=2),
            "chain-2": timedelta(minutes=1), "skip": timedelta(0)}
    for key, age in ages.items():  # the database stamps created_at; set it as the test needs
        logs.session.execute(update(ExecLog).where(ExecLog.idempotency_key == key).values(created_at=now - age))

    def keys(**filters: Any) -> list[str]:
        return [log.idempotency_key for log in logs.query(**filters)]

    assert keys() == ["skip", "chain-2", "chain-1", "fail", "old"]
    assert keys(rule_id=RULE_A) == ["skip", "fail", "old"]
    assert keys(rule_id=str(RULE_B)) == ["chain-2", "chain-1"]
    assert keys(status="fail") == ["fail"]
    assert keys(chain_id="c1") == ["chain-2", "chain-1"]
    assert keys(since=now - timedelta(minutes=10)) == ["skip", "chain-2", "chain-1", "fail"]
    assert keys(rule_id=RULE_A, status="skipped", since=now) == ["skip"]
    assert keys(limit=2) == ["skip", "chain-2"]
    with pytest.raises(ValueError, match="timezone-aware"):
        logs.query(since=now.replace(tzinfo=None))
