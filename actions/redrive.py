"""Re-driving actions from the action dead-letter topic (`cepflow actions redrive`).

A dead letter keeps the action as written in the rule, and the template context of its
execution, so a redrive renders and sends exactly what the first attempts sent — with the same
`webhook-id`, which lets receivers deduplicate. Each redrive attempt writes its own `exec_logs`
row: status `success` or `fail`, `executed_by="redrive"`, idempotency key
`<action id>:redrive:<n>` (n = 1, 2, ... per action), rule id and chain id of the original. The
log is the memory of what was re-sent: a dead letter whose redrive already succeeded is skipped
("already delivered"), so running the command twice never delivers twice; one whose redrives all
failed is tried again. The topic is never consumed or compacted by a redrive: it is read whole
(assign + watermarks, no consumer group offsets), and `--rule` / `--since` select from it.

Limit: two redrives started at the same moment can both send one action; the shared
`webhook-id` lets the receiver drop the second.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import TypeAdapter

from actions import outbox
from actions.deps import ActionDeps
from actions.outcome import action_summary
from actions.pipeline import render_action
from dataflow.kafka_admin import read_all
from dataflow.template_context import ActionRun
from dataflow.types import ChainInfo, Execution
from rules.model import Action
from storage.records import ExecLogRecord, LogStatus
from storage.repositories.exec_logs import ExecLogRepository
from storage.storable import json_bytes
from storage.uow import unit_of_work

ACTION = TypeAdapter(Action)


@dataclass(frozen=True)
class DeadLetterRecord:
    """One entry of the action dead-letter topic, as `ActionPipeline._dead_letter` wrote it."""

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
            rule_id=self.raw["rule_id"], rule_name=self.raw["rule"], rule_version=0,
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


def parse_records(values: Iterable[bytes]) -> list[DeadLetterRecord]:
    """Dead letters from raw topic values; unreadable ones are skipped (they cannot be re-sent)."""
    records = []
    for value in values:
        try:
            raw = orjson.loads(value)
        except orjson.JSONDecodeError:
            continue
        if isinstance(raw, dict) and {"action_id", "action", "context", "rule"} <= raw.keys():
            records.append(DeadLetterRecord(raw))
    return records


def read_dead_letters(resources: ActionDeps) -> list[DeadLetterRecord]:
    """Every readable dead letter of the action dead-letter topic, oldest first."""
    settings = resources.settings
    return parse_records(read_all(settings.brokers, settings.action_dead_letter_topic))


def redrive(
    resources: ActionDeps,
    rule: str | None = None,
    since_ms: int | None = None,
    action_ids: set[str] | None = None,
    by: str | None = None,
) -> list[dict[str, Any]]:
    """Re-send the selected dead letters; returns one summary per dead letter considered.

    `action_ids` narrows the selection to those actions; `by` (who asked) goes into the rows'
    references as `redriven_by`.
    """
    records = read_dead_letters(resources)
    summaries = []
    selected = (r for r in records if r.selected(rule, since_ms) and (action_ids is None or r.action_id in action_ids))
    for record in selected:
        # Read per record, not once up front: the topic may hold one action twice (a replay).
        with resources.sessions() as session:
            attempts = ExecLogRepository(session).statuses_by_key_prefix(redrive_prefix(record.action_id))
        key = next_redrive_key(record.action_id, attempts)
        if key is None:
            summaries.append({"action_id": record.action_id, "status": "already delivered"})
        else:
            summaries.append(_resend(resources, record, key, by))
    return summaries


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


def _resend(resources: ActionDeps, record: DeadLetterRecord, key: str, by: str | None) -> dict[str, Any]:
    started = time.monotonic()
    run = record.run(started + resources.settings.action_deadline_s)
    action = render_action(ACTION.validate_python(record.raw["action"]), record.raw["context"])
    outcome = resources.registry.execute(action, run)
    status: LogStatus = "success" if outcome.ok else "fail"
    references: dict[str, Any] = {"redrive_of": record.action_id, "actions": [action_summary(action.type, outcome)]}
    if by is not None:
        references["redriven_by"] = by
    row = ExecLogRecord(
        rule_id=record.raw["rule_id"], rule_name=record.raw["rule"], status=status,
        duration_ms=(time.monotonic() - started) * 1000,
        references=orjson.loads(json_bytes(references)),
        executed_by="redrive", error_message=outcome.error, idempotency_key=key,
        group_key=run.execution.group, chain_id=run.execution.chain.id,
    )
    with unit_of_work(resources.sessions) as session:
        outbox.record(session, [row], outcome.messages)
    outbox.relay_now(resources.sessions, resources.producer)
    return {"action_id": record.action_id, "status": status, "error": outcome.error}
