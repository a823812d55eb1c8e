"""Rules: list with state, get, apply (validated by the rule loader), history, rollback,
enable/disable, delete. Changes are recorded with the caller's token name as `changed_by`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Body, Depends, Request
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from cepflow.api.auth import VIEWER, Caller, require
from cepflow.api.deps import read_session, writing
from cepflow.api.errors import ApiError
from dataflow.runtime import CompiledRule
from rules.loader import parse_rule_document
from rules.model import RuleSpec
from rules.schema import rule_json_schema
from storage.errors import NotFound
from storage.models import Rule
from storage.repositories.exec_logs import ExecLogRepository
from storage.repositories.rules import RuleRepository

router = APIRouter(prefix="/rules", tags=["rules"], dependencies=[VIEWER])

SOURCE = "request body"


def summary(rule: Rule) -> dict[str, Any]:
    """A rule without its document: id, name, version, state, owner."""
    return {"id": str(rule.id), "name": rule.name, "version": rule.version, "active": rule.active,
            "owner": rule.owner, "description": rule.description, "updated_at": rule.updated_at.isoformat()}


def validated(document: Any) -> RuleSpec:
    """The rule document checked by the same loader and compiler as `cepflow rules apply/test`:
    400 with one entry per problem and its field path.
    """
    spec = parse_rule_document(document, SOURCE)
    try:
        CompiledRule.build(spec.name, 1, spec)
    except ValueError as exc:
        raise ApiError(400, f"{SOURCE}: {exc}", [{"field": "", "message": str(exc)}]) from None
    return spec


@router.get("")
def list_rules(session: Session = Depends(read_session)) -> list[dict[str, Any]]:
    """Every rule with its state: active, version, last fire, fires in the last hour."""
    stats = ExecLogRepository(session).fire_stats(datetime.now(UTC) - timedelta(hours=1))
    out = []
    for rule in RuleRepository(session).list():
        last, count = stats.get(rule.id, (None, 0))
        out.append({**summary(rule), "last_fire": last.isoformat() if last else None, "fires_last_hour": count})
    return out


@router.get("/schema")
def schema() -> dict[str, Any]:
    """The JSON Schema of a rule document (for editors)."""
    return rule_json_schema()


@router.post("/validate")
def validate(document: dict[str, Any] = Body(...)) -> dict[str, Any]:
    """Validate without storing: 200 `{valid: true}`, or 400 with every problem."""
    spec = validated(document)
    return {"valid": True, "name": spec.name}


@router.put("")
def apply(request: Request, document: dict[str, Any] = Body(...),
          caller: Caller = Depends(require("author"))) -> dict[str, Any]:
    """Create or update the rule the document names (or identifies): a new version per change."""
    spec = validated(document)
    with writing(request) as session:
        rule, changed = RuleRepository(session).apply(spec.to_document(), caller.name)
        return {**summary(rule), "changed": changed}


@router.get("/{ref}")
def get_rule(ref: str, session: Session = Depends(read_session)) -> dict[str, Any]:
    """One rule by id or name, with its stored document."""
    rule = RuleRepository(session).get(ref)
    if rule is None:
        msg = "rule"
        raise NotFound(msg, ref, "list the stored rules for its id or name")
    return {**summary(rule), "spec": rule.spec}


@router.get("/{ref}/history")
def history(ref: str, session: Session = Depends(read_session)) -> list[dict[str, Any]]:
    """Every revision, oldest first: version, action, who, when, what changed."""
    return [{"version": r.version, "action": r.action, "changed_by": r.changed_by, "at": r.created_at.isoformat(),
             "changes": r.changes, "spec": r.spec} for r in RuleRepository(session).history(ref)]


class Rollback(BaseModel):
    """The version to roll back to."""

    to_version: int = Field(ge=1, description="The version whose document becomes the next version.")


@router.post("/{ref}/rollback")
def rollback(ref: str, body: Rollback, request: Request, caller: Caller = Depends(require("author"))) -> dict[str, Any]:
    """Store an earlier version's document as the next version."""
    with writing(request) as session:
        return summary(RuleRepository(session).rollback(ref, body.to_version, caller.name))


@router.post("/{ref}/enable")
def enable(ref: str, request: Request, caller: Caller = Depends(require("author"))) -> dict[str, Any]:
    """Make the rule active (a new version unless it already is)."""
    with writing(request) as session:
        return summary(RuleRepository(session).set_active(ref, True, caller.name))


@router.post("/{ref}/disable")
def disable(ref: str, request: Request, caller: Caller = Depends(require("author"))) -> dict[str, Any]:
    """Make the rule inactive: stored, never evaluated."""
    with writing(request) as session:
        return summary(RuleRepository(session).set_active(ref, False, caller.name))


@router.delete("/{ref}")
def delete(ref: str, request: Request, caller: Caller = Depends(require("author"))) -> dict[str, Any]:
    """Remove the rule; its history stays (a `delete` revision closes it)."""
    with writing(request) as session:
        RuleRepository(session).delete(ref, caller.name)
    return {"deleted": ref}
