"""What happens to an `Execution`, start to finish — the action topology in one place:

    dedup + lock (exec log; rule and group — one statement) -> silences -> for each action: template
      -> execute (+retry) -> dead-letter what failed
      -> record one exec_logs row (+ skipped rows of chain targets) and its Kafka messages
         (chain events, dead letters) in the outbox, one transaction -> the relay sends them

The decision to skip comes from the log and the lock, and is recorded with a named reason.
The row is written in the transaction that holds the advisory lock, so a concurrent execution of
the same rule and group (stream or manual) sees `locked` rather than running twice.

Nothing stops a partition (issue 12): a database outage is waited out (`dataflow.outage`), and
an execution that fails for any other reason `ATTEMPTS` times in a row — a value PostgreSQL
refuses even escaped, an action that raises — is quarantined: logged `fail` with reason
`quarantined`, sent to the action dead-letter topic, and the batch goes on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import ValidationError
from sqlalchemy.orm import Session, sessionmaker

from actions.faults import fault_point
from actions.outbox import record
from actions.outcome import ActionOutcome, ChainSkip, action_summary
from actions.registry import ActionRegistry
from actions.webhook_url import REDACTED, redact_url
from dataflow.kafka_out import OutMessage, ReliableProducer
from dataflow.keys import lock_key
from dataflow.outage import watch
from dataflow.rule_cache import RuleSet
from dataflow.sealing import Sealer
from dataflow.template_context import ActionRun, template_context
from dataflow.types import Execution, SkipReason
from rules.templates import TEMPLATED_FIELDS, TemplateError, render
from storage.db import warm_pool
from storage.errors import is_outage
from storage.records import ExecLogRecord, LogStatus
from storage.repositories.exec_logs import ExecLogRepository
from storage.storable import json_bytes
from storage.uow import unit_of_work

log = logging.getLogger(__name__)

ATTEMPTS = 3
"""Tries of one execution that fails for a reason other than an outage, before its quarantine."""
QUARANTINED = "quarantined"
"""The `reason` of a `fail` row for an execution that could not be completed (issue 12)."""

DEAD_LETTER_PURPOSE = "action-dead-letter"
"""MAC purpose of action dead letters (`dataflow/sealing.py`); `actions/redrive.py` opens them."""


@dataclass(frozen=True)
class PipelineConfig:
    """Deployment settings of the pipeline: where dead letters go, how many actions at once, how long."""

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


def invalid_action_error(exc: ValidationError) -> str:
    """Why a rendered action is invalid, without the rendered values: an endpoint, header or
    param may carry a secret, and this text is stored in the log and the dead letter.
    """
    problems = []
    for error in exc.errors(include_url=False):
        where, message, value = ".".join(map(str, error["loc"])) or "action", error["msg"], error.get("input")
        if isinstance(value, str) and value:  # a validator may quote the value in its message
            message = message.replace(value, redact_url(value) if where == "endpoint" else REDACTED)
        problems.append(f"{where}: {message}")
    return f"rendered action is invalid: {'; '.join(problems)}"


def executed_by(execution: Execution, rules: RuleSet) -> str:
    """`stream`, or `chain:<rule that triggered this one>` (RULES.md §7)."""
    if execution.chain.depth == 0 or len(execution.chain.path) < 2:
        return "stream"
    parent = rules.lookup(execution.chain.path[-2])
    return f"chain:{parent.name if parent else execution.chain.path[-2]}"


def log_record(
    execution: Execution,
    status: LogStatus,
    *,
    executed_by: str,
    reason: str | None = None,
    duration_ms: float = 0.0,
    actions: Sequence[dict[str, Any]] = (),
    error: str | None = None,
    explain: list[dict[str, Any]] | None = None,
    silence_id: str | None = None,
) -> ExecLogRecord:
    """The `exec_logs` record of an execution (RULES.md §7)."""
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
    if silence_id is not None:
        references["silence_id"] = silence_id
    return ExecLogRecord(
        rule_id=execution.rule_id,
        rule_name=execution.rule_name,
        rule_version=execution.rule_version,
        status=status,
        reason=reason,
        duration_ms=duration_ms,
        references=orjson.loads(json_bytes(references)),
        executed_by=executed_by,
        error_message=error,
        idempotency_key=execution.idempotency_key,
        group_key=execution.group,
        chain_id=execution.chain.id,
    )


def _chain_skip_record(execution: Execution, skip: ChainSkip) -> ExecLogRecord:
    """A trigger_rule hop refused for depth or cycle is logged as the target's skipped execution."""
    target = Execution(
        rule_id=skip.target_rule_id,
        rule_name=skip.target_rule,
        rule_version=0,
        group={},
        status="skipped",
        reason=skip.reason,
        at_ms=execution.at_ms,
        value=None,
        window_start=None,
        window_end=None,
        event={},
        event_id=skip.event_id,
        idempotency_key=f"{skip.event_id}:{skip.reason}",
        chain=execution.chain,
    )
    return log_record(target, "skipped", executed_by=f"chain:{execution.rule_name}", reason=skip.reason)


