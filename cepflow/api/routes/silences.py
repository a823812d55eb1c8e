"""Silences: mute a rule, or executions whose group holds given values, from a start to an end.

The engine honours a silence within the rule refresh period; this process (its manual triggers)
at once. A silenced execution is logged `skipped`, reason `silenced`, `references.silence_id`.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import AwareDatetime, BaseModel, Field
from sqlalchemy.orm import Session

from cepflow.api.auth import VIEWER, Caller, require
from cepflow.api.deps import read_session, resources, writing
from cepflow.api.errors import bad_input
from storage.errors import NotFound
from storage.models import Silence
from storage.repositories.rules import RuleRepository
from storage.repositories.silences import SilenceRepository

router = APIRouter(prefix="/silences", tags=["silences"], dependencies=[VIEWER])


def view(silence: Silence) -> dict[str, Any]:
    """A silence as the API shows it."""
    return {"id": str(silence.id), "rule_id": str(silence.rule_id) if silence.rule_id else None,
            "rule": silence.rule_name, "group": silence.group_values, "starts_at": silence.starts_at.isoformat(),
            "ends_at": silence.ends_at.isoformat(), "comment": silence.comment, "created_by": silence.created_by,
            "expired_by": silence.expired_by, "created_at": silence.created_at.isoformat()}


class SilenceRequest(BaseModel):
    """What a new silence mutes, until when, and why."""

    rule: str | None = Field(None, description="Rule id or name; omitted: every rule whose group matches.")
    group: dict[str, Any] = Field(default_factory=dict, description="Group values that must all match.")
    starts_at: AwareDatetime | None = Field(None, description="Default: now.")
    ends_at: AwareDatetime = Field(description="When the silence ends (exclusive).")
    comment: str = Field(min_length=1, description="Why: shown with every execution it mutes.")


def _refresh(request: Request) -> None:
    """Make this process's own executions (manual triggers) see the change at once."""
    resources(request).silences.refresh()


@router.get("")
def list_silences(session: Session = Depends(read_session),
                  expired: bool = Query(False, description="Include silences that have ended.")) -> list[dict[str, Any]]:
    """Silences not yet ended (with `expired=true`, all), latest start first."""
    return [view(s) for s in SilenceRepository(session).list(include_expired=expired)]


@router.post("", status_code=201)
def create(body: SilenceRequest, request: Request, caller: Caller = Depends(require("author"))) -> dict[str, Any]:
    """A new silence, authored by the caller."""
    with writing(request) as session:
        rule_id = rule_name = None
        if body.rule is not None:
            rule = RuleRepository(session).get(body.rule)
            if rule is None:
                msg = "rule"
                raise bad_input(msg, f"no rule named or with id {body.rule!r}")
            rule_id, rule_name = rule.id, rule.name
        silence = SilenceRepository(session).create(
            rule_id=rule_id, rule_name=rule_name, group_values=body.group, starts_at=body.starts_at,
            ends_at=body.ends_at, comment=body.comment, created_by=caller.name)
        result = view(silence)
    _refresh(request)
    return result


@router.get("/{silence_id}")
def get(silence_id: str, session: Session = Depends(read_session)) -> dict[str, Any]:
    """One silence by id."""
    silence = SilenceRepository(session).get(silence_id)
    if silence is None:
        msg = "silence"
        raise NotFound(msg, silence_id, "list the silences (expired=true) for its id")
    return view(silence)


@router.delete("/{silence_id}")
def expire(silence_id: str, request: Request, caller: Caller = Depends(require("author"))) -> dict[str, Any]:
    """End a silence now (it stays listed with `expired=true`, with who ended it)."""
    with writing(request) as session:
        result = view(SilenceRepository(session).expire(silence_id, caller.name))
    _refresh(request)
    return result


