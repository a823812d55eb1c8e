"""What happens to an `Execution`, start to finish — the action topology in one place:

    dedup + lock (exec log; rule and group — one statement) -> for each action: template
      -> execute (+retry) -> dead-letter what failed
      -> record one exec_logs row (+ skipped rows of chain targets)

The decision to skip comes from the log and the lock, and is recorded with a named reason.
The row is written in the transaction that holds the advisory lock, so a concurrent execution of
the same rule and group (stream or manual) sees `locked` rather than running twice.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import ValidationError
from sqlalchemy.orm import Session, sessionmaker

from actions.context import ActionRun, template_context
from actions.outcome import ActionOutcome
from actions.registry import ActionRegistry
from actions.templates import TEMPLATED_FIELDS, TemplateError, render
from dataflow.kafka_out import OutMessage, ReliableProducer
from dataflow.rule_cache import RuleSet
from dataflow.sealing import Sealer
from dataflow.types import Execution
from storage.repositories.exec_logs import ExecLogRepository
from storage.uow import unit_of_work

log = logging.getLogger(__name__)


DEAD_LETTER_PURPOSE = "action-dead-letter"
"""MAC purpose of action dead letters (`dataflow/sealing.py`); `actions/redrive.py` opens them."""


@dataclass(frozen=True)
class PipelineConfig:
    action_dead_letter_topic: str
    concurrency: int
    deadline_s: float
    sealer: Sealer


def render_action(action: Any, context: dict[str, Any]) -> Any:
    """The action with every template in its templated fields rendered (sandboxed)."""
    doc = action.model_dump(by_alias=True)
    for name in TEMPLATED_FIELDS:
        if name in doc:
            doc[name] = render(doc[name], context)
    return type(action).model_validate(doc)


def executed_by(execution: Execution, rules: RuleSet) -> str:
    """`stream`, or `chain:<rule that triggered this one>` (RULES.md §7)."""
    if execution.chain.depth == 0 or len(execution.chain.path) < 2:
        return "stream"
    parent = rules.lookup(execution.chain.path[-2])
    return f"chain:{parent.name if parent else execution.chain.path[-2]}"


def log_row(
    execution: Execution,
    status: str,
    *,
    executed_by: str,
    reason: str | None = None,
    duration_ms: float = 0.0,
    actions: Sequence[dict[str, Any]] = (),
    error: str | None = None,
    explain: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """One `exec_logs` row (RULES.md §7)."""
    references: dict[str, Any] = {
        "actions": list(actions),
        "chain": {
            "id": execution.chain.id,
            "depth": execution.chain.depth,
            "path": list(execution.chain.path),
        },
        "event_id": execution.event_id,
        "value": execution.value,
        "at": execution.at_ms,
    }
    if execution.window_start is not None:
        references["window"] = [execution.window_start, execution.window_end]
    if explain is not None:
        references["explain"] = explain
    return {
        "rule_id": execution.rule_id,
        "rule_name": execution.rule_name,
        "rule_version": execution.rule_version,
        "status": status,
        "reason": reason,
        "duration_ms": duration_ms,
        "references": orjson.loads(orjson.dumps(references, default=str)),
        "executed_by": executed_by,
        "error_message": error,
        "idempotency_key": execution.idempotency_key,
        "group_key": execution.group,
        "chain_id": execution.chain.id,
    }


def _chain_skip_row(execution: Execution, outcome: ActionOutcome) -> dict[str, Any] | None:
    """A trigger_rule hop refused for depth or cycle is logged as the target's skipped execution."""
    reason = outcome.summary.get("skipped")
    if reason is None:
        return None
    target = Execution(
        rule_id=outcome.summary["target_rule_id"],
        rule_name=outcome.summary["target_rule"],
        rule_version=0,
        group={},
        status="skipped",
        reason=reason,
        at_ms=execution.at_ms,
        value=None,
        window_start=None,
        window_end=None,
        event={},
        event_id=outcome.summary["event_id"],
        idempotency_key=f"{outcome.summary['event_id']}:{reason}",
        chain=execution.chain,
    )
    return log_row(target, "skipped", executed_by=f"chain:{execution.rule_name}", reason=reason)


def rule_actions(rules: RuleSet, execution: Execution) -> Sequence[Any] | None:
    """The actions of the rule that fired; a rule changed since then runs its current actions;
    None when it was disabled or deleted before its actions ran (the execution is skipped)."""
    rule = rules.compiled(execution.rule_id, execution.rule_version) or rules.active.get(execution.rule_id)
    return rule.spec.actions if rule is not None else None


def lock_key(execution: Execution) -> str:
    """Advisory-lock key of one (rule, group): one execution of it at a time."""
    return f"{execution.rule_id}:{orjson.dumps(execution.group, option=orjson.OPT_SORT_KEYS).decode()}"


