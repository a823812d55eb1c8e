"""The execution log: query by rule, status, time range, group and chain; a chain as a tree."""

from __future__ import annotations

from typing import Any, Literal

import orjson
from fastapi import APIRouter, Depends, Query
from sqlalchemy.orm import Session

from cepflow.api.auth import VIEWER
from cepflow.api.chain_tree import chain_tree
from cepflow.api.deps import moment, read_session
from cepflow.api.errors import bad_input
from storage.errors import NotFound
from storage.models import ExecLog
from storage.repositories._documents import parse_uuid
from storage.repositories.exec_logs import ExecLogRepository
from storage.repositories.rules import RuleRepository

router = APIRouter(tags=["executions"], dependencies=[VIEWER])

Status = Literal["success", "fail", "dry_run", "skipped"]


def row_view(row: ExecLog) -> dict[str, Any]:
    """An execution-log row as the API shows it."""
    return {"id": row.id, "created_at": row.created_at.isoformat(), "rule_id": str(row.rule_id) if row.rule_id else None,
            "rule": row.rule_name, "version": row.rule_version, "status": row.status, "reason": row.reason,
            "executed_by": row.executed_by, "duration_ms": row.duration_ms, "group": row.group_key,
            "chain_id": row.chain_id, "error_message": row.error_message, "references": row.references,
            "idempotency_key": row.idempotency_key}


def _group(value: str | None) -> dict[str, Any] | None:
    if value is None:
        return None
    try:
        group = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        msg = "group"
        raise bad_input(msg, f"invalid JSON: {exc}") from None
    if not isinstance(group, dict):
        msg = "group"
        raise bad_input(msg, 'must be a JSON object of group values, e.g. {"host": "web-1"}')
    return group


@router.get("/executions")
def query(
    session: Session = Depends(read_session),
    rule: str | None = Query(None, description="Rule id or name (a deleted rule: its id)."),
    status: Status | None = None,
    since: str | None = Query(None, description="ISO-8601 time with offset, or a duration back (10m)."),
    until: str | None = Query(None, description="Like `since`; exclusive."),
    group: str | None = Query(None, description='JSON object of group values, e.g. {"host":"web-1"}.'),
    chain: str | None = Query(None, description="A chain id."),
    limit: int = Query(100, ge=1, le=1000),
) -> list[dict[str, Any]]:
    """Rows matching every filter given, newest first."""
    rule_id: Any = None
    if rule is not None:
        found = RuleRepository(session).get(rule)
        if found is not None:
            rule_id = found.id
        else:
            rule_id = parse_uuid(rule)
            if rule_id is None:
                msg = "rule"
                raise NotFound(msg, rule, "give a stored rule's name, or the id of a deleted one")
    rows = ExecLogRepository(session).query(rule_id=rule_id, status=status, chain_id=chain,
                                            since=moment(since, "since"), until=moment(until, "until"),
                                            group=_group(group), limit=limit)
    return [row_view(row) for row in rows]


@router.get("/chains/{chain_id}")
def chain(chain_id: str, session: Session = Depends(read_session)) -> dict[str, Any]:
    """The chain as a tree: event -> rule -> action -> chained rule (oldest first)."""
    rows = ExecLogRepository(session).query(chain_id=chain_id, limit=1000)
    if not rows:
        msg = "chain"
        raise NotFound(msg, chain_id, "take a chain id from an execution's `chain_id`")
    ordered = sorted(rows, key=lambda r: (r.created_at, r.id))
    return {"chain_id": chain_id, **chain_tree([row_view(row) for row in ordered])}
