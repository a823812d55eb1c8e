"""Advisory locks across two real connections, and recognising lock_not_available (55P03)."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from storage import locks
from storage.locks import advisory_xact_lock, is_lock_not_available
from storage.records import ExecLogRecord
from storage.repositories.exec_logs import ExecLogRepository

pytestmark = pytest.mark.integration


def try_advisory_xact_lock(session: Session, namespace: str, key: str) -> bool:
    return bool(session.execute(select(locks.try_advisory_xact_lock(namespace, key))).scalar_one())


def test_a_held_lock_refuses_a_second_transaction_until_the_first_ends(engine: Engine) -> None:
    with Session(engine) as first, Session(engine) as second:
        assert try_advisory_xact_lock(first, "rule-group", "r1|web-1")
        assert try_advisory_xact_lock(first, "rule-group", "r1|web-1")  # re-entrant
        assert not try_advisory_xact_lock(second, "rule-group", "r1|web-1")
        assert try_advisory_xact_lock(second, "rule-group", "r1|web-2")
        second.rollback()

        first.commit()
        assert try_advisory_xact_lock(second, "rule-group", "r1|web-1")
        assert not try_advisory_xact_lock(first, "rule-group", "r1|web-1")
        second.rollback()


def test_a_lock_timeout_is_recognised_as_lock_not_available(engine: Engine) -> None:
    with Session(engine) as holder, Session(engine) as waiter:
        assert try_advisory_xact_lock(holder, "migrations", "x")
        waiter.execute(text("SET LOCAL lock_timeout = '50ms'"))
        with pytest.raises(DBAPIError) as caught:
            advisory_xact_lock(waiter, "migrations", "x")
        assert is_lock_not_available(caught.value)
        waiter.rollback()
        holder.rollback()


def test_other_errors_are_not_lock_not_available(engine: Engine) -> None:
    with Session(engine) as session, pytest.raises(DBAPIError) as caught:
        session.execute(text("SELECT 1/0"))
    assert not is_lock_not_available(caught.value)
    assert not is_lock_not_available(ValueError("could not obtain lock"))


def test_claim_checks_the_log_under_the_lock_in_one_statement(engine: Engine) -> None:
    lock = ("rule-group", "r1|web-9")
    row = ExecLogRecord(rule_name="r1", status="success", executed_by="stream", idempotency_key="claim-1")
    with Session(engine) as first, Session(engine) as second:
        assert ExecLogRepository(first).claim("claim-1", lock) == (False, True)
        assert ExecLogRepository(second).claim("claim-1", lock) == (False, False)  # held by `first`
        second.rollback()
        ExecLogRepository(first).insert([row])
        first.commit()
        assert ExecLogRepository(second).claim("claim-1", lock) == (True, True)  # logged meanwhile
        assert ExecLogRepository(second).claim("claim-2") == (False, True)  # no lock asked
        second.rollback()
        first.execute(text("DELETE FROM exec_logs WHERE idempotency_key = 'claim-1'"))
        first.commit()
