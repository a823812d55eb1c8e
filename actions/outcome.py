"""The one result every executor returns, and the retry stage passes on (STYLE.md §1)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dataflow.kafka_out import OutMessage
from dataflow.types import SkipReason


@dataclass(frozen=True)
class ChainSkip:
    """A `trigger_rule` hop refused for depth or cycle: logged as the target's skipped execution."""

    target_rule_id: str
    target_rule: str
    event_id: str
    reason: SkipReason


@dataclass(frozen=True)
class ActionOutcome:
    """What one action did: success, whether a failure is worth retrying, and what to record.

    `status_code` is the HTTP status for webhooks and the original system's code (400/404/500) for
    `api_script` and `trigger_rule` errors. `summary` goes into the execution log's references.
    `attempts` and `duration_ms` are those of one attempt until the retry stage sets the totals.
    `messages` are for Kafka (chain events): the pipeline commits them to the outbox with the
    execution's row — an executor never sends to Kafka itself (docs/ARCHITECTURE.md, outbox).
    `retry_after_s`: the target asked for at least this wait before the next attempt (an HTTP
    `Retry-After`); the retry stage honours it, and the log keeps it.
    """

    ok: bool
    retryable: bool
    status_code: int | None = None
    error: str | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    attempts: int = 1
    duration_ms: float = 0.0
    chain_skip: ChainSkip | None = None
    messages: tuple[OutMessage, ...] = ()
    retry_after_s: float | None = None


def action_summary(action_type: str, outcome: ActionOutcome) -> dict[str, Any]:
    """What the log's `references.actions` keeps of one action's outcome."""
    summary = {"type": action_type, "ok": outcome.ok, "status_code": outcome.status_code,
               "attempts": outcome.attempts, "error": outcome.error, **outcome.summary}
    if outcome.chain_skip is not None:
        summary["skipped"] = outcome.chain_skip.reason
    if outcome.retry_after_s is not None:
        summary["retry_after_s"] = outcome.retry_after_s
    return summary
