"""The action dead-letter topic: list what is there, redrive one or many (`actions.redrive`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from cepflow.api.auth import VIEWER, Caller, require
from cepflow.api.deps import moment, resources
from cepflow.api.errors import ApiError

router = APIRouter(prefix="/dead-letters", tags=["dead letters"], dependencies=[VIEWER])


def _millis(value: str | None, field: str) -> int | None:
    parsed = moment(value, field)
    return int(parsed.timestamp() * 1000) if parsed is not None else None


@router.get("")
def list_dead_letters(
    request: Request,
    rule: str | None = Query(None, description="Rule name or id."),
    since: str | None = Query(None, description="ISO-8601 time with offset, or a duration back (1h)."),
) -> list[dict[str, Any]]:
    """Dead letters, oldest first, each with whether a redrive has delivered it since."""
    from actions.redrive import Refused, parse_records, redrive_prefix
    from storage.repositories.exec_logs import ExecLogRepository

    res = resources(request)
    since_ms = _millis(since, "since")
    out: list[dict[str, Any]] = []
    records = []
    for record in parse_records(res.dead_letters(), res.sealer):
        if isinstance(record, Refused):  # not written by this deployment: shown (unfiltered), never redriven
            if rule is None and since_ms is None:
                out.append({**record.summary(), "delivered": False, "redrives": 0})
        elif record.selected(rule, since_ms):
            records.append(record)
    with res.sessions() as session:
        logs = ExecLogRepository(session)
        for record in records:
            attempts = logs.statuses_by_key_prefix(redrive_prefix(record.action_id))
            raw = record.raw
            out.append({"action_id": record.action_id, "rule": raw.get("rule"), "rule_id": raw.get("rule_id"),
                        "action": raw.get("action"), "error": raw.get("error"),
                        "failed_at_ms": raw.get("failed_at_ms"), "executed_by": raw.get("executed_by"),
                        "redrives": len(attempts), "delivered": "success" in attempts.values()})
    return out


class RedriveRequest(BaseModel):
    """Which dead letters to re-send: by action ids, by rule, by age (at least one)."""

    action_ids: list[str] | None = Field(None, min_length=1, description="These dead letters only.")
    rule: str | None = Field(None, description="Only this rule's dead letters (name or id).")
    since: str | None = Field(None, description="Only those failed since (ISO-8601 or a duration).")


@router.post("/redrive")
def redrive(body: RedriveRequest, request: Request, caller: Caller = Depends(require("operator"))) -> list[dict[str, Any]]:
    """Re-send the selected dead letters with their original webhook-id; one log row per attempt.

    At least one selector is required: redriving everything must be asked for (`since: "100y"`).
    """
    if body.action_ids is None and body.rule is None and body.since is None:
        raise ApiError(400, "give `action_ids`, `rule` or `since`: which dead letters to redrive", [
            {"field": "action_ids", "message": "one of action_ids, rule, since is required"}])
    ids = set(body.action_ids) if body.action_ids is not None else None
    res = resources(request)
    return res.redriver.redrive(res.dead_letters(), body.rule, _millis(body.since, "since"), ids, by=caller.name)
