"""The execution log (RULES.md §7): idempotent batch inserts, key lookups, filtered reads."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from storage.errors import InvalidRow
from storage.locks import try_advisory_xact_lock
from storage.models import EXEC_STATUSES, ExecLog
from storage.records import ExecLogRecord


class ExecLogRepository:
    """Writes and reads `exec_logs`; never commits."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def insert(self, records: Iterable[ExecLogRecord]) -> int:
        """Insert records; returns how many were new.

        `ON CONFLICT (idempotency_key) DO NOTHING` makes a replay, a retry or a second worker
        writing the same execution harmless, also for duplicates inside one batch.
        """
        batch = [_checked(record) for record in records]
        if not batch:
            return 0
        stmt = (
            insert(ExecLog)
            .on_conflict_do_nothing(index_elements=[ExecLog.idempotency_key])
            .returning(ExecLog.id)
        )
        return len(self.session.execute(stmt, batch).all())

    def claim(self, key: str, lock: tuple[str, str] | None = None) -> tuple[bool, bool]:
        """(already logged, lock taken) for idempotency `key`, in one round trip.

        `lock` is the advisory lock `(namespace, name)` to try in this transaction (see
        `storage.locks`); without one, "lock taken" is True. Checking the log under the lock
        means a concurrent writer of the same execution cannot slip in between.
        """
        logged = exists().where(ExecLog.idempotency_key == key)
        if lock is None:
            return bool(self.session.execute(select(logged)).scalar_one()), True
        got, already = self.session.execute(select(try_advisory_xact_lock(*lock), logged)).one()
        return bool(already), bool(got)

    def query(
        self,
        rule_id: uuid.UUID | str | None = None,
        status: str | None = None,
        chain_id: str | None = None,
        since: datetime | None = None,
        limit: int = 100,
    ) -> list[ExecLog]:
        """The newest `limit` rows matching every filter given, newest first.

        `since` must carry a time zone: a naive one would be read in the server's zone.
        """
        if since is not None and since.tzinfo is None:
            msg = "`since` must be timezone-aware, e.g. datetime.now(UTC)"
            raise ValueError(msg)
        stmt = select(ExecLog)
        if rule_id is not None:
            stmt = stmt.where(ExecLog.rule_id == uuid.UUID(str(rule_id)))
        if status is not None:
            stmt = stmt.where(ExecLog.status == status)
        if chain_id is not None:
            stmt = stmt.where(ExecLog.chain_id == chain_id)
        if since is not None:
            stmt = stmt.where(ExecLog.created_at >= since)
        stmt = stmt.order_by(ExecLog.created_at.desc(), ExecLog.id.desc()).limit(limit)
        return list(self.session.scalars(stmt))

    def statuses_by_key_prefix(self, prefix: str) -> dict[str, str]:
        """`{idempotency key: status}` of the rows whose key starts with `prefix` (redrive attempts)."""
        escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        stmt = select(ExecLog.idempotency_key, ExecLog.status).where(ExecLog.idempotency_key.like(escaped + "%"))
        return {key: status for key, status in self.session.execute(stmt)}


def _checked(record: ExecLogRecord) -> dict[str, Any]:
    """The record's row, refused before the database sees it when it would be rejected: a bad row
    would abort the whole batch's transaction, so it is caught here with the row's key in the message.
    """
    where = f"exec log row {record.idempotency_key!r}"
    if record.status not in EXEC_STATUSES:
        msg = f"{where} has status {record.status!r}; use one of {list(EXEC_STATUSES)}"
        raise InvalidRow(msg)
    if not (record.rule_name and record.executed_by and record.idempotency_key):
        msg = f"{where} lacks one of rule_name, executed_by, idempotency_key"
        raise InvalidRow(msg)
    return record.as_row()
