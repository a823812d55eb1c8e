"""Facts passed between action stages, and the template context built from them (RULES.md §5)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dataflow.keys import action_id
from dataflow.types import Execution


@dataclass(frozen=True, slots=True)
class ActionRun:
    """One action of one execution: what an executor needs besides the rendered action spec."""

    execution: Execution
    index: int
    count: int
    deadline: float  # time.monotonic() by which retries must stop

    @property
    def action_id(self) -> str:
        """Stable across retries and replays: the `webhook-id`, the chain event id, the DLQ key."""
        return action_id(self.execution.idempotency_key, self.index, self.count)


def template_context(execution: Execution) -> dict[str, Any]:
    """Names available in `{{ ... }}`: event, events, match, chain."""
    return {
        "event": execution.event,
        "events": execution.events,
        "match": {
            "rule": execution.rule_name,
            "rule_id": execution.rule_id,
            "group": execution.group,
            "value": execution.value,
            "window_start": execution.window_start,
            "window_end": execution.window_end,
            "fired_at": execution.at_ms,
        },
        "chain": {
            "id": execution.chain.id,
            "depth": execution.chain.depth,
            "path": list(execution.chain.path),
        },
    }
