"""The Bytewax action sink: where executions leave the dataflow and actions run.

Actions run on a thread per sink partition, batch after batch in order, while the dataflow goes
on reading and evaluating: a webhook that takes 10 ms (or 7 s) does not hold up the events
behind it (bench figure 5: with actions run inline, every event waited for the action batches
ahead of it, and p99 latency was the sum).

Nothing is lost for that. It is a `FixedPartitionedSink` on purpose: Bytewax commits an epoch
only after `snapshot` has returned for every partition (BYTEWAX.md §3.2), and the snapshot is the
list of executions still queued or running. After a crash they are run again on resume; an
execution that had in fact finished is skipped by the pipeline's dedup on `exec_logs`, and
webhooks carry the same `webhook-id` every time. A batch that failed (a database or Kafka
error) raises at the next `write_batch` or `snapshot`, so its epoch never commits and is
replayed. When more than `MAX_PENDING` executions wait (slow targets), the dataflow waits too.

Per batch (`ActionPipeline.run_batch`): executions of different groups run concurrently (bounded,
with a deadline), each one deduped and locked in one statement; chain events and dead letters are
committed to the outbox with their rows, and the relay thread (`actions/outbox.py`), started with
the pipeline and woken after each batch that queued messages, sends them. A database outage blocks the batch
(waited out, `dataflow/outage.py`) rather than failing it; backpressure then holds the dataflow.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from bytewax.outputs import FixedPartitionedSink, StatefulSinkPartition

from actions.deps import ActionDeps
from dataflow.types import Execution

PARTITIONS = 4
MAX_PENDING = 2_000
"""Executions waiting for actions, per sink partition, before the dataflow waits for them."""


class _ActionPartition(StatefulSinkPartition[Execution, list[Execution]]):
    def __init__(self, resources: ActionDeps, resume: list[Execution] | None) -> None:
        self._pipeline = resources.pipeline
        self._clock = resources.clock
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="cepflow-sink")
        self._pending: deque[tuple[Future[object], list[Execution]]] = deque()
        self._count = 0
        if resume:  # queued or running when the last epoch committed: run again (dedup skips done ones)
            self._submit(resume)

    def _submit(self, values: list[Execution]) -> None:
        self._pending.append((self._thread.submit(self._pipeline.run_batch, values), values))
        self._count += len(values)

    def _settle(self, keep: int) -> None:
        """Forget finished batches, raising the first failure; wait while more than `keep`
        executions are pending.
        """
        while self._pending:
            future, values = self._pending[0]
            if not future.done():
                if self._count <= keep:
                    return
                with self._clock.busy():  # waiting for slow targets is not idle input
                    future.exception()
            self._pending.popleft()
            self._count -= len(values)
            future.result()  # a failed batch fails the epoch: it is replayed

    def write_batch(self, values: list[Execution]) -> None:
        self._settle(MAX_PENDING)
        self._submit(values)

    def snapshot(self) -> list[Execution]:
        self._settle(MAX_PENDING)
        return [execution for _, values in self._pending for execution in values]

    def close(self) -> None:
        try:
            self._settle(0)
        finally:
            self._thread.shutdown(wait=True)


class ActionSink(FixedPartitionedSink[Execution, list[Execution]]):
    """Executions keyed by (rule, group), spread over a fixed set of partitions."""

    def __init__(self, resources: Callable[[], ActionDeps]) -> None:
        self._resources = resources  # called in each worker: nothing is built at flow import

    def list_parts(self) -> list[str]:
        return [f"actions-{i}" for i in range(PARTITIONS)]

    def build_part(self, step_id: str, for_part: str, resume_state: list[Execution] | None) -> _ActionPartition:
        return _ActionPartition(self._resources(), resume_state)
