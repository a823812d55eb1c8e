"""Script APIs (the API manager): list, get, apply, delete, history, a test run.

Reading is for every role; changing and running code is for admins. Not-found and wrong-type
answers are the original system's (RULES.md §5): `API definition not found` (404),
`API is not a script type` (400).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Request
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from cepflow.api.auth import VIEWER, Caller, require
from cepflow.api.deps import read_session, writing
from cepflow.api.errors import ApiError
from rules.loader import parse_script_api_document
from storage.models import ScriptApi
from storage.repositories.script_apis import ScriptApiRepository

router = APIRouter(prefix="/script-apis", tags=["script APIs"], dependencies=[VIEWER])

NOT_FOUND = "API definition not found"


def view(api: ScriptApi, source: bool = False) -> dict[str, Any]:
    """A script API as the API shows it; its document (with the source) only when asked."""
    out = {"id": str(api.id), "name": api.name, "type": api.type, "language": api.language, "version": api.version,
           "timeout_ms": api.timeout_ms, "memory_mb": api.memory_mb, "updated_at": api.updated_at.isoformat()}
    return {**out, "spec": api.spec} if source else out


def _get(session: Session, ref: str) -> ScriptApi:
    api = ScriptApiRepository(session).get(ref)
    if api is None:
        raise ApiError(404, NOT_FOUND, [{"field": "ref", "message": f"no script API named or with id {ref!r}"}])
    return api


@router.get("")
def list_apis(session: Session = Depends(read_session)) -> list[dict[str, Any]]:
    """Every script API, by name."""
    return [view(api) for api in ScriptApiRepository(session).list()]


@router.put("")
def apply(request: Request, document: dict[str, Any] = Body(...),
          caller: Caller = Depends(require("admin"))) -> dict[str, Any]:
    """Create or update the script API the document names: a new version per change."""
    spec = parse_script_api_document(document, "request body")
    with writing(request) as session:
        api, changed = ScriptApiRepository(session).apply(spec.model_dump(mode="json"), caller.name)
        return {**view(api), "changed": changed}


@router.get("/{ref}")
def get(ref: str, session: Session = Depends(read_session)) -> dict[str, Any]:
    """One script API with its document (source included)."""
    return view(_get(session, ref), source=True)


@router.get("/{ref}/history")
def history(ref: str, session: Session = Depends(read_session)) -> list[dict[str, Any]]:
    """Every revision of the script API, oldest first."""
    return [{"version": r.version, "action": r.action, "changed_by": r.changed_by, "at": r.created_at.isoformat(),
             "changes": r.changes, "spec": r.spec} for r in ScriptApiRepository(session).history(ref)]


@router.delete("/{ref}")
def delete(ref: str, request: Request, caller: Caller = Depends(require("admin"))) -> dict[str, Any]:
    """Remove the script API; its history stays (a `delete` revision closes it)."""
    with writing(request) as session:
        _get(session, ref)
        ScriptApiRepository(session).delete(ref, caller.name)
    return {"deleted": ref}


class ScriptRunRequest(BaseModel):
    """The `params` and `input` of a test run."""

    params: dict[str, Any] = Field(default_factory=dict, description="Passed as `params`.")
    input: Any = Field(default_factory=dict, description="Passed as `input`.")


@router.post("/{ref}/test")
def test_run(ref: str, body: ScriptRunRequest, request: Request, caller: Caller = Depends(require("admin"))) -> dict[str, Any]:
    """Run once in the sandbox, outside the engine: `{output, logs, error, references}`."""
    from actions.api_script import run_once

    with request.app.state.resources.sessions() as session:
        api = _get(session, ref)
    if api.type != "script":
        raise ApiError(400, "API is not a script type", [{"field": "type", "message": f"is {api.type!r}"}])
    return run_once(api, body.params, body.input, caller.name)
