"""ScriptApiRepository against PostgreSQL: apply with versions and revisions, get, list, history."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy.orm import Session

from storage.errors import Conflict, InvalidSpec, NotFound
from storage.repositories import ScriptApiRepository

pytestmark = pytest.mark.integration

SOURCE = "def main(params, input, context):\n    return {'ticket': 'INC-1'}\n"


def api_spec(name: str = "open-incident", **extra: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"name": name, "type": "script", "language": "python", "source": SOURCE}
    spec.update(extra)
    return spec


@pytest.fixture
def apis(session: Session) -> ScriptApiRepository:
    return ScriptApiRepository(session)


def test_apply_create_no_op_update(apis: ScriptApiRepository) -> None:
    api, changed = apis.apply(api_spec(), "alice")
    assert changed and api.version == 1 and api.spec["id"] == str(api.id)
    assert (api.type, api.language, api.timeout_ms, api.memory_mb) == (
        "script",
        "python",
        5000,
        256,
    )

    assert apis.apply(api_spec(), "alice") == (api, False)

    updated, changed = apis.apply(api_spec(timeout="750ms", memory_mb=128), "bob")
    assert (
        changed and updated.version == 2 and (updated.timeout_ms, updated.memory_mb) == (750, 128)
    )
    history = apis.history("open-incident")
    assert [(r.version, r.action, r.changed_by) for r in history] == [
        (1, "create", "alice"),
        (2, "update", "bob"),
    ]
    assert [change["field"] for change in history[1].changes] == ["memory_mb", "timeout"]


def test_get_list_and_given_id(apis: ScriptApiRepository) -> None:
    given = uuid.uuid4()
    api, _ = apis.apply(api_spec("b-api", id=str(given), type="http"), "alice")
    apis.apply(api_spec("a-api"), "alice")
    assert api.id == given and api.type == "http"
    assert apis.get(given) is api and apis.get(str(given)) is api and apis.get("b-api") is api
    assert apis.get("missing") is None
    assert [a.name for a in apis.list()] == ["a-api", "b-api"]


def test_history_follows_a_rename_and_errors_are_clear(apis: ScriptApiRepository) -> None:
    api, _ = apis.apply(api_spec(), "alice")
    apis.apply(api_spec("open-ticket", id=str(api.id)), "alice")
    assert [r.script_api_name for r in apis.history("open-incident")] == [
        "open-incident",
        "open-ticket",
    ]
    with pytest.raises(NotFound, match="script API 'nope' not found"):
        apis.history("nope")
    with pytest.raises(Conflict):
        apis.apply(api_spec("open-ticket", id=str(uuid.uuid4())), "alice")
    with pytest.raises(InvalidSpec, match="duration"):
        apis.apply(api_spec("slow", timeout="5 minutes"), "alice")
