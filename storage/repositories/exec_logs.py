"""The execution log (RULES.md §7): idempotent batch inserts, key lookups, filtered reads."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, TextClause, bindparam, exists, func, select, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from storage.errors import InvalidRow
from storage.locks import try_advisory_xact_lock
from storage.models import EXEC_STATUSES, ExecLog, Rule
from storage.records import RECORD_FIELDS, ExecLogRecord
from storage.storable import storable_json, storable_key, storable_text

TEXT_FIELDS = ("rule_name", "status", "reason", "executed_by", "error_message")
KEY_FIELDS = ("idempotency_key", "chain_id")
"""Indexed text: also shortened when too long for a btree entry (`storable_key`)."""
JSON_FIELDS = ("references", "group_key")
ESCAPED_KEY = "escaped"
"""`references.escaped`: the paths of the row's values stored `storage.storable.escape`d."""


_TABLE = cast(Table, ExecLog.__table__)


def _insert_statement() -> TextClause:
    """`INSERT ... ON CONFLICT (idempotency_key) DO NOTHING RETURNING id` of one record's row.

    Text, not the PostgreSQL `insert()` construct: SQLAlchemy never caches the compiled form of
    that one (`inherit_cache = False`, its ON CONFLICT clause has no cache key), and compiling it
    again for every execution cost the action threads 0.5 ms each (bench profile, issue 14).
    """
    quote = postgresql.dialect().identifier_preparer.quote
    columns = ", ".join(quote(name) for name in RECORD_FIELDS)
    values = ", ".join(f":{name}" for name in RECORD_FIELDS)
    sql = (f"INSERT INTO {quote(_TABLE.name)} ({columns}) VALUES ({values}) "
           f"ON CONFLICT ({quote(_TABLE.c.idempotency_key.name)}) DO NOTHING RETURNING {quote(_TABLE.c.id.name)}")
    return text(sql).bindparams(*(bindparam(name, type_=_TABLE.c[name].type) for name in RECORD_FIELDS))


_INSERT = _insert_statement()


class ExecLogRepository:
    """Writes and reads `exec_logs`; never commits."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def insert(self, records: Iterable[ExecLogRecord]) -> int:
        """Insert records; returns how many were new.

        Values PostgreSQL would refuse are escaped first (`storable_row`). `ON CONFLICT
        (idempotency_key) DO NOTHING` makes a replay, a retry or a second worker
        writing the same execution harmless, also for duplicates inside one batch. One cached
        statement per row (an execution writes one row, seldom more).
        """
        batch = [storable_row(_checked(record)) for record in records]
        return sum(len(self.session.execute(_INSERT, row).all()) for row in batch)

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
        until: datetime | None = None,
        group: Mapping[str, Any] | None = None,
    ) -> list[ExecLog]:
        """The newest `limit` rows matching every filter given, newest first.

        `since` (inclusive) and `until` (exclusive) must carry a time zone: a naive one would be
        read in the server's zone. `group` matches rows whose group holds at least those values.
        """
        for name, moment in (("since", since), ("until", until)):
            if moment is not None and moment.tzinfo is None:
                msg = f"`{name}` must be timezone-aware, e.g. datetime.now(UTC)"
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


def storable_row(row: dict[str, Any]) -> dict[str, Any]:
    """`row` with every value PostgreSQL would refuse escaped (`storage.storable`); the paths of
    those values are listed in `references.escaped`, so the originals can be recovered.
    """
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
