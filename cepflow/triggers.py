"""`manual_trigger` as RULES.md §8 names it: the manual trigger bound to this process's resources."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from actions.manual import run_manual_trigger
from cepflow.resources import get_resources


def manual_trigger(
    rule: str,
    payload: dict[str, Any] | None = None,
    executed_by: str = "cli",
    session: Session | None = None,
    dry_run: bool = False,
) -> dict[str, Any]:
    """Result `{status, condition_met, duration_ms, references, explain}`; one exec_logs row.

    With a `session`, the row is written in the caller's transaction (the caller commits);
    without one, a session is opened, committed and closed.
    """
    return run_manual_trigger(get_resources(), rule, payload, executed_by, session, dry_run)
