"""The Bytewax action sink: where executions leave the dataflow and actions run.

Actions run on threads of their own while the dataflow goes on reading and evaluating: a webhook
that takes 10 ms (or 7 s) does not hold up the events behind it (bench figure 5: with actions run
inline, every event waited for the action batches ahead of it, and p99 latency was the sum).

Nor does it hold up the other groups' actions. Executions of one (rule, group) — one lock key —
run one after another, in order; each group's executions of a batch start as soon as that
group's earlier ones have finished, not when the whole earlier batch has. (Batches used to run
one after another per partition: one slow target, or one 280 ms script, delayed every execution
queued behind it in its partition — the bench's probes measured up to 218 ms of such waiting.)

Nothing is lost for that. It is a `FixedPartitionedSink` on purpose: Bytewax commits an epoch
only after `snapshot` has returned for every partition (BYTEWAX.md §3.2), and the snapshot is the
list of executions still queued or running. After a crash they are run again on resume; an
execution that had in fact finished is skipped by the pipeline's dedup on `exec_logs`, and
webhooks carry the same `webhook-id` every time. A group that failed (a database or Kafka
error) raises at the next `write_batch` or `snapshot`, so its epoch never commits and is
replayed. When more than `MAX_PENDING` executions wait (slow targets), the dataflow waits too.

Per group (`ActionPipeline.run_batch`): executions are deduped and locked in one statement each,
with a deadline; chain events and dead letters are committed to the outbox with their rows, and
the relay thread (`actions/outbox.py`), started with the pipeline and woken after each group that
queued messages, sends them. A database outage blocks the group (waited out,
`dataflow/outage.py`) rather than failing it; backpressure then holds the dataflow.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

from bytewax.outputs import FixedPartitionedSink, StatefulSinkPartition

from actions.deps import ActionDeps
from actions.pipeline import by_lock_key
from dataflow.types import Execution

PARTITIONS = 4
MAX_PENDING = 2_000
"""Executions waiting for actions, per sink partition, before the dataflow waits for them."""
GROUPS_IN_FLIGHT = 8
"""Groups whose actions a partition runs at once (the pipeline's pool bounds the executions)."""


class _ActionPartition(StatefulSinkPartition[Execution, list[Execution]]):
    def __init__(self, resources: ActionDeps, resume: list[Execution] | None) -> None:
        self._pipeline = resources.pipeline
        self._pipeline.warm()
        self._clock = resources.clock
        self._threads = ThreadPoolExecutor(GROUPS_IN_FLIGHT, thread_name_prefix="cepflow-sink")
        self._pending: list[tuple[Future[Any], list[Execution]]] = []  # in the order written
        self._latest: dict[str, Future[Any]] = {}  # lock key -> its last group written
        if resume:  # queued or running when the last epoch committed: run again (dedup skips done ones)
            self._submit(resume)

    def _submit(self, values: list[Execution]) -> None:
        for key, group in by_lock_key(values).items():
            future = self._after(self._latest.get(key), group)
            self._latest[key] = future
            self._pending.append((future, group))

    def _after(self, earlier: Future[Any] | None, group: list[Execution]) -> Future[Any]:
        """`group` run once `earlier` (the same lock key's previous group) has finished; no thread
        waits meanwhile, so a slow group holds up only its own key's executions.
        """
        if earlier is None or earlier.done():
            return self._threads.submit(self._pipeline.run_batch, group)
        chained: Future[Any] = Future()

        def run(_: Future[Any]) -> None:
            try:
                inner = self._threads.submit(self._pipeline.run_batch, group)
            except RuntimeError as exc:  # shut down by `close` after another group failed
                chained.set_exception(exc)
                return
            inner.add_done_callback(lambda done: _copy(done, chained))

        earlier.add_done_callback(run)
        return chained

    def _forget_finished(self) -> int:
        """Drop finished groups, raising the first failure (its epoch then never commits);
        returns how many executions are still pending.
        """
        pending: list[tuple[Future[Any], list[Execution]]] = []
        finished: list[Future[Any]] = []
        for future, values in self._pending:  # one `done()` per future: it may finish meanwhile
            if future.done():
                finished.append(future)
            else:
                pending.append((future, values))
        self._pending = pending
        if finished:
            self._latest = {key: future for key, future in self._latest.items() if not future.done()}
            for future in finished:
                future.result()
        return sum(len(values) for _, values in pending)

    def _settle(self, keep: int) -> None:
        """Forget finished groups, raising the first failure; wait while more than `keep`
        executions are pending.
        """
        while self._forget_finished() > keep:
            with self._clock.busy():  # waiting for slow targets is not idle input
                wait([future for future, _ in self._pending], return_when=FIRST_COMPLETED)

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
            self._threads.shutdown(wait=True)


def _copy(done: Future[Any], to: Future[Any]) -> None:
    if (error := done.exception()) is not None:
        to.set_exception(error)
    else:
        to.set_result(done.result())


class ActionSink(FixedPartitionedSink[Execution, list[Execution]]):
    """Executions keyed by (rule, group), spread over a fixed set of partitions."""

    def __init__(self, resources: Callable[[], ActionDeps]) -> None:
        self._resources = resources  # called in each worker: nothing is built at flow import

    def list_parts(self) -> list[str]:
        return [f"actions-{i}" for i in range(PARTITIONS)]

    def build_part(self, step_id: str, for_part: str, resume_state: list[Execution] | None) -> _ActionPartition:
        return _ActionPartition(self._resources(), resume_state)
