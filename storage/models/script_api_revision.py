"""One row per change to a script API, kept like rule revisions."""

from __future__ import annotations

import uuid

from sqlalchemy import Index, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, synonym

from storage.models.base import Base, RevisionColumns, one_of

SCRIPT_API_ACTIONS = ("create", "update", "delete")


class ScriptApiRevision(RevisionColumns, Base):
    """The script API's document after the change; no foreign key, so history outlives the row."""

    __tablename__ = "script_api_revisions"
    __table_args__ = (
        UniqueConstraint("script_api_id", "version"),
        one_of("action", SCRIPT_API_ACTIONS),
        Index(None, "script_api_name"),
    )
    __mapper_args__ = {"eager_defaults": True}

    script_api_id: Mapped[uuid.UUID]
    script_api_name: Mapped[str] = mapped_column(Text)
    owner_id: Mapped[uuid.UUID] = synonym("script_api_id")
    owner_name: Mapped[str] = synonym("script_api_name")
