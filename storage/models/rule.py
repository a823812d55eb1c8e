"""A stored rule: the validated rule document plus the columns the engine filters and lists by."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Text
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, Timestamps


class Rule(Timestamps, Base):
    """`spec` is the whole document, including `id` and `active`, so it round-trips through apply.

    `name`, `active`, `owner` and `description` repeat fields of `spec` for queries; the repository
    keeps them equal. `version` grows by one on every change.
    """

    __tablename__ = "rules"
    __mapper_args__ = {"eager_defaults": True}

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(Text, unique=True)
    version: Mapped[int] = mapped_column(default=1, server_default="1")
    active: Mapped[bool] = mapped_column(default=True, server_default="true")
    spec: Mapped[dict[str, Any]]
    owner: Mapped[str | None] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text, default="", server_default="")
