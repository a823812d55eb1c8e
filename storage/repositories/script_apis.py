"""Script APIs (RULES.md §6) and their revisions: apply, get, list, history."""

from __future__ import annotations

import builtins
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.errors import Conflict, NotFound
from storage.models import ScriptApi, ScriptApiRevision
from storage.repositories._documents import (
    changes,
    duration_ms,
    find_by_ref,
    given_id,
    parse_uuid,
    read_document,
)

DEFAULT_TIMEOUT = "5s"
DEFAULT_MEMORY_MB = 256


class ScriptApiRepository:
    """Composes statements on one session and flushes; the caller's unit of work commits.

    A stored `spec` always holds the API's `id`. Every change writes a `ScriptApiRevision`.
    """

    def __init__(self, session: Session) -> None:
        self.session = session

    def apply(self, spec: dict[str, Any], changed_by: str) -> tuple[ScriptApi, bool]:
        """Create or update the API named by `spec` (or by its `id`); False when nothing changed."""
        document = read_document(spec, "script API")
        ident = given_id(document, "script API")
        ref: object = ident if ident is not None else document["name"]
        api = find_by_ref(self.session, ScriptApi, ref, lock=True)
        api_id = api.id if api is not None else ident or uuid.uuid4()
        document = {**document, "id": str(api_id)}
        columns = _columns(document)
        if api is None:
            self._ensure_name_free(document["name"], api_id)
            api = ScriptApi(id=api_id, version=1, **columns)
            self.session.add(api)
            self._record(api, "create", changes({}, document), changed_by)
        elif document == api.spec:
            return api, False
        else:
            if document["name"] != api.name:
                self._ensure_name_free(document["name"], api_id)
            diff = changes(api.spec, document)
            for column, value in columns.items():
                setattr(api, column, value)
            api.version += 1
            self._record(api, "update", diff, changed_by)
        self.session.flush()
        return api, True

    def get(self, ref: str | uuid.UUID) -> ScriptApi | None:
        """The API whose id or name is `ref`, or None."""
        return find_by_ref(self.session, ScriptApi, ref, lock=False)

    def delete(self, ref: str | uuid.UUID, changed_by: str) -> None:
        """Remove the API; its history stays, closed by a `delete` revision with its last spec."""
        api = find_by_ref(self.session, ScriptApi, ref, lock=True)
        if api is None:
            raise NotFound("script API", ref, "list the stored script APIs for its id or name")
        api.version += 1
        self._record(api, "delete", [], changed_by)
        self.session.delete(api)
        self.session.flush()

    def list(self) -> builtins.list[ScriptApi]:
        """All script APIs, by name."""
        return builtins.list(self.session.scalars(select(ScriptApi).order_by(ScriptApi.name)))

    def history(self, ref: str | uuid.UUID) -> builtins.list[ScriptApiRevision]:
        """Every revision of the API, oldest first; found by its id or by a name it had."""
        api_id = self._history_id(ref)
        stmt = select(ScriptApiRevision).where(ScriptApiRevision.script_api_id == api_id)
        return builtins.list(self.session.scalars(stmt.order_by(ScriptApiRevision.version)))

    def _record(
        self, api: ScriptApi, action: str, diff: builtins.list[dict[str, Any]], changed_by: str
    ) -> None:
        self.session.add(
            ScriptApiRevision(
                script_api_id=api.id,
                script_api_name=api.name,
                version=api.version,
                action=action,
                spec=api.spec,
                changes=diff,
                changed_by=changed_by,
            )
        )

    def _ensure_name_free(self, name: str, api_id: uuid.UUID) -> None:
        holder = self.session.scalar(
            select(ScriptApi.id).where(ScriptApi.name == name, ScriptApi.id != api_id)
        )
        if holder is not None:
            raise Conflict(
                f"script API name {name!r} already belongs to {holder}; apply without `id` to"
                " update that API, or choose another name"
            )

    def _history_id(self, ref: str | uuid.UUID) -> uuid.UUID:
        """The id whose history `ref` means: a live API's, else a past id, else a past name's."""
        api = self.get(ref)
        if api is not None:
            return api.id
        known = (
            select(ScriptApiRevision.script_api_id).order_by(ScriptApiRevision.id.desc()).limit(1)
        )
        ident = parse_uuid(ref)
        found = None
        if ident is not None:
            found = self.session.scalar(known.where(ScriptApiRevision.script_api_id == ident))
        if found is None:
            found = self.session.scalar(known.where(ScriptApiRevision.script_api_name == str(ref)))
        if found is None:
            raise NotFound("script API", ref, "list the stored script APIs for its id or name")
        return found


def _columns(spec: dict[str, Any]) -> dict[str, Any]:
    """The columns the script runner reads, with the contract's defaults."""
    return {
        "name": spec["name"],
        "type": spec.get("type", "script"),
        "language": spec.get("language", "python"),
        "source": spec.get("source", ""),
        "timeout_ms": duration_ms(spec.get("timeout", DEFAULT_TIMEOUT)),
        "memory_mb": spec.get("memory_mb", DEFAULT_MEMORY_MB),
        "spec": spec,
    }
