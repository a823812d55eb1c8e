"""Script APIs (RULES.md §6) and their revisions: apply, get, list, history."""

from __future__ import annotations

import builtins
from typing import Any

from sqlalchemy import select

from storage.models import ScriptApi, ScriptApiRevision
from storage.repositories._documents import duration_ms, given_id, read_document
from storage.repositories._versioned import VersionedRepository

DEFAULT_TIMEOUT = "5s"
DEFAULT_MEMORY_MB = 256


class ScriptApiRepository(VersionedRepository[ScriptApi, ScriptApiRevision]):
    """Composes statements on one session and flushes; the caller's unit of work commits.

    A stored `spec` always holds the API's `id`. Every change writes a `ScriptApiRevision`.
    """

    model = ScriptApi
    revision = ScriptApiRevision
    kind = "script API"
    list_hint = "list the stored script APIs for its id or name"

    def apply(self, spec: dict[str, Any], changed_by: str) -> tuple[ScriptApi, bool]:
        """Create or update the API named by `spec` (or by its `id`); False when nothing changed."""
        document = read_document(spec, "script API")
        return self._store(document, given_id(document, "script API"), changed_by)

    def list(self) -> builtins.list[ScriptApi]:
        """All script APIs, by name."""
        return builtins.list(self.session.scalars(select(ScriptApi).order_by(ScriptApi.name)))

    def _columns(self, spec: dict[str, Any]) -> dict[str, Any]:
        return _columns(spec)


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
