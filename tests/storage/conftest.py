"""A real PostgreSQL for the storage tests: migrated once, each test in a transaction rolled back.

The database comes from CEPFLOW_TEST_DATABASE_URL (default: the local stack's cepflow_test).
When it cannot be reached the tests are skipped, unless CEPFLOW_REQUIRE_STACK is set: then they
fail, so a CI run with the stack cannot pass by skipping.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from storage.db import make_engine
from storage.migrate import downgrade, upgrade

DEFAULT_URL = "postgresql+psycopg://cepflow:cepflow@127.0.0.1:15432/cepflow_test"


@pytest.fixture(scope="session")
def database_url() -> str:
    return os.environ.get("CEPFLOW_TEST_DATABASE_URL", DEFAULT_URL)


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    """An engine on a freshly migrated schema: `public` is dropped and rebuilt by the migrations.

    Going up, down to base and up again also proves the downgrade path runs.
    """
    engine = make_engine(database_url, connect_args={"connect_timeout": 3})
    try:
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
    except OperationalError as exc:
        engine.dispose()
        cause = str(exc.orig).splitlines()[0]
        reason = f"PostgreSQL at {engine.url!r} is unreachable ({cause}); start it with stack/up"
        if os.environ.get("CEPFLOW_REQUIRE_STACK"):
            pytest.fail(f"CEPFLOW_REQUIRE_STACK is set but {reason}", pytrace=False)
        pytest.skip(reason)
    upgrade(database_url)
    downgrade(database_url, "base")
    upgrade(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def connection(engine: Engine) -> Iterator[Connection]:
    """One connection whose outer transaction is rolled back after the test."""
    with engine.connect() as connection:
        transaction = connection.begin()
        yield connection
        transaction.rollback()


@pytest.fixture
def session_factory(connection: Connection) -> sessionmaker[Session]:
    """Sessions joined to the test's transaction: their commits only release a savepoint."""
    return sessionmaker(
        bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint"
    )


@pytest.fixture
def session(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    with session_factory() as session:
        yield session
