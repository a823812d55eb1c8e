"""Fixtures for tests on the real stack: the migrated test database, per-test topics, the engine."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient
from sqlalchemy import delete, text
from sqlalchemy.orm import Session, sessionmaker

from storage.db import make_engine, make_session_factory
from storage.migrate import upgrade
from storage.models import Rule
from tests.conftest import BROKERS, TEST_DATABASE_URL, stack_unavailable
from tests.integration.harness import EngineProcess, Feed, StackEnv

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def kafka() -> str:
    try:
        AdminClient({"bootstrap.servers": BROKERS}).list_topics(timeout=10)
    except Exception as exc:
        stack_unavailable(f"Kafka at {BROKERS}: {exc}")
    return BROKERS


@pytest.fixture(scope="session")
def database() -> str:
    try:
        with make_engine(TEST_DATABASE_URL).connect() as conn:
            conn.execute(text("select 1"))
    except Exception as exc:
        stack_unavailable(f"PostgreSQL at {TEST_DATABASE_URL}: {exc}")
    upgrade(TEST_DATABASE_URL)
    return TEST_DATABASE_URL


@pytest.fixture(scope="session")
def sessions(database: str) -> sessionmaker[Session]:
    return make_session_factory(make_engine(database))


@pytest.fixture()
def stack(kafka: str, database: str, sessions: sessionmaker[Session]) -> StackEnv:
    """A fresh engine environment; rules of earlier tests are removed so they cannot fire here."""
    with sessions.begin() as session:
        session.execute(delete(Rule))
    env = StackEnv(kafka, database)
    env.ensure_topics()
    return env


@pytest.fixture()
def engine(stack: StackEnv, tmp_path: Path) -> Iterator[EngineProcess]:
    proc = EngineProcess(stack, tmp_path)
    yield proc
    proc.stop()


@pytest.fixture()
def unique() -> str:
    """A suffix that makes rule names unique per test."""
    return uuid.uuid4().hex[:8]


@pytest.fixture()
def feed(stack: StackEnv) -> Iterator[Feed]:
    """Ticks every 50 ms on the events topic (real time), stopped after the test."""
    feed = Feed(stack)
    feed.thread.start()
    yield feed
    feed.stop.set()
    feed.thread.join(5)
