"""Test rules against posted events: the offline runner (`cepflow rules test`), no side effects."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from cepflow.api.auth import AUTHOR
from cepflow.api.deps import read_session
from cepflow.api.errors import ApiError, bad_input
from dataflow.offline import EventFileError, parse_event_line, run_offline
from rules.loader import parse_rule_document
from rules.model import RuleSpec
from storage.errors import NotFound
from storage.repositories.rules import RuleRepository

router = APIRouter(tags=["test"], dependencies=[AUTHOR])


class RuleTestRequest(BaseModel):
    """Rules (documents or stored names) and the events to run them on, offline."""

    rules: list[dict[str, Any] | str] = Field(
        min_length=1, description="Rule documents, or ids/names of stored rules (chain targets included).")
    events: list[Any] = Field(description="The events, in order, each a JSON object with `ts`.")
    explain: bool = Field(False, description="Add every condition leaf's verdict and values.")


def _spec(session: Session, item: dict[str, Any] | str, position: int) -> RuleSpec:
    if isinstance(item, str):
        stored = RuleRepository(session).get(item)
        if stored is None:
            msg = "rule"
            raise NotFound(msg, item, f"rules.{position} names no stored rule")
        return RuleSpec.model_validate(stored.spec)
    return parse_rule_document(item, f"rules.{position}")


@router.post("/test")
def test_rules(body: RuleTestRequest, session: Session = Depends(read_session)) -> dict[str, Any]:
    """Every would-be execution, in event-time order, as `cepflow rules test` prints them."""
    specs = [_spec(session, item, i) for i, item in enumerate(body.rules)]
    events = []
    for number, event in enumerate(body.events):
        try:
            events.append(parse_event_line(orjson.dumps(event), "events", number))
        except EventFileError as exc:
            raise bad_input(f"events.{number}" + (f".{exc.field}" if exc.field else ""), exc.message) from None
    late: list[dict[str, Any]] = []
    warnings: list[str] = []
    try:
        lines = list(run_offline(specs, events, body.explain,
                                 on_late=lambda rule, event, wm: late.append(
                                     {"rule": rule.name, "event_id": event.id, "ts": event.ts_ms, "watermark": wm}),
                                 on_warning=warnings.append))
    except ValueError as exc:  # a rule the engine cannot run, or two rules sharing a name
        raise ApiError(400, f"rules: {exc}", [{"field": "rules", "message": str(exc)}]) from None
    return {"executions": lines, "late": late, "warnings": warnings}
