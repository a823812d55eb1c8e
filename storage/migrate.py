"""Schema migrations driven from code: no alembic.ini, the scripts ship inside the package.

Each call runs in one transaction on its own connection (PostgreSQL DDL is transactional), and
`migrations/env.py` takes an advisory lock first, so engines starting together migrate once.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool

SCRIPT_LOCATION = Path(__file__).with_name("migrations")


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at `url` up to `revision` (default: the newest)."""
    _run(url, partial(command.upgrade, revision=revision))


def downgrade(url: str, revision: str) -> None:
    """Take the database at `url` back to `revision` (`base` drops every cepflow table)."""
    _run(url, partial(command.downgrade, revision=revision))


def new_revision(url: str, message: str, rev_id: str) -> None:
    """Write `migrations/versions/<rev_id>_<message>.py` from the models' difference with the
    database at `url` (which must be at head). A draft: review and edit it before committing.
    """
    _run(url, partial(command.revision, message=message, autogenerate=True, rev_id=rev_id))


def heads() -> set[str]:
    """The newest revision(s) of the shipped scripts: what `upgrade` brings a database to."""
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    return set(ScriptDirectory.from_config(config).get_heads())


def current(url: str) -> str | None:
    """The revision the database at `url` is at; None before the first upgrade."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def _run(url: str, operation: Callable[[Config], object]) -> None:
    """Run an Alembic command on one connection, committed when the command succeeds."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.begin() as connection:
            config = Config()
            config.set_main_option("script_location", str(SCRIPT_LOCATION))
            config.attributes["connection"] = connection
            operation(config)
    finally:
        engine.dispose()
