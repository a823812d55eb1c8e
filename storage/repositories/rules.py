"""Rules and their revisions: apply, enable/disable, delete, history, rollback, change marker."""

from __future__ import annotations

import builtins
import uuid
from typing import Any

from sqlalchemy import func, select

from storage.errors import InvalidSpec, NotFound
from storage.models import Rule, RuleRevision
from storage.repositories._documents import find_by_ref, given_id, read_document
from storage.repositories._versioned import VersionedRepository


class RuleRepository(VersionedRepository[Rule, RuleRevision]):
    """Composes statements on one session and flushes; the caller's unit of work commits.

    Every change writes a `RuleRevision` and takes the next version. A stored `spec` always holds
    the rule's `id` and its effective `active`, so the document alone says what the rule is.
    """

    model = Rule
    revision = RuleRevision
    kind = "rule"
    list_hint = "list the stored rules for its id or name"

    def apply(self, spec: dict[str, Any], changed_by: str) -> tuple[Rule, bool]:
        """Create or update the rule named by `spec` (or by its `id`); False when nothing changed.

        Like `kubectl apply`, the document is the truth: an omitted `active` means active, so
        re-applying a file re-enables a rule disabled since.
        """
        document = read_document(spec, "rule")
        active = document.get("active", True)
        if not isinstance(active, bool):
            msg = f"rule `active` must be true or false, got {active!r}"
            raise InvalidSpec(msg)
        return self._store({**document, "active": active}, given_id(document, "rule"), changed_by)

    def list(self, active_only: bool = False) -> builtins.list[Rule]:
        """All rules (or only active ones), by name."""
        stmt = select(Rule).order_by(Rule.name)
        if active_only:
            stmt = stmt.where(Rule.active.is_(True))
        return builtins.list(self.session.scalars(stmt))

    def set_active(self, ref: str | uuid.UUID, active: bool, changed_by: str) -> Rule:
        """Enable or disable a rule; a rule already in that state is returned unchanged."""
        rule = self._require(ref)
        if rule.active == active:
            return rule
        action = "enable" if active else "disable"
        return self._update(rule, {**rule.spec, "active": active}, changed_by, action)[0]

    def at_version(self, rule_id: uuid.UUID, version: int) -> RuleRevision | None:
        """The rule's document as it stood at `version` (a deleted rule's too), or None."""
        stmt = select(RuleRevision).where(RuleRevision.rule_id == rule_id, RuleRevision.version == version)
        return self.session.scalars(stmt).one_or_none()

    def rollback(self, ref: str | uuid.UUID, to_version: int, changed_by: str) -> Rule:
        """Store revision `to_version`'s spec (its `active` included) as a new version.

        A deleted rule comes back with its id. When the rule already equals that revision, it is
        returned unchanged.
        """
        rule_id = self._history_id(ref)
        revision = self.session.scalars(
            select(RuleRevision).where(RuleRevision.rule_id == rule_id, RuleRevision.version == to_version)
        ).one_or_none()
        if revision is None:
            kind = "rule revision"
            raise NotFound(kind, f"{ref} v{to_version}", "the rule's history lists the versions that exist")
        spec = dict(revision.spec)
        rule = find_by_ref(self.session, Rule, rule_id, lock=True)
        if rule is None:
            return self._create(spec, changed_by, "rollback")
        return self._update(rule, spec, changed_by, "rollback")[0]

    def change_marker(self) -> tuple[Any, ...]:
        """A value that differs after any committed rule change; the engine polls it for reload.

        Revision count and max id catch every change, concurrent commits included (a count never
        repeats); rule count and last update also catch edits made outside this repository.
        """
        stmt = select(
            select(func.count()).select_from(Rule).scalar_subquery(),
            select(func.max(Rule.updated_at)).scalar_subquery(),
            select(func.count()).select_from(RuleRevision).scalar_subquery(),
            select(func.max(RuleRevision.id)).scalar_subquery(),
        )
        return tuple(self.session.execute(stmt).one())

    def _columns(self, spec: dict[str, Any]) -> dict[str, Any]:
        return _columns(spec)


def _columns(spec: dict[str, Any]) -> dict[str, Any]:
    """The columns that repeat fields of the document."""
    return {
        "name": spec["name"],
        "active": spec["active"],
        "spec": spec,
        "owner": spec.get("owner"),
        "description": spec.get("description") or "",
    }