class ActionPipeline:
    """Runs executions' actions and records them; shared by the stream sink and manual triggers."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        registry: ActionRegistry,
        producer: Callable[[], ReliableProducer],
        rules: Callable[[], RuleSet],
        config: PipelineConfig,
    ) -> None:
        self._sessions = sessions
        self._registry = registry
        self._producer = producer
        self._rules = rules
        self._config = config
        self._pool = ThreadPoolExecutor(config.concurrency, thread_name_prefix="cepflow-action")

    def run_batch(self, executions: list[Execution]) -> list[dict[str, Any]]:
        """Execute what the log has not seen yet; returns the rows written.

        Executions of one (rule, group) run one after another, in order — the engine never races
        itself for the advisory lock, so `locked` only ever means another caller (a manual
        trigger) held it. Different groups run concurrently.
        """
        seen: set[str] = set()  # the log itself is checked per execution, under its lock
        by_group: dict[str, list[Execution]] = {}
        for execution in executions:
            if execution.idempotency_key not in seen:
                seen.add(execution.idempotency_key)
                by_group.setdefault(lock_key(execution), []).append(execution)
        deadline = time.monotonic() + self._config.deadline_s
        rules = self._rules()

        def run_group(group: list[Execution]) -> list[dict[str, Any]]:
            return [
                row
                for execution in group
                for row in self.execute(execution, rule_actions(rules, execution),
                                        by=executed_by(execution, rules), deadline=deadline)
            ]

        rows = list(self._pool.map(run_group, by_group.values()))
        self._producer().flush()
        return [row for group in rows for row in group]

    def execute(
        self,
        execution: Execution,
        actions: Sequence[Any] | None,
        *,
        by: str,
        deadline: float,
        session: Session | None = None,
    ) -> list[dict[str, Any]]:
        """Lock, act, record — in one transaction (the caller's, when `session` is given)."""
        if session is not None:
            return self._execute_in(session, execution, actions, by, deadline)
        with unit_of_work(self._sessions) as own:
            return self._execute_in(own, execution, actions, by, deadline)

    def _execute_in(
        self, session: Session, execution: Execution, actions: Sequence[Any] | None, by: str, deadline: float
    ) -> list[dict[str, Any]]:
        started = time.monotonic()
        logs = ExecLogRepository(session)
        fired = execution.status == "fired"
        logged, locked = logs.claim(execution.idempotency_key, ("rule-group", lock_key(execution)) if fired else None)
        if logged:  # a replay of an execution already done (after a crash): nothing to do
            return []
        if not fired:
            rows = [log_row(execution, execution.status, executed_by=by, reason=execution.reason,
                            explain=execution.explain)]
        elif not locked:
            rows = [log_row(execution, "skipped", executed_by=by, reason="locked")]
        elif actions is None:
            rows = [log_row(execution, "skipped", executed_by=by, reason="rule_inactive")]
        else:
            rows = self._act(execution, actions, by, deadline, started)
        logs.insert(rows)
        return rows

    def _act(
        self, execution: Execution, actions: Sequence[Any], by: str, deadline: float, started: float
    ) -> list[dict[str, Any]]:
        context = template_context(execution)
        summaries: list[dict[str, Any]] = []
        extra: list[dict[str, Any]] = []
        errors: list[str] = []
        for index, action in enumerate(actions):
            run = ActionRun(execution, index, len(actions), deadline)
            try:
                outcome = self._registry.execute(render_action(action, context), run)
            except (TemplateError, ValidationError) as exc:
                error = f"rendered action is invalid: {exc}"
                outcome = ActionOutcome(ok=False, retryable=False, status_code=400, error=error)
            summaries.append({"type": action.type, "ok": outcome.ok, "status_code": outcome.status_code,
                              "attempts": outcome.attempts, "error": outcome.error, **outcome.summary})
            if not outcome.ok:
                errors.append(f"{action.type}: {outcome.error}")
                self._dead_letter(run, action, outcome, by)
            elif (row := _chain_skip_row(execution, outcome)) is not None:
                extra.append(row)
        status = "fail" if errors else "success"
        duration = (time.monotonic() - started) * 1000
        row = log_row(execution, status, executed_by=by, duration_ms=duration, actions=summaries,
                      error="; ".join(errors) or None)
        return [row, *extra]

    def _dead_letter(self, run: ActionRun, action: Any, outcome: ActionOutcome, by: str) -> None:
        """Failed after its last attempt: keep it on the action dead-letter topic for `redrive`."""
        if not outcome.retryable:
            return
        record = {
            "action_id": run.action_id,
            "idempotency_key": run.execution.idempotency_key,
            "rule_id": run.execution.rule_id,
            "rule": run.execution.rule_name,
            "rule_version": run.execution.rule_version,
            "action_index": run.index,
            "action": action.model_dump(by_alias=True),
            "context": template_context(run.execution),
            "error": outcome.error,
            "executed_by": by,
            "failed_at_ms": int(time.time() * 1000),
        }
        value = self._config.sealer.seal(DEAD_LETTER_PURPOSE, record)
        self._producer().send(OutMessage(self._config.action_dead_letter_topic, value, key=run.action_id.encode()))
