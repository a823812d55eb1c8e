"""Small helpers every command shares: errors that exit 2, JSON output, database sessions."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn

import click
import orjson
from sqlalchemy.orm import Session, sessionmaker

from cepflow.settings import get_settings


def fail(message: str) -> NoReturn:
    """A user error: message on stderr, exit status 2."""
    click.echo(f"error: {message}", err=True)
    sys.exit(2)


def print_json(value: Any) -> None:
    """One JSON document on stdout (datetimes and UUIDs as strings)."""
    click.echo(orjson.dumps(value, default=str).decode())


def open_sessions() -> sessionmaker[Session]:
    """A session factory on CEPFLOW_DATABASE_URL."""
    from storage.db import make_engine, make_session_factory

    return make_session_factory(make_engine(get_settings().database_url))


def parse_moment(value: str) -> datetime:
    """An ISO-8601 time with offset, or a duration back from now (`10m`, `2h`, `1d`);
    `ValueError` says which forms are accepted. Shared by `--since` and the HTTP API.
    """
    from rules.duration import parse_duration

    try:
        return datetime.now(UTC) - timedelta(milliseconds=parse_duration(value))
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        msg = f"expected an ISO-8601 time or a duration like 10m (got {value!r})"
        raise ValueError(msg) from None
    if parsed.tzinfo is None:
        msg = f"the time needs an offset, e.g. {value}+00:00"
        raise ValueError(msg)
    return parsed


def parse_since(value: str) -> datetime:
    """`--since`: an ISO-8601 time with offset, or a duration back from now (`10m`, `2h`, `1d`)."""
    try:
        return parse_moment(value)
    except ValueError as exc:
        fail(f"--since: {exc}")
