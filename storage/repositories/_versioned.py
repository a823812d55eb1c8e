"""What rules and script APIs share: named, versioned documents with a revision per change.

A subclass names its model, its revision model and its kind, and says which columns repeat fields
of the document (`_columns`); finding by id or name, creating and updating with a revision,
name clashes and history live here once.
"""

from __future__ import annotations

import builtins
import uuid
from typing import Any, ClassVar, Generic, TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage.errors import Conflict, NotFound
from storage.repositories._documents import changes, find_by_ref, parse_uuid

M = TypeVar("M", bound=Any)  # a stored document: id, name, version, spec (rules, script APIs)
R = TypeVar("R", bound=Any)  # its revision: owner_id and owner_name are synonyms of its columns


class VersionedRepository(Generic[M, R]):
    """Composes statements on one session and flushes; the caller's unit of work commits."""

    model: ClassVar[type[Any]]
    revision: ClassVar[type[Any]]
    kind: ClassVar[str]
    list_hint: ClassVar[str]

    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, ref: str | uuid.UUID) -> M | None:
        """The document whose id or name is `ref`, or None."""
        return find_by_ref(self.session, self.model, ref, lock=False)

    def history(self, ref: str | uuid.UUID) -> builtins.list[R]:
        """Every revision, oldest first; a deleted document is found by its id or a name it had."""
        stmt = select(self.revision).where(self.revision.owner_id == self._history_id(ref))
        return builtins.list(self.session.scalars(stmt.order_by(self.revision.version)))

    def delete(self, ref: str | uuid.UUID, changed_by: str) -> None:
        """Remove the document; its history stays, closed by a `delete` revision with its last spec."""
        row = self._require(ref)
        self._record(row.id, row.spec, row.version + 1, "delete", [], changed_by)
        self.session.delete(row)
        self.session.flush()

    def _columns(self, spec: dict[str, Any]) -> dict[str, Any]:
        """The columns that repeat fields of the document."""
        raise NotImplementedError

    def _store(self, document: dict[str, Any], ident: uuid.UUID | None, changed_by: str,
               action: str = "update") -> tuple[M, bool]:
        """Create or update the document found by `ident` (else its name); False when unchanged."""
        ref: object = ident if ident is not None else document["name"]
        row = find_by_ref(self.session, self.model, ref, lock=True)
        if row is None:
            created = {**document, "id": str(ident or uuid.uuid4())}
            return self._create(created, changed_by, "create"), True
        return self._update(row, {**document, "id": str(row.id)}, changed_by, action)

    def _require(self, ref: str | uuid.UUID) -> M:
        row = find_by_ref(self.session, self.model, ref, lock=True)
        if row is None:
            raise NotFound(self.kind, ref, self.list_hint)
        return row

    def _create(self, spec: dict[str, Any], changed_by: str, action: str) -> M:
        """A new row; a document re-created with its old id continues after its last version."""
        ident = uuid.UUID(spec["id"])
        self._ensure_name_free(spec["name"], ident)
        last = self.session.scalar(select(func.max(self.revision.version)).where(self.revision.owner_id == ident))
        row = self.model(id=ident, version=(last or 0) + 1, **self._columns(spec))
        self.session.add(row)
        self._record(ident, spec, row.version, action, changes({}, spec), changed_by)
        self.session.flush()
        return row

    def _update(self, row: M, spec: dict[str, Any], changed_by: str, action: str) -> tuple[M, bool]:
        if spec == row.spec:
            return row, False
        if spec["name"] != row.name:
            self._ensure_name_free(spec["name"], row.id)
        diff = changes(row.spec, spec)
        for column, value in self._columns(spec).items():
            setattr(row, column, value)
        row.version += 1
        self._record(row.id, spec, row.version, action, diff, changed_by)
        self.session.flush()
        return row, True

    def _record(self, ident: uuid.UUID, spec: dict[str, Any], version: int, action: str,
                diff: builtins.list[dict[str, Any]], changed_by: str) -> None:
        self.session.add(self.revision(owner_id=ident, owner_name=spec["name"], version=version, action=action,
                                       spec=spec, changes=diff, changed_by=changed_by))

    def _ensure_name_free(self, name: str, ident: uuid.UUID) -> None:
        holder = self.session.scalar(select(self.model.id).where(self.model.name == name, self.model.id != ident))
        if holder is not None:
            msg = (f"{self.kind} name {name!r} already belongs to {self.kind} {holder}; apply without `id` to"
                   f" update that {self.kind}, or choose another name")
            raise Conflict(msg)

    def _history_id(self, ref: str | uuid.UUID) -> uuid.UUID:
        """The id whose history `ref` means: a live document's, else a past id, else a past name's."""
        row = self.get(ref)
        if row is not None:
            return row.id
        known = select(self.revision.owner_id).order_by(self.revision.id.desc()).limit(1)
        ident = parse_uuid(ref)
        found = None
        if ident is not None:
            found = self.session.scalar(known.where(self.revision.owner_id == ident))
        if found is None:
            found = self.session.scalar(known.where(self.revision.owner_name == str(ref)))
        if found is None:
            raise NotFound(self.kind, ref, f"no {self.kind} or {self.kind} history has that id or name")
        return found
