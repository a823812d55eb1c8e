"""`trigger_rule`: publish a chain event to the internal topic — never a recursive call.

The event is returned in the outcome, not sent: the pipeline commits it to the outbox with the
execution's row, and the relay publishes it (docs/ARCHITECTURE.md, outbox).

The target evaluates it like any event it reads (RULES.md §5). Depth and cycle limits are decided
here, before publishing, by the same `plan_chain` the offline runner uses. The event is sealed
with the deployment's key: the router fires only on chain events this deployment wrote.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from actions.outcome import ActionOutcome, ChainSkip
from dataflow.chain import plan_chain
from dataflow.chain_envelope import seal_chain_event
from dataflow.kafka_out import OutMessage
from dataflow.rule_cache import RuleSet
from dataflow.sealing import Sealer
from dataflow.template_context import ActionRun
from dataflow.types import SkipReason
from rules.model import TriggerRuleAction


class TriggerRuleExecutor:
    """One attempt: look the target up, plan the chain hop, return the chain event."""

    def __init__(self, rules: Callable[[], RuleSet], topic: str, max_depth: int, sealer: Sealer) -> None:
        self._sealer = sealer
        self._rules = rules
        self._topic = topic
        self._max_depth = max_depth

    def __call__(self, action: TriggerRuleAction, run: ActionRun) -> ActionOutcome:
        started = time.monotonic()
        target = self._rules().lookup(action.rule_id)
        if target is None:
            return ActionOutcome(ok=False, retryable=False, status_code=404, error="Target rule not found")
        if not target.active:
            return ActionOutcome(ok=False, retryable=False, status_code=400, error="Target rule is not active")
        hop = plan_chain(run.execution.chain, target.id, self._max_depth)
        summary: dict[str, Any] = {"target_rule_id": target.id, "target_rule": target.name, "event_id": run.action_id}
        if isinstance(hop, SkipReason):
            skip = ChainSkip(target.id, target.name, run.action_id, hop)
            return ActionOutcome(ok=True, retryable=False, summary=summary, chain_skip=skip)
        value = seal_chain_event(
            self._sealer,
            event_id=run.action_id,
            ts_ms=run.execution.at_ms,
            target_rule_id=target.id,
            chain=hop,
            payload=action.payload,
        )
        summary["chain"] = {"id": hop.id, "depth": hop.depth, "path": list(hop.path)}
        return ActionOutcome(
            ok=True, retryable=False, summary=summary, duration_ms=(time.monotonic() - started) * 1000,
            messages=(OutMessage(self._topic, value, key=target.id.encode()),),
        )
