"""The Bytewax action sink: where executions leave the dataflow and actions run.

It is a `FixedPartitionedSink` on purpose: Bytewax commits an epoch only after `write_batch` has
returned for every item of it (BYTEWAX.md §3.2), so an execution is either recorded in
`exec_logs` or replayed after a crash — never lost. Replays are harmless: the pipeline skips
idempotency keys already in the log, and webhooks carry the same `webhook-id` every time.

Order inside `write_batch`: # Step 1. dedup against the log; # Step 2. run actions concurrently
(bounded, with a deadline so the dataflow is never blocked longer than the longest retry budget);
# Step 3. flush chain events and dead letters to Kafka (raises on any failed delivery, which fails
the epoch and replays the batch).
"""

from __future__ import annotations

from collections.abc import Callable

from bytewax.outputs import FixedPartitionedSink, StatefulSinkPartition

from cepflow.resources import Resources
from cepflow.settings import Settings
from dataflow.types import Execution

PARTITIONS = 4


class _ActionPartition(StatefulSinkPartition[Execution, None]):
    def __init__(self, resources: Resources) -> None:
        self._pipeline = resources.pipeline
        self._clock = resources.clock

    def write_batch(self, values: list[Execution]) -> None:
        with self._clock.busy():  # a slow target stalls the worker: that is not idle input
            self._pipeline.run_batch(values)

    def snapshot(self) -> None:
        return None


class ActionSink(FixedPartitionedSink[Execution, None]):
    """Executions keyed by (rule, group), spread over a fixed set of partitions."""

    def __init__(self, settings: Settings, resources: Callable[[], Resources]) -> None:
        self._resources = resources

    def list_parts(self) -> list[str]:
        return [f"actions-{i}" for i in range(PARTITIONS)]

    def build_part(self, step_id: str, for_part: str, resume_state: None) -> _ActionPartition:
        return _ActionPartition(self._resources())
