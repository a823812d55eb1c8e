"""The unit of work commits on success and rolls back on error; the engine is configured small."""

from __future__ import annotations

import pytest
from sqlalchemy import Connection, Engine, text
from sqlalchemy.orm import Session, sessionmaker

from storage.db import make_engine, make_session_factory
from storage.repositories import RuleRepository
from storage.uow import unit_of_work

pytestmark = pytest.mark.integration


def test_commits_on_success_and_objects_stay_readable(
    session_factory: sessionmaker[Session], connection: Connection
) -> None:
    with unit_of_work(session_factory) as session:
        rule, _ = RuleRepository(session).apply({"name": "kept"}, "alice")
    assert rule.version == 1 and rule.created_at is not None  # readable after close
    with session_factory() as session:
        assert RuleRepository(session).get("kept") is not None


def test_rolls_back_on_error(session_factory: sessionmaker[Session]) -> None:
    with pytest.raises(RuntimeError), unit_of_work(session_factory) as session:
        RuleRepository(session).apply({"name": "dropped"}, "alice")
        raise RuntimeError("boom")
    with session_factory() as session:
        assert RuleRepository(session).get("dropped") is None


def test_engine_replaces_a_dead_pooled_connection(database_url: str, engine: Engine) -> None:
    pooled = make_engine(database_url)
    try:
        with pooled.connect() as connection:
            pid = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
        with engine.connect() as other:
            other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        with pooled.connect() as connection:  # pre-ping notices the dead one and reconnects
            assert connection.execute(text("SELECT pg_backend_pid()")).scalar_one() != pid
    finally:
        pooled.dispose()


def test_session_factory_keeps_objects_loaded_after_commit(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        assert make_session_factory(engine).kw["expire_on_commit"] is False
    finally:
        engine.dispose()
