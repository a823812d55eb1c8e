"""Manual trigger over HTTP (RULES.md §8): `actions.manual.run_manual_trigger`, with the caller's
token name as `executed_by` — the same lock, pipeline and log as the CLI and the stream.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from actions.manual import run_manual_trigger
from cepflow.api.auth import Caller, require
from cepflow.api.deps import resources

router = APIRouter(prefix="/rules", tags=["trigger"])


class TriggerRequest(BaseModel):
    """The payload to evaluate the rule on, and whether to run no action."""

    payload: dict[str, Any] = Field(default_factory=dict, description="The event the rule is evaluated on.")
    dry_run: bool = Field(False, description="Evaluate and log; run no action.")


@router.post("/{ref}/trigger")
def trigger(ref: str, body: TriggerRequest, request: Request,
            caller: Caller = Depends(require("operator"))) -> dict[str, Any]:
    """`{status, condition_met, duration_ms, references, reason, error_message, explain}`."""
    return run_manual_trigger(resources(request), ref, body.payload, executed_by=caller.name, dry_run=body.dry_run)
