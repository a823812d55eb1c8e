"""One row per change to a script API, kept like rule revisions."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import BigInteger, Identity, Index, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, CreatedAt, one_of

SCRIPT_API_ACTIONS = ("create", "update", "delete")


class ScriptApiRevision(CreatedAt, Base):
    """The script API's document after the change; no foreign key, so history outlives the row."""

    __tablename__ = "script_api_revisions"
    __table_args__ = (
        UniqueConstraint("script_api_id", "version"),
        one_of("action", SCRIPT_API_ACTIONS),
        Index(None, "script_api_name"),
    )
    __mapper_args__ = {"eager_defaults": True}

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    script_api_id: Mapped[uuid.UUID]
    script_api_name: Mapped[str] = mapped_column(Text)
    version: Mapped[int]
    action: Mapped[str] = mapped_column(Text)
    spec: Mapped[dict[str, Any]]
    changes: Mapped[list[dict[str, Any]]] = mapped_column(server_default="[]")
    changed_by: Mapped[str] = mapped_column(Text)
