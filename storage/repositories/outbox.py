"""The outbox (`storage.models.outbox`): add messages, take the unsent ones, mark them sent."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from storage.models.outbox import OutboxMessage
from storage.storable import storable_json


@dataclass(frozen=True, slots=True)
class Pending:
    """An unsent outbox row, as the relay needs it."""

    id: int
    topic: str
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...]


class OutboxRepository:
    """Writes and reads `outbox`; never commits."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, messages: Iterable[tuple[str, bytes | None, bytes, Sequence[tuple[str, bytes]]]]) -> int:
        """Queue `(topic, key, value, headers)` messages in the caller's transaction."""
        rows = [
            {"topic": topic, "key": key, "value": value,
             "headers": storable_json([[name, raw.decode("utf-8", "replace")] for name, raw in headers], "headers", [])}
            for topic, key, value, headers in messages
        ]
        if rows:
            self.session.execute(insert(OutboxMessage), rows)
        return len(rows)

    def take_unsent(self, limit: int) -> list[Pending]:
        """The oldest unsent messages, locked for this transaction; rows another relay holds are
        skipped (`SKIP LOCKED`), so two relays never send one row at the same time.
        """
        stmt = (
            select(OutboxMessage.id, OutboxMessage.topic, OutboxMessage.key, OutboxMessage.value,
                   OutboxMessage.headers)
            .where(OutboxMessage.sent_at.is_(None))
            .order_by(OutboxMessage.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return [Pending(id_, topic, key, value, _headers(headers))
                for id_, topic, key, value, headers in self.session.execute(stmt)]

    def mark_sent(self, ids: Sequence[int]) -> None:
        """Record that Kafka acknowledged these messages."""
        if ids:
            self.session.execute(update(OutboxMessage).where(OutboxMessage.id.in_(ids)).values(sent_at=func.now()))

    def purge_sent(self, older_than_s: float) -> int:
        """Delete messages sent more than `older_than_s` seconds ago; returns how many."""
        cutoff = func.now() - func.make_interval(0, 0, 0, 0, 0, 0, older_than_s)
        stmt = delete(OutboxMessage).where(OutboxMessage.sent_at <= cutoff)
        return int(self.session.execute(stmt).rowcount)  # type: ignore[attr-defined]  # a CursorResult

    def unsent_count(self) -> int:
        return int(self.session.execute(select(func.count()).where(OutboxMessage.sent_at.is_(None))).scalar_one())


def _headers(stored: list[Any]) -> tuple[tuple[str, bytes], ...]:
    return tuple((str(name), str(value).encode()) for name, value in stored)
