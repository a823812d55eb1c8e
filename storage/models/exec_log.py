"""The execution log (RULES.md §7): one row per execution, made idempotent by its key."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Double, Identity, Index, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, one_of

EXEC_STATUSES = ("success", "fail", "dry_run", "skipped")


class ExecLog(Base):
    """`idempotency_key` is unique so a replayed execution is written once, whoever writes it.

    `rule_id` has no foreign key: the log outlives deleted rules. `chain_id` is indexed to follow
    a chain of `trigger_rule` actions; (rule_id, created_at) serves a rule's recent executions.
    """

    __tablename__ = "exec_logs"
    __table_args__ = (
        one_of("status", EXEC_STATUSES),
        Index(None, "rule_id", "created_at"),
    )
    __mapper_args__ = {"eager_defaults": True}

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    rule_id: Mapped[uuid.UUID | None]
    rule_name: Mapped[str] = mapped_column(Text)
    rule_version: Mapped[int | None]
    status: Mapped[str] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[float] = mapped_column(Double, default=0.0, server_default="0")
    references: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default="{}")
    executed_by: Mapped[str] = mapped_column(Text)
    error_message: Mapped[str | None] = mapped_column(Text)
    idempotency_key: Mapped[str] = mapped_column(Text, unique=True)
    group_key: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default="{}")
    chain_id: Mapped[str | None] = mapped_column(Text, index=True)
    created_at: Mapped[datetime] = mapped_column(index=True, server_default=func.now())
