"""What the versioned repositories share: reading a document, finding a row by id or name, diffs."""

from __future__ import annotations

import json
import uuid
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from rules.duration import parse_duration
from storage.errors import InvalidSpec
from storage.models import Rule, ScriptApi

Named = TypeVar("Named", Rule, ScriptApi)



def parse_uuid(ref: object) -> uuid.UUID | None:
    """`ref` as a UUID when it is one (or spells one), else None: refs are ids or names."""
    if isinstance(ref, uuid.UUID):
        return ref
    try:
        return uuid.UUID(str(ref))
    except ValueError:
        return None


def read_document(spec: dict[str, Any], kind: str) -> dict[str, Any]:
    """A JSON copy of `spec` with a non-empty `name`, compared later exactly as JSONB returns it.

    The round trip turns tuples into lists and fails early, with the field-free reason, on values
    that JSONB could not store.
    """
    try:
        document = json.loads(json.dumps(spec, allow_nan=False))
    except (TypeError, ValueError) as exc:
        msg = f"{kind} document is not plain JSON ({exc}); validate it first"
        raise InvalidSpec(msg) from exc
    if not isinstance(document, dict):
        msg = f"{kind} document must be a mapping, got {type(spec).__name__}"
        raise InvalidSpec(msg)
    name = document.get("name")
    if not isinstance(name, str) or not name.strip():
        msg = f"{kind} document needs a non-empty string `name`"
        raise InvalidSpec(msg)
    return document


def given_id(document: dict[str, Any], kind: str) -> uuid.UUID | None:
    """The document's own `id`, which must be honoured on create; None when it has none."""
    raw = document.get("id")
    if raw is None:
        return None
    ident = parse_uuid(raw)
    if ident is None:
        msg = f"{kind} `id` {raw!r} is not a UUID; remove it to have one assigned"
        raise InvalidSpec(msg)
    return ident


def changes(old: dict[str, Any], new: dict[str, Any]) -> list[dict[str, Any]]:
    """The top-level fields that differ, each as {field, old, new}; a missing one reads None."""
    return [
        {"field": key, "old": old.get(key), "new": new.get(key)}
        for key in sorted(old.keys() | new.keys())
        if old.get(key) != new.get(key) or (key in old) != (key in new)
    ]


def duration_ms(value: object) -> int:
    """A contract duration (`500ms`, `30s`, `5m`, `2h`, `1d`) or a number of ms, in ms."""
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise InvalidSpec(str(exc)) from None


def find_by_ref(session: Session, model: type[Named], ref: object, *, lock: bool) -> Named | None:
    """The row whose id (when `ref` spells a UUID) or else whose name is `ref`.

    With `lock`, the row is locked FOR UPDATE and re-read, so a concurrent change to the same row
    waits for this transaction and then sees its version instead of reusing a stale one.
    """
    stmt = select(model)
    if lock:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    ident = parse_uuid(ref)
    if ident is not None:
        found = session.scalars(stmt.where(model.id == ident)).one_or_none()
        if found is not None:
            return found
    return session.scalars(stmt.where(model.name == str(ref))).one_or_none()
