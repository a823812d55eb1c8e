"""The execution log (RULES.md §7): idempotent batch inserts, key lookups, filtered reads."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import exists, inspect, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from storage.errors import InvalidRow
from storage.locks import try_advisory_xact_lock
from storage.models import EXEC_STATUSES, ExecLog
from storage.storable import storable_json, storable_key, storable_text

FIELDS = frozenset(inspect(ExecLog).column_attrs.keys())
REQUIRED = frozenset({"rule_name", "status", "executed_by", "idempotency_key"})
TEXT_FIELDS = ("rule_name", "status", "reason", "executed_by", "error_message")
KEY_FIELDS = ("idempotency_key", "chain_id")
"""Indexed text: also shortened when too long for a btree entry (`storable_key`)."""
JSON_FIELDS = ("references", "group_key")
ESCAPED_KEY = "escaped"
"""`references.escaped`: the paths of the row's values stored `storage.storable.escape`d."""


class ExecLogRepository:
    """Writes and reads `exec_logs`; never commits."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def insert(self, rows: Iterable[Mapping[str, Any]]) -> int:
        """Insert rows (dicts keyed by `ExecLog` attribute); returns how many were new.

        Values PostgreSQL would refuse are escaped first (`storable_row`). `ON CONFLICT
        (idempotency_key) DO NOTHING` makes a replay, a retry or a second worker
        writing the same execution harmless, also for duplicates inside one batch.
        """
        batch = [storable_row(_checked(row)) for row in rows]
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
        logged = exists().where(ExecLog.idempotency_key == storable_key(key, "idempotency_key", []))
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
            raise ValueError("`since` must be timezone-aware, e.g. datetime.now(UTC)")
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


def storable_row(row: dict[str, Any]) -> dict[str, Any]:
    """`row` with every value PostgreSQL would refuse escaped (`storage.storable`); the paths of
    those values are listed in `references.escaped`, so the originals can be recovered."""
    escaped: list[str] = []
    for name in TEXT_FIELDS:
        if isinstance(row.get(name), str):
            row[name] = storable_text(row[name], name, escaped)
    for name in KEY_FIELDS:
        if isinstance(row.get(name), str):
            row[name] = storable_key(row[name], name, escaped)
    for name in JSON_FIELDS:
        if row.get(name) is not None:
            row[name] = storable_json(row[name], name, escaped)
    if escaped:
        references = row.get("references") or {}
        row["references"] = {**references, ESCAPED_KEY: [*references.get(ESCAPED_KEY, []), *escaped]}
    return row
