"""One row per change to a rule: the audit trail, and the source of rollbacks."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import BigInteger, Identity, Index, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, CreatedAt, one_of

RULE_ACTIONS = ("create", "update", "enable", "disable", "rollback", "delete")


class RuleRevision(CreatedAt, Base):
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

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    rule_id: Mapped[uuid.UUID]
    rule_name: Mapped[str] = mapped_column(Text)
    version: Mapped[int]
    action: Mapped[str] = mapped_column(Text)
    spec: Mapped[dict[str, Any]]
    changes: Mapped[list[dict[str, Any]]] = mapped_column(server_default="[]")
    changed_by: Mapped[str] = mapped_column(Text)
