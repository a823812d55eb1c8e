"""A silence: executions of a rule, or of any rule whose group matches, skipped for a while."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, Index, Text
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, CreatedAt


class Silence(CreatedAt, Base):
    """Active from `starts_at` (inclusive) to `ends_at` (exclusive), by the database's clock.

    `rule_id` None means every rule; `group_values` `{}` means every group (at least one of the two is
    set). Expiring a silence early sets `ends_at` to now and `expired_by`: rows are never deleted,
    so a `silenced` log row can always be traced to its silence, author and comment.
    """

    __tablename__ = "silences"
    __table_args__ = (
        CheckConstraint("ends_at > starts_at", name="time_order"),
        Index(None, "ends_at"),
    )
    __mapper_args__ = {"eager_defaults": True}

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    rule_id: Mapped[uuid.UUID | None]
    rule_name: Mapped[str | None] = mapped_column(Text)
    group_values: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default="{}")
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    comment: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(Text)
    expired_by: Mapped[str | None] = mapped_column(Text)
