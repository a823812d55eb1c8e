"""Advisory locks across two real connections, and recognising lock_not_available (55P03)."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from storage.locks import (
    advisory_xact_lock,
    is_lock_not_available,
    try_advisory_xact_lock,
)

pytestmark = pytest.mark.integration


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
