"""A stored script API (RULES.md §6): what `api_script` actions run, addressed by id or name."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Text
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, Timestamps


class ScriptApi(Timestamps, Base):
    """`spec` is the whole document including `id`; the other columns repeat it for the runner.

    `timeout_ms` is the document's `timeout` in milliseconds; only `type == "script"` runs.
    """

    __tablename__ = "script_apis"
    __mapper_args__ = {"eager_defaults": True}

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(Text, unique=True)
    type: Mapped[str] = mapped_column(Text)
    language: Mapped[str] = mapped_column(Text)
    version: Mapped[int] = mapped_column(default=1, server_default="1")
    source: Mapped[str] = mapped_column(Text)
    timeout_ms: Mapped[int]
    memory_mb: Mapped[int]
    spec: Mapped[dict[str, Any]]
