"""The hand-written migration: at head, and equal to what the models declare."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine

from storage.migrate import SCRIPT_LOCATION, current
from storage.models import Base


@pytest.mark.integration
def test_database_is_at_head(engine: Engine, database_url: str) -> None:
    assert current(database_url) == "0002"


@pytest.mark.integration
def test_migration_matches_the_models(engine: Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_server_default": True})
        assert compare_metadata(context, Base.metadata) == []


def test_migration_scripts_ship_with_the_package() -> None:
    assert (SCRIPT_LOCATION / "env.py").is_file()
    assert (SCRIPT_LOCATION / "script.py.mako").is_file()
    assert (SCRIPT_LOCATION / "versions" / "0001_initial.py").is_file()