def rule_actions(rules: RuleSet, execution: Execution) -> Sequence[Any] | None:
    """The actions of the rule that fired; a rule changed since then runs its current actions;
    None when it was disabled or deleted before its actions ran (the execution is skipped).
    """
    rule = rules.compiled(execution.rule_id, execution.rule_version) or rules.active.get(execution.rule_id)
    return rule.spec.actions if rule is not None else None


def execution_lock_key(execution: Execution) -> str:
    """The (rule, group) lock of an execution: the sink's partition key and the advisory lock."""
    return lock_key(execution.rule_id, execution.group)


def by_lock_key(executions: Iterable[Execution]) -> dict[str, list[Execution]]:
    """The executions of each (rule, group) lock key, in order."""
    groups: dict[str, list[Execution]] = {}
    for execution in executions:
        groups.setdefault(execution_lock_key(execution), []).append(execution)
    return groups


class ActionPipeline:
    """Runs executions' actions and records them; shared by the stream sink and manual triggers."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        registry: ActionRegistry,
        producer: Callable[[], ReliableProducer],
        rules: Callable[[], RuleSet],
        config: PipelineConfig,
        silenced: Callable[[str, dict[str, Any]], str | None] = lambda rule_id, group: None,
        committed: Callable[[], None] = lambda: None,
    ) -> None:
        """`silenced(rule_id, group)` names the silence muting an execution now, or None; `committed`
        is called after a batch that committed Kafka messages (it wakes the outbox relay).
        """
        self._silenced = silenced
        self._sessions = sessions
        self._registry = registry
        self._producer = producer
        self._rules = rules
        self._config = config
        self._committed = committed
        self._database = watch("postgresql")
        self._pool = ThreadPoolExecutor(config.concurrency, thread_name_prefix="cepflow-action")

    def warm(self) -> None:
        """Open the connections the executions will hold, before the first one needs them."""
        warm_pool(self._sessions.kw["bind"], self._config.concurrency)

    def run_batch(self, executions: list[Execution]) -> list[ExecLogRecord]:
        """Execute what the log has not seen yet; returns the records written.

        Executions of one (rule, group) run one after another, in order — the engine never races
        itself for the advisory lock, so `locked` only ever means another caller (a manual
        trigger) held it. Different groups run concurrently.
        """
        first: dict[str, Execution] = {}  # the log itself is checked per execution, under its lock
        for execution in executions:
            first.setdefault(execution.idempotency_key, execution)
        by_group = by_lock_key(first.values())
        deadline, down_mark = time.monotonic() + self._config.deadline_s, self._database.down_s()
        rules = self._rules()

        def run_group(group: list[Execution]) -> list[ExecLogRecord]:
            return [
                row
                for execution in group
                for row in self._settle(execution, rule_actions(rules, execution),
                                        by=executed_by(execution, rules), deadline=deadline, down_mark=down_mark)
            ]

        rows = list(self._pool.map(run_group, by_group.values()))
        return [row for group in rows for row in group]

    def _settle(self, execution: Execution, actions: Sequence[Any] | None, *, by: str,
                deadline: float, down_mark: float) -> list[ExecLogRecord]:
        """`execute`, waiting out database outages; quarantined after `ATTEMPTS` other failures.

        Time the database was down since the batch began (`down_mark`, a `down_s()` reading) does
        not count against the actions' `deadline`: after an outage, the batch's executions get the
        time they had left.
        """

        def attempt() -> list[ExecLogRecord]:
            moved = deadline + (self._database.down_s() - down_mark)
            return self.execute(execution, actions, by=by, deadline=moved)

        error: Exception | None = None
        for attempt_number in range(1, ATTEMPTS + 1):
            try:
                return self._database.call(attempt, is_outage)
            except Exception as exc:
                error = exc
                log.warning("execution %r failed (attempt %d of %d): %s: %s", execution.idempotency_key,
                            attempt_number, ATTEMPTS, type(exc).__name__, exc)
        assert error is not None
        return self._quarantine(execution, by, error)

    def _quarantine(self, execution: Execution, by: str, error: Exception) -> list[ExecLogRecord]:
        """Log the execution `fail`/`quarantined` and dead-letter it, so its partition goes on.

        If even that row cannot be stored, the dead letter is sent straight to Kafka.
        """
        reason = f"quarantined after {ATTEMPTS} attempts: {type(error).__name__}: {error}"[:2000]
        letter = {"quarantined": True, "idempotency_key": execution.idempotency_key,
                   "rule_id": execution.rule_id, "rule": execution.rule_name, "event_id": execution.event_id,
                   "group": execution.group, "event": execution.event, "error": reason, "executed_by": by,
                   "failed_at_ms": int(time.time() * 1000)}
        message = OutMessage(self._config.action_dead_letter_topic, self._config.sealer.seal(DEAD_LETTER_PURPOSE, letter),
                             key=execution.idempotency_key.encode("utf-8", "surrogatepass"))
        row = log_record(execution, "fail", executed_by=by, reason=QUARANTINED, error=reason)
        log.error("execution %r quarantined: %s", execution.idempotency_key, reason)

        def write() -> None:
            with unit_of_work(self._sessions) as session:
                record(session, [row], [message])
            self._committed()  # the dead letter is relayed now, not at the relay's next period

        try:
            self._database.call(write, is_outage)
        except Exception:
            log.exception("quarantined execution %r could not be logged; dead-lettered only",
                          execution.idempotency_key)
            self._producer().deliver([message], watch("kafka").failed)
            return []
        return [row]

    def execute(
        self,
        execution: Execution,
        actions: Sequence[Any] | None,
        *,
        by: str,
        deadline: float,
        session: Session | None = None,
    ) -> list[ExecLogRecord]:
        """Lock, act, record — in one transaction (the caller's, when `session` is given)."""
        if session is not None:  # the caller commits, then relays (`actions.manual`)
            return self._execute_in(session, execution, actions, by, deadline)[0]
        with unit_of_work(self._sessions) as own:
            rows, queued = self._execute_in(own, execution, actions, by, deadline)
        fault_point("committed")
        if queued:  # relayed now: a chain hop does not wait for the rest of the batch (bench: hop p50)
            self._committed()
        return rows

    def _execute_in(
        self, session: Session, execution: Execution, actions: Sequence[Any] | None, by: str, deadline: float
    ) -> tuple[list[ExecLogRecord], bool]:
        """(the rows recorded, whether outbox messages were recorded with them)."""
        started = time.monotonic()
        logs = ExecLogRepository(session)
        fired = execution.status == "fired"
        logged, locked = logs.claim(execution.idempotency_key, ("rule-group", execution_lock_key(execution)) if fired else None)
        if logged:  # a replay of an execution already done (after a crash): nothing to do
            return [], False
        fault_point("claimed")
        messages: list[OutMessage] = []
        if not fired:
            logged_as: LogStatus = "dry_run" if execution.status == "dry_run" else "skipped"
            rows = [log_record(execution, logged_as, executed_by=by, reason=execution.reason,
                               explain=execution.explain)]
        elif not locked:
            rows = [log_record(execution, "skipped", executed_by=by, reason=SkipReason.LOCKED)]
        elif actions is None:
            rows = [log_record(execution, "skipped", executed_by=by, reason=SkipReason.RULE_INACTIVE)]
        elif (silence := self._silenced(execution.rule_id, execution.group)) is not None:
            rows = [log_record(execution, "skipped", executed_by=by, reason=SkipReason.SILENCED, silence_id=silence)]
        else:
            rows, messages = self._act(execution, actions, by, deadline, started)
        fault_point("acted")
        record(session, rows, messages)
        return rows, bool(messages)

    def _act(
        self, execution: Execution, actions: Sequence[Any], by: str, deadline: float, started: float
    ) -> tuple[list[ExecLogRecord], list[OutMessage]]:
        """Run the actions; the records to log and the messages for the outbox."""
        context = template_context(execution)
        summaries: list[dict[str, Any]] = []
        extra: list[ExecLogRecord] = []
        messages: list[OutMessage] = []
        errors: list[str] = []
        for index, action in enumerate(actions):
            run = ActionRun(execution, index, len(actions), deadline)
            try:
                outcome = self._registry.execute(render_action(action, context), run)
            except TemplateError as exc:
                error = f"rendered action is invalid: {exc}"
                outcome = ActionOutcome(ok=False, retryable=False, status_code=400, error=error)
            except ValidationError as exc:
                outcome = ActionOutcome(ok=False, retryable=False, status_code=400, error=invalid_action_error(exc))
            summaries.append(action_summary(action.type, outcome))
            messages.extend(outcome.messages)
            if not outcome.ok:
                errors.append(f"{action.type}: {outcome.error}")
                if outcome.retryable:
                    messages.append(self._dead_letter(run, action, outcome, by))
            elif outcome.chain_skip is not None:
                extra.append(_chain_skip_record(execution, outcome.chain_skip))
        status: LogStatus = "fail" if errors else "success"
        duration = (time.monotonic() - started) * 1000
        row = log_record(execution, status, executed_by=by, duration_ms=duration, actions=summaries,
                         error="; ".join(errors) or None)
        return [row, *extra], messages

    def _dead_letter(self, run: ActionRun, action: Any, outcome: ActionOutcome, by: str) -> OutMessage:
        """Failed after its last attempt: keep it on the action dead-letter topic for `redrive`."""
        letter = {
            "action_id": run.action_id,
            "idempotency_key": run.execution.idempotency_key,
            "rule_id": run.execution.rule_id,
            "rule": run.execution.rule_name,
            "rule_version": run.execution.rule_version,
            "action_index": run.index,
            "action": {"type": action.type},  # what to run comes from the stored revision, not from here
            "context": template_context(run.execution),
            "error": outcome.error,
            "executed_by": by,
            "failed_at_ms": int(time.time() * 1000),
        }
        value = self._config.sealer.seal(DEAD_LETTER_PURPOSE, letter)
        return OutMessage(self._config.action_dead_letter_topic, value, key=run.action_id.encode("utf-8", "surrogatepass"))
