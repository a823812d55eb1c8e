"""What route handlers share: the app's resources, a read session, a write unit of work."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Any

from fastapi import Request
from sqlalchemy.orm import Session

from cepflow.api.errors import bad_input
from cepflow.resources import Resources
from cepflow.userio import parse_moment
from storage.uow import unit_of_work


def resources(request: Request) -> Resources:
    """The resources `create_app` was built with (database, Kafka producer, action pipeline)."""
    return request.app.state.resources


def read_session(request: Request) -> Iterator[Session]:
    """A session for reads; never committed."""
    with resources(request).sessions() as session:
        yield session


def writing(request: Request) -> AbstractContextManager[Session]:
    """A unit of work: every change of one request commits together or not at all."""
    return unit_of_work(resources(request).sessions)


def moment(value: str | None, field: str) -> Any:
    """A query's time (ISO-8601 with offset, or a duration back from now), 400 naming `field`."""
    if value is None:
        return None
    try:
        return parse_moment(value)
    except ValueError as exc:
        raise bad_input(field, str(exc)) from None
