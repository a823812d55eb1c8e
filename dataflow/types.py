"""Plain values that travel through the dataflow: events, chain lineage and executions.

They are frozen dataclasses so that Bytewax can pickle them between workers and so that no stage
can change what an earlier stage decided.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal, Protocol

ExecutionStatus = Literal["fired", "skipped", "dry_run"]


class SkipReason(StrEnum):
    """Why an execution ran no actions: the `reason` of a `skipped` or `dry_run` log row (RULES.md §7).

    Values are what the log, the offline runner and the docs show; they never change.
    """

    COOLDOWN = "cooldown"
    LOCKED = "locked"
    RULE_INACTIVE = "rule_inactive"
    CHAIN_DEPTH = "chain_depth"
    CYCLE = "cycle"
    SILENCED = "silenced"
    CONDITION_NOT_MET = "condition not met"
    DRY_RUN_REQUESTED = "dry run requested"
    TARGET_NOT_FOUND = "target_not_found"
    TARGET_INACTIVE = "target_inactive"


class KafkaMessage(Protocol):
    """What the router reads of a Kafka message: confluent-kafka's `Message` as polled (no copy
    per message: the router calls `value()` and `topic()`, the rest only for dead letters), or an
    `InMessage`.
    """

    def topic(self) -> str | None: ...
    def partition(self) -> int | None: ...
    def offset(self) -> int | None: ...
    def value(self) -> bytes | None: ...
    def timestamp(self) -> tuple[int, int]: ...


class InMessage:
    """A Kafka message built in memory (tests, the test-source path of the flow), read like one
    polled by confluent-kafka. `timestamp_ms` is the producer/broker time, the event time of last
    resort.
    """

    __slots__ = ("_offset", "_partition", "_timestamp_ms", "_topic", "_value")

    def __init__(self, topic: str, partition: int, offset: int, value: bytes | None,
                 timestamp_ms: int | None = None) -> None:
        self._topic, self._partition, self._offset = topic, partition, offset
        self._value, self._timestamp_ms = value, timestamp_ms

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def value(self) -> bytes | None:
        return self._value

    def timestamp(self) -> tuple[int, int]:
        """(type, ms) as confluent-kafka gives it: type 0 means "no timestamp"."""
        return (0, -1) if self._timestamp_ms is None else (1, self._timestamp_ms)


@dataclass(frozen=True, slots=True)
class ChainInfo:
    """Lineage of a chain of `trigger_rule` actions: `path` holds the ids of rules already fired."""

    id: str
    depth: int
    path: tuple[str, ...] = ()


@dataclass(slots=True)
class Event:
    """One parsed input event. Chain events are addressed to one rule by `target_rule_id`.

    Never changed once built, but not `frozen`: a frozen dataclass costs twice as much to build,
    and one is built per input event (~0.7 µs of a ~10 µs budget).
    """

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
