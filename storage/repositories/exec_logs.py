"""The execution log (RULES.md §7): idempotent batch inserts, key lookups, filtered reads."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import exists, func, inspect, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from storage.errors import InvalidRow
from storage.locks import try_advisory_xact_lock
from storage.models import EXEC_STATUSES, ExecLog, Rule

FIELDS = frozenset(inspect(ExecLog).column_attrs.keys())
REQUIRED = frozenset({"rule_name", "status", "executed_by", "idempotency_key"})


class ExecLogRepository:
    """Writes and reads `exec_logs`; never commits."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def insert(self, rows: Iterable[Mapping[str, Any]]) -> int:
        """Insert rows (dicts keyed by `ExecLog` attribute); returns how many were new.

        `ON CONFLICT (idempotency_key) DO NOTHING` makes a replay, a retry or a second worker
        writing the same execution harmless, also for duplicates inside one batch.
        """
        batch = [_checked(row) for row in rows]
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
        until: datetime | None = None,
        group: Mapping[str, Any] | None = None,
    ) -> list[ExecLog]:
        """The newest `limit` rows matching every filter given, newest first.

        `since` (inclusive) and `until` (exclusive) must carry a time zone: a naive one would be
        read in the server's zone. `group` matches rows whose group holds at least those values.
        """
        for name, moment in (("since", since), ("until", until)):
            if moment is not None and moment.tzinfo is None:
                raise ValueError(f"`{name}` must be timezone-aware, e.g. datetime.now(UTC)")
        stmt = select(ExecLog)
        if rule_id is not None:
            stmt = stmt.where(ExecLog.rule_id == uuid.UUID(str(rule_id)))
        if status is not None:
            stmt = stmt.where(ExecLog.status == status)
        if chain_id is not None:
            stmt = stmt.where(ExecLog.chain_id == chain_id)
        if since is not None:
            stmt = stmt.where(ExecLog.created_at >= since)
        if until is not None:
            stmt = stmt.where(ExecLog.created_at < until)
        if group:
            stmt = stmt.where(ExecLog.group_key.contains(dict(group)))
        stmt = stmt.order_by(ExecLog.created_at.desc(), ExecLog.id.desc()).limit(limit)
        return list(self.session.scalars(stmt))

    def fire_stats(self, since: datetime) -> dict[uuid.UUID, tuple[datetime | None, int]]:
        """`{rule id: (last fire or None, fires since `since`)}` for every stored rule; a fire is a
        row whose actions ran (`success` or `fail`).

        Two correlated subqueries per rule, each an index range on (rule_id, created_at), so the
        cost follows the number of rules and recent fires, not the size of the log.
        """
        fired = ExecLog.status.in_(("success", "fail"))
        last = (select(ExecLog.created_at).where(ExecLog.rule_id == Rule.id, fired)
                .order_by(ExecLog.created_at.desc()).limit(1).correlate(Rule).scalar_subquery())
        recent = (select(func.count()).select_from(ExecLog)
                  .where(ExecLog.rule_id == Rule.id, fired, ExecLog.created_at >= since)
                  .correlate(Rule).scalar_subquery())
        return {rule_id: (at, count) for rule_id, at, count in self.session.execute(select(Rule.id, last, recent))}

    def statuses_by_key_prefix(self, prefix: str) -> dict[str, str]:
        """`{idempotency key: status}` of the rows whose key starts with `prefix` (redrive attempts)."""
        escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        stmt = select(ExecLog.idempotency_key, ExecLog.status).where(ExecLog.idempotency_key.like(escaped + "%"))
        return {key: status for key, status in self.session.execute(stmt)}


def _checked(row: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of `row`, refused before the database sees it when it would be lost or rejected.

    An unknown key would be silently dropped by the bulk insert, and a bad row would abort the
    whole batch's transaction, so both are caught here with the row's key in the message.
    """
    unknown = row.keys() - FIELDS
    missing = REQUIRED - {key for key, value in row.items() if value is not None}
    where = f"exec log row {row.get('idempotency_key')!r}"
    if unknown:
        raise InvalidRow(f"{where} has unknown fields {sorted(unknown)}; use {sorted(FIELDS)}")
    if missing:
        raise InvalidRow(f"{where} lacks required fields {sorted(missing)}")
    if row["status"] not in EXEC_STATUSES:
        raise InvalidRow(f"{where} has status {row['status']!r}; use one of {list(EXEC_STATUSES)}")
    return dict(row)
