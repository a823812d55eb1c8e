"""Manual trigger (RULES.md §8): evaluate a rule's `where` on a payload and, when it holds, run its
actions through the same pipeline as the stream — same lock, same log, same executors.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from sqlalchemy.orm import Session

from actions.deps import ActionDeps
from actions.outbox import relay_now
from dataflow.keys import idempotency_key
from dataflow.runtime import CompiledRule
from dataflow.types import ChainInfo, Execution, ExecutionStatus, SkipReason
from rules.model import RuleSpec
from storage.errors import NotFound
from storage.repositories.rules import RuleRepository
from storage.uow import unit_of_work


def _execution(rule: CompiledRule, payload: dict[str, Any], met: bool, dry_run: bool,
               explain: list[dict[str, Any]]) -> Execution:
    group = rule.group_of(payload)
    event_id = f"manual:{uuid.uuid4()}"
    key = idempotency_key(rule.id, rule.version, group, None, event_id)
    status: ExecutionStatus
    reason: SkipReason | None
    status, reason = ("fired", None) if met and not dry_run else (
        "dry_run", SkipReason.DRY_RUN_REQUESTED if met else SkipReason.CONDITION_NOT_MET)
    return Execution(
        rule_id=rule.id, rule_name=rule.name, rule_version=rule.version, group=group,
        status=status, reason=reason, at_ms=int(time.time() * 1000), value=None,
        window_start=None, window_end=None, event=payload, event_id=event_id,
        idempotency_key=key, chain=ChainInfo(key, 0, (rule.id,)), explain=explain,
    )


def _trigger_in(resources: ActionDeps, session: Session, ref: str, payload: dict[str, Any], executed_by: str,
                dry_run: bool) -> dict[str, Any]:
    started = time.monotonic()
    stored = RuleRepository(session).get(ref)
    if stored is None:
        msg = "rule"
        raise NotFound(msg, ref)
    rule = CompiledRule.build(str(stored.id), stored.version, RuleSpec.model_validate(stored.spec))
    met = rule.where(payload)
    explain = rule.where.explain(payload)
    execution = _execution(rule, payload, met, dry_run, explain)
    deadline = time.monotonic() + resources.settings.action_deadline_s
    rows = resources.pipeline.execute(execution, rule.spec.actions, by=executed_by, deadline=deadline,
                                      session=session)
    record = rows[0]
    return {
        "status": record.status,
        "condition_met": met,
        "duration_ms": round((time.monotonic() - started) * 1000, 3),
        "references": record.references,
        "reason": record.reason,
        "error_message": record.error_message,
        "explain": explain,
    }


def run_manual_trigger(
    resources: ActionDeps,
    rule: str,
    payload: dict[str, Any] | None = None,
    executed_by: str = "cli",
    session: Session | None = None,
    dry_run: bool = False,
) -> dict[str, Any]:
    """Result `{status, condition_met, duration_ms, references, explain}`; one exec_logs row.

    With a `session`, the row and its Kafka messages (outbox) are written in the caller's
    transaction (the caller commits; the engine's relay sends them); without one, a session is
    opened and committed here, and the outbox relayed right after (`actions.outbox.relay_now`).
    `resources` are the caller's process's (`cepflow.triggers.manual_trigger` binds this
    process's; the HTTP API passes its own).
    """
    if session is not None:
        return _trigger_in(resources, session, rule, payload or {}, executed_by, dry_run)
    with unit_of_work(resources.sessions) as own:
        result = _trigger_in(resources, own, rule, payload or {}, executed_by, dry_run)
    relay_now(resources.sessions, resources.producer)
    return result
