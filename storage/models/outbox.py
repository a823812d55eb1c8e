"""The transactional outbox: Kafka messages committed together with the row that caused them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Identity, Index, LargeBinary, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, CreatedAt


class OutboxMessage(CreatedAt, Base):
    """One message for Kafka; `sent_at` is set once the broker acknowledged it.

    Written in the transaction of its `exec_logs` row, so a crash can never keep one without the
    other; the relay (`actions/outbox.py`) sends unsent rows in `id` order and marks them.
    `headers` is a list of `[name, value]` pairs (values as text).
    """

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_unsent", "id", postgresql_where=text("sent_at IS NULL")),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    topic: Mapped[str] = mapped_column(Text)
    key: Mapped[bytes | None] = mapped_column(LargeBinary)
    value: Mapped[bytes] = mapped_column(LargeBinary)
    headers: Mapped[list[Any]] = mapped_column(JSONB, default=list, server_default="[]")
    sent_at: Mapped[datetime | None]
