"""Manual trigger over HTTP (RULES.md §8): `actions.manual.manual_trigger`, with the caller's
token name as `executed_by` — the same lock, pipeline and log as the CLI and the stream."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from cepflow.api.auth import Caller, require
from cepflow.api.deps import resources

router = APIRouter(prefix="/rules", tags=["trigger"])


class TriggerRequest(BaseModel):
    payload: dict[str, Any] = Field(default_factory=dict, description="The event the rule is evaluated on.")
    dry_run: bool = Field(False, description="Evaluate and log; run no action.")


@router.post("/{ref}/trigger")
def trigger(ref: str, body: TriggerRequest, request: Request,
            caller: Caller = Depends(require("operator"))) -> dict[str, Any]:
    """`{status, condition_met, duration_ms, references, reason, error_message, explain}`."""
    from actions.manual import manual_trigger

    return manual_trigger(ref, body.payload, executed_by=caller.name, dry_run=body.dry_run,
                          resources=resources(request))
