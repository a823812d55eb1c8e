"""Plain values that travel through the dataflow: events, chain lineage and executions.

They are frozen dataclasses so that Bytewax can pickle them between workers and so that no stage
can change what an earlier stage decided.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

ExecutionStatus = Literal["fired", "skipped", "dry_run"]


@dataclass(frozen=True, slots=True)
class ChainInfo:
    """Lineage of a chain of `trigger_rule` actions: `path` holds the ids of rules already fired."""

    id: str
    depth: int
    path: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Event:
    """One parsed input event. Chain events are addressed to one rule by `target_rule_id`."""

    id: str
    ts_ms: int
    topic: str
    type: str | None
    body: dict[str, Any]
    chain: ChainInfo | None = None
    target_rule_id: str | None = None


@dataclass(frozen=True, slots=True)
class Execution:
    """A would-be or real execution of a rule's actions for one group: what the sink acts on."""

    rule_id: str
    rule_name: str
    rule_version: int
    group: dict[str, Any]
    status: ExecutionStatus
    reason: str | None
    at_ms: int
    value: Any
    window_start: int | None
    window_end: int | None
    event: dict[str, Any]
    event_id: str
    idempotency_key: str
    chain: ChainInfo
    events: dict[str, dict[str, Any]] = field(default_factory=dict)
    explain: list[dict[str, Any]] | None = None
