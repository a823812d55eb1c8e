"""Rules and their revisions: apply, enable/disable, delete, history, rollback, change marker."""

from __future__ import annotations

import builtins
import uuid
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage.errors import Conflict, InvalidSpec, NotFound
from storage.models import Rule, RuleRevision
from storage.repositories._documents import (
    changes,
    find_by_ref,
    given_id,
    parse_uuid,
    read_document,
)

_HISTORY_HINT = "the rule's history lists the versions that exist"


class RuleRepository:
    """Composes statements on one session and flushes; the caller's unit of work commits.

    Every change writes a `RuleRevision` and takes the next version. A stored `spec` always holds
    the rule's `id` and its effective `active`, so the document alone says what the rule is.
    """

    def __init__(self, session: Session) -> None:
        self.session = session

    def apply(self, spec: dict[str, Any], changed_by: str) -> tuple[Rule, bool]:
        """Create or update the rule named by `spec` (or by its `id`); False when nothing changed.

        Like `kubectl apply`, the document is the truth: an omitted `active` means active, so
        re-applying a file re-enables a rule disabled since.
        """
        document = read_document(spec, "rule")
        ident = given_id(document, "rule")
        active = document.get("active", True)
        if not isinstance(active, bool):
            raise InvalidSpec(f"rule `active` must be true or false, got {active!r}")
        ref: object = ident if ident is not None else document["name"]
        rule = find_by_ref(self.session, Rule, ref, lock=True)
        if rule is None:
            new_id = ident or uuid.uuid4()
            created = {**document, "id": str(new_id), "active": active}
            return self._create(created, changed_by, "create"), True
        updated = {**document, "id": str(rule.id), "active": active}
        return self._update(rule, updated, changed_by, "update")

    def get(self, ref: str | uuid.UUID) -> Rule | None:
        """The rule whose id or name is `ref`, or None."""
        return find_by_ref(self.session, Rule, ref, lock=False)

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

    def delete(self, ref: str | uuid.UUID, changed_by: str) -> None:
        """Remove the rule; its history stays, closed by a `delete` revision with its last spec."""
        rule = self._require(ref)
        self._record(rule.id, rule.spec, rule.version + 1, "delete", [], changed_by)
        self.session.delete(rule)
        self.session.flush()

    def history(self, ref: str | uuid.UUID) -> builtins.list[RuleRevision]:
        """Every revision of the rule, oldest first; a deleted rule is found by id or last name."""
        stmt = select(RuleRevision).where(RuleRevision.rule_id == self._history_id(ref))
        return builtins.list(self.session.scalars(stmt.order_by(RuleRevision.version)))

    def revision(self, rule_id: uuid.UUID, version: int) -> RuleRevision | None:
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
            select(RuleRevision).where(
                RuleRevision.rule_id == rule_id, RuleRevision.version == to_version
            )
        ).one_or_none()
        if revision is None:
            raise NotFound("rule revision", f"{ref} v{to_version}", _HISTORY_HINT)
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

    def _require(self, ref: str | uuid.UUID) -> Rule:
        rule = find_by_ref(self.session, Rule, ref, lock=True)
        if rule is None:
            raise NotFound("rule", ref, "list the stored rules for its id or name")
        return rule

    def _create(self, spec: dict[str, Any], changed_by: str, action: str) -> Rule:
        rule_id = uuid.UUID(spec["id"])
        self._ensure_name_free(spec["name"], rule_id)
        last = self.session.scalar(
            select(func.max(RuleRevision.version)).where(RuleRevision.rule_id == rule_id)
        )
        rule = Rule(id=rule_id, version=(last or 0) + 1, **_columns(spec))
        self.session.add(rule)
        self._record(rule_id, spec, rule.version, action, changes({}, spec), changed_by)
        self.session.flush()
        return rule

    def _update(
        self, rule: Rule, spec: dict[str, Any], changed_by: str, action: str
    ) -> tuple[Rule, bool]:
        if spec == rule.spec:
            return rule, False
        if spec["name"] != rule.name:
            self._ensure_name_free(spec["name"], rule.id)
        diff = changes(rule.spec, spec)
        for column, value in _columns(spec).items():
            setattr(rule, column, value)
        rule.version += 1
        self._record(rule.id, spec, rule.version, action, diff, changed_by)
        self.session.flush()
        return rule, True

    def _record(
        self,
        rule_id: uuid.UUID,
        spec: dict[str, Any],
        version: int,
        action: str,
        diff: builtins.list[dict[str, Any]],
        changed_by: str,
    ) -> None:
        self.session.add(
            RuleRevision(
                rule_id=rule_id,
                rule_name=spec["name"],
                version=version,
                action=action,
                spec=spec,
                changes=diff,
                changed_by=changed_by,
            )
        )

    def _ensure_name_free(self, name: str, rule_id: uuid.UUID) -> None:
        holder = self.session.scalar(select(Rule.id).where(Rule.name == name, Rule.id != rule_id))
        if holder is not None:
            raise Conflict(
                f"rule name {name!r} already belongs to rule {holder}; apply without `id` to"
                " update that rule, or choose another name"
            )

    def _history_id(self, ref: str | uuid.UUID) -> uuid.UUID:
        """The id whose history `ref` means: a live rule's, else a past id, else a past name's."""
        rule = self.get(ref)
        if rule is not None:
            return rule.id
        known = select(RuleRevision.rule_id).order_by(RuleRevision.id.desc()).limit(1)
        ident = parse_uuid(ref)
        found = None
        if ident is not None:
            found = self.session.scalar(known.where(RuleRevision.rule_id == ident))
        if found is None:
            found = self.session.scalar(known.where(RuleRevision.rule_name == str(ref)))
        if found is None:
            raise NotFound("rule", ref, "no rule or rule history has that id or name")
        return found


def _columns(spec: dict[str, Any]) -> dict[str, Any]:
    """The columns that repeat fields of the document."""
    return {
        "name": spec["name"],
        "active": spec["active"],
        "spec": spec,
        "owner": spec.get("owner"),
        "description": spec.get("description") or "",
    }
