"""The API on the real test database (and Kafka where a call needs it), through FastAPI's client.

Every test gets its own topics (`stack`), a fresh app with its own resources, and one token per
role named after the test, so that what a token records can be told apart.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete

from cepflow.api import create_app
from cepflow.receiver import Receiver
from cepflow.resources import Resources
from storage.models import ApiToken, Silence
from storage.repositories.tokens import TokenRepository
from storage.uow import unit_of_work
from tests.integration.conftest import database, kafka, sessions, stack  # noqa: F401 - fixtures
from tests.integration.harness import EngineProcess, StackEnv

ROLES = ("viewer", "author", "operator", "admin")


@dataclass
class Api:
    """A client plus a token per role: `api.get(path, as_="viewer")` etc."""

    client: TestClient
    tokens: dict[str, str]
    names: dict[str, str]
    resources: Resources

    def headers(self, role: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"} if role else {}

    def call(self, method: str, path: str, as_: str | None = "admin", **kw: Any) -> Any:
        return self.client.request(method, path, headers={**self.headers(as_), **kw.pop("headers", {})}, **kw)

    def get(self, path: str, as_: str | None = "viewer", **kw: Any) -> Any:
        return self.call("GET", path, as_, **kw)

    def post(self, path: str, as_: str | None = "admin", **kw: Any) -> Any:
        return self.call("POST", path, as_, **kw)

    def put(self, path: str, as_: str | None = "admin", **kw: Any) -> Any:
        return self.call("PUT", path, as_, **kw)

    def delete(self, path: str, as_: str | None = "admin", **kw: Any) -> Any:
        return self.call("DELETE", path, as_, **kw)


@pytest.fixture()
def unique() -> str:
    return uuid.uuid4().hex[:8]


def _drop_silences(resources: Resources) -> None:
    """Silences of the test database: a group silence left behind would mute other tests' rules."""
    with unit_of_work(resources.sessions) as session:
        session.execute(delete(Silence))


@pytest.fixture()
def api(stack: StackEnv, unique: str) -> Iterator[Api]:  # noqa: F811 - the imported fixture
    resources = Resources(stack.settings())
    _drop_silences(resources)
    tokens: dict[str, str] = {}
    names: dict[str, str] = {}
    with unit_of_work(resources.sessions) as session:
        repo = TokenRepository(session)
        for role in ROLES:
            names[role] = f"{role}-{unique}"
            tokens[role] = repo.create(names[role], role, "pytest")[1]
    with TestClient(create_app(resources.settings, resources=resources)) as client:
        yield Api(client, tokens, names, resources)
    _drop_silences(resources)
    with unit_of_work(resources.sessions) as session:
        session.execute(delete(ApiToken).where(ApiToken.name.in_(list(names.values()))))
    resources.close()


@pytest.fixture()
def receiver() -> Iterator[Receiver]:
    with Receiver() as receiver:
        yield receiver


def hot_rule(name: str, receiver: Receiver, **extra: Any) -> dict[str, Any]:
    """value > 90, grouped by host, one webhook to the receiver."""
    return {"name": name, "where": {"field": "value", "op": "gt", "value": 90}, "group_by": ["host"],
            "action": {"endpoint": receiver.url("/hook"), "body": {"host": "{{ event.host }}"}}, **extra}


@pytest.fixture()
def engine(stack: StackEnv, tmp_path) -> Iterator[EngineProcess]:  # noqa: F811
    proc = EngineProcess(stack, tmp_path)
    yield proc
    proc.stop()
