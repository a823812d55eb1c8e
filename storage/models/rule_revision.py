"""One row per change to a rule: the audit trail, and the source of rollbacks."""

from __future__ import annotations

import uuid

from sqlalchemy import Index, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, synonym

from storage.models.base import Base, RevisionColumns, one_of

RULE_ACTIONS = ("create", "update", "enable", "disable", "rollback", "delete")


class RuleRevision(RevisionColumns, Base):
    """The rule's document as it stood after the change (for `delete`: as it stood before).

    There is no foreign key to `rules`: history must outlive a deleted rule, so the rule's name is
    copied here. Every change, deletion included, takes the next version number, which makes
    (rule_id, version) unique; a rule re-created with the same id continues after its last version.
    `changes` lists the top-level fields that changed: `[{"field", "old", "new"}, ...]`.
    """

    __tablename__ = "rule_revisions"
    __table_args__ = (
        UniqueConstraint("rule_id", "version"),
        one_of("action", RULE_ACTIONS),
        Index(None, "rule_name"),
    )
    __mapper_args__ = {"eager_defaults": True}

    rule_id: Mapped[uuid.UUID]
    rule_name: Mapped[str] = mapped_column(Text)
    owner_id: Mapped[uuid.UUID] = synonym("rule_id")
    owner_name: Mapped[str] = synonym("rule_name")
