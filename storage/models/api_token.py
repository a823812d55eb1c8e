"""An API token of `cepflow serve`: who may call the HTTP API, and with which role."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Text
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, CreatedAt, one_of

TOKEN_ROLES = ("viewer", "author", "operator", "admin")


class ApiToken(CreatedAt, Base):
    """Only the sha256 of the secret is stored: a leaked table does not leak working tokens.

    `name` is the caller's identity, recorded as `changed_by` / `executed_by` / `created_by` of
    what the token changes. A revoked token keeps its row (and its name) for the audit trail.
    """

    __tablename__ = "api_tokens"
    __table_args__ = (one_of("role", TOKEN_ROLES),)
    __mapper_args__ = {"eager_defaults": True}

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(Text, unique=True)
    role: Mapped[str] = mapped_column(Text)
    secret_sha256: Mapped[str] = mapped_column(Text, unique=True)
    created_by: Mapped[str] = mapped_column(Text)
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
