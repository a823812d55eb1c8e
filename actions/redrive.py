"""Re-driving actions from the action dead-letter topic (`cepflow actions redrive`).

A dead letter names the action — rule id, rule version, action index — and keeps the template
context of its execution, so a redrive renders and sends what the first attempts sent, with the
same `webhook-id`, which lets receivers deduplicate. Each redrive attempt writes its own
`exec_logs` row: status `success` or `fail`, `executed_by="redrive"`, idempotency key
`<action id>:redrive:<n>` (n = 1, 2, ... per action), rule id and chain id of the original. The
log is the memory of what was re-sent: a dead letter whose redrive already succeeded is skipped
("already delivered"), so running the command twice never delivers twice; one whose redrives all
failed is tried again. The topic is never consumed or compacted by a redrive: it is read whole
(assign + watermarks, no consumer group offsets), and `--rule` / `--since` select from it.

Trust: anyone who can produce to Kafka can write to the topic, so nothing a record says is run
as such. A record must carry this deployment's MAC (`dataflow/sealing.py`, purpose
`action-dead-letter`) and well-formed fields, else it is refused and reported (status `refused`,
with the reason) whatever `--rule`/`--since` say. What to run is re-derived from the stored rule
revision (rule id + version + action index): the record's own copy of the action (its URL, body,
script or target) is never used.

Limit: two redrives started at the same moment can both send one action; the shared
`webhook-id` lets the receiver drop the second.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import ValidationError
from sqlalchemy.orm import Session, sessionmaker

from actions import outbox
from actions.outcome import ActionOutcome, action_summary
from actions.pipeline import DEAD_LETTER_PURPOSE, render_action
from actions.registry import ActionRegistry
from dataflow.kafka_out import ReliableProducer
from dataflow.sealing import Sealer
from dataflow.template_context import ActionRun
from dataflow.types import ChainInfo, Execution
from rules.model import RuleSpec
from rules.templates import TemplateError
from storage.records import ExecLogRecord, LogStatus
from storage.repositories.exec_logs import ExecLogRepository
from storage.repositories.rules import RuleRepository
from storage.storable import json_bytes
from storage.uow import unit_of_work

_TEXT_FIELDS = ("action_id", "idempotency_key", "rule_id", "rule")


@dataclass(frozen=True)
class DeadLetterRecord:
    """One sealed entry of the action dead-letter topic, as `ActionPipeline._dead_letter` wrote it."""

    raw: dict[str, Any]

    @property
    def action_id(self) -> str:
        return str(self.raw["action_id"])

    def selected(self, rule: str | None, since_ms: int | None) -> bool:
        """Whether `--rule` (name or id) and `--since` pick this dead letter."""
        if rule is not None and rule not in (self.raw.get("rule"), self.raw.get("rule_id")):
            return False
        return since_ms is None or int(self.raw.get("failed_at_ms", 0)) >= since_ms

    def execution(self) -> Execution:
        """Enough of the original execution to rebuild its `ActionRun` (same action id)."""
        context = self.raw["context"]
        match, chain = context["match"], context["chain"]
        return Execution(
            rule_id=self.raw["rule_id"], rule_name=self.raw["rule"], rule_version=self.raw["rule_version"],
            group=match.get("group") or {}, status="fired", reason=None,
            at_ms=match.get("fired_at") or 0, value=match.get("value"),
            window_start=match.get("window_start"), window_end=match.get("window_end"),
            event=context.get("event") or {}, event_id=self.action_id,
            idempotency_key=self.raw["idempotency_key"],
            chain=ChainInfo(chain["id"], chain["depth"], tuple(chain["path"])),
            events=context.get("events") or {},
        )

    def run(self, deadline: float) -> ActionRun:
        execution = self.execution()
        several = self.action_id != execution.idempotency_key
        return ActionRun(execution, int(self.raw["action_index"]), 2 if several else 1, deadline)


@dataclass(frozen=True)
class Refused:
    """A topic entry that is not a dead letter this deployment wrote: reported, never run."""

    reason: str
    claimed_action_id: str | None = None

    def summary(self) -> dict[str, Any]:
        return {"action_id": self.claimed_action_id, "status": "refused", "reason": self.reason}


def _malformed(raw: dict[str, Any]) -> str | None:
    """What is wrong with the fields of an authentic record (a record of an older engine, a bug)."""
    for name in _TEXT_FIELDS:
        if not isinstance(raw.get(name), str):
            return f"{name} is not a string"
    for name, low in (("rule_version", 1), ("action_index", 0)):
        if type(raw.get(name)) is not int or raw[name] < low:
            return f"{name} is not an integer >= {low}"
    try:
        uuid.UUID(raw["rule_id"])
        DeadLetterRecord(raw).run(0.0)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        return f"context is not an execution's: {exc!r}"[:300]
    return None


def open_record(value: bytes, sealer: Sealer) -> DeadLetterRecord | Refused:
    """One topic entry: a sealed, well-formed dead letter, or why it is refused."""
    try:
        body = orjson.loads(value)
    except orjson.JSONDecodeError:
        return Refused("not JSON")
    if not isinstance(body, dict):
        return Refused("not a JSON object")
    claimed = body.get("action_id")
    claimed = claimed[:200] if isinstance(claimed, str) else None
    raw = sealer.open(DEAD_LETTER_PURPOSE, body)
    if isinstance(raw, str):
        return Refused(f"not sealed by this deployment: {raw}", claimed)
    if raw.get("quarantined") is True:  # an execution the pipeline gave up on: no action to re-send
        return Refused("a quarantined execution, not an action: see its log row", claimed)
    if (problem := _malformed(raw)) is not None:
        return Refused(f"malformed dead letter: {problem}", claimed)
    return DeadLetterRecord(raw)


def parse_records(values: Iterable[bytes], sealer: Sealer) -> list[DeadLetterRecord | Refused]:
    """Every topic entry, opened; nothing is dropped silently."""
    return [open_record(value, sealer) for value in values]


@dataclass(frozen=True)
class Redriver:
    """What a redrive needs, built by the composition root (`Resources.redriver`), shared by
    `cepflow actions redrive` and the HTTP API.
    """

    sealer: Sealer
    sessions: sessionmaker[Session]
    registry: ActionRegistry
    producer: Callable[[], ReliableProducer]
    deadline_s: float

    def redrive(self, values: Iterable[bytes], rule: str | None = None, since_ms: int | None = None,
                action_ids: set[str] | None = None, by: str | None = None) -> list[dict[str, Any]]:
        """Re-send the selected dead letters; one summary per entry considered (refused ones too).

        `action_ids` narrows the selection to those actions; `by` (who asked) goes into the rows'
        references as `redriven_by`.
        """
        summaries = []
        for record in parse_records(values, self.sealer):
            if isinstance(record, Refused):
                summaries.append(record.summary())
            elif record.selected(rule, since_ms) and (action_ids is None or record.action_id in action_ids):
                summaries.append(self._one(record, by))
        return summaries

    def _one(self, record: DeadLetterRecord, by: str | None) -> dict[str, Any]:
        # Read per record, not once up front: the topic may hold one action twice (a replay).
        with self.sessions() as session:
            attempts = ExecLogRepository(session).statuses_by_key_prefix(redrive_prefix(record.action_id))
            action = stored_action(session, record)
        if isinstance(action, Refused):
            return {**action.summary(), "action_id": record.action_id}
        key = next_redrive_key(record.action_id, attempts)
        if key is None:
            return {"action_id": record.action_id, "status": "already delivered"}
        return self._resend(record, action, key, by)

    def _resend(self, record: DeadLetterRecord, action: Any, key: str, by: str | None) -> dict[str, Any]:
        started = time.monotonic()
        run = record.run(started + self.deadline_s)
        try:
            outcome = self.registry.execute(render_action(action, record.raw["context"]), run)
        except (TemplateError, ValidationError) as exc:
            outcome = ActionOutcome(ok=False, retryable=False, status_code=400,
                                    error=f"rendered action is invalid: {exc}")
        status: LogStatus = "success" if outcome.ok else "fail"
        references: dict[str, Any] = {"redrive_of": record.action_id, "actions": [action_summary(action.type, outcome)]}
        if by is not None:
            references["redriven_by"] = by
        row = ExecLogRecord(
            rule_id=record.raw["rule_id"], rule_name=record.raw["rule"], rule_version=record.raw["rule_version"],
            status=status, duration_ms=(time.monotonic() - started) * 1000,
            references=orjson.loads(json_bytes(references)),
            executed_by="redrive", error_message=outcome.error, idempotency_key=key,
            group_key=run.execution.group, chain_id=run.execution.chain.id,
        )
        with unit_of_work(self.sessions) as session:
            outbox.record(session, [row], outcome.messages)  # a chain event it sends: durable with the row
        outbox.relay_now(self.sessions, self.producer())
        return {"action_id": record.action_id, "status": status, "error": outcome.error}


def stored_action(session: Session, record: DeadLetterRecord) -> Any:
    """The action as the stored rule revision defines it, or `Refused` when there is none."""
    rule_id, version, index = uuid.UUID(record.raw["rule_id"]), record.raw["rule_version"], record.raw["action_index"]
    revision = RuleRepository(session).at_version(rule_id, version)
    if revision is None:
        return Refused(f"rule {rule_id} has no version {version}")
    try:
        actions = RuleSpec.model_validate(revision.spec).actions
    except ValidationError:
        return Refused(f"rule {rule_id} version {version} no longer validates")
    if index >= len(actions):
        return Refused(f"rule {rule_id} version {version} has no action {index}")
    return actions[index]


def redrive_prefix(action_id: str) -> str:
    """The idempotency-key prefix shared by every redrive of one action."""
    return f"{action_id}:redrive:"


def next_redrive_key(action_id: str, attempts: Mapping[str, str]) -> str | None:
    """The key of the next redrive of `action_id`, given `{key: status}` of its earlier redrives;
    None once one of them succeeded (never deliver twice).
    """
    if "success" in attempts.values():
        return None
    return f"{redrive_prefix(action_id)}{len(attempts) + 1}"
