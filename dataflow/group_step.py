"""The Bytewax stateful step that holds one (rule, version, group) state.

It adapts the pure `GroupLogic` to Bytewax's `StatefulBatchLogic`: items feed `on_event`, the
single per-key notification drives `on_watermark`, and the snapshot is the logic's own small
state. Event-time deadlines become wall-clock wake-ups because, on idle input, the watermark
advances with wall-clock time (RULES.md §4).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from bytewax.operators import StatefulBatchLogic

from dataflow.metrics import ACTIVE_GROUPS, count_executions
from dataflow.routing import KeyedEvent
from dataflow.rule_cache import RuleSet
from dataflow.runtime import CompiledRule, GroupLogic
from dataflow.types import Execution
from dataflow.watermark import WatermarkClock

Snapshot = tuple[str, int, Any]

UNKNOWN_PROGRESS_POLL = timedelta(seconds=1)
"""How often a resumed key with a timer looks again while its process has seen no event yet
(the clock starts empty after a restart: no event time, no watermark to wait for)."""


class GroupStep(StatefulBatchLogic[KeyedEvent, Execution, Snapshot]):
    """Per-key logic; discarded as soon as its state is empty or its rule version is gone."""

    def __init__(
        self,
        resume: Snapshot | None,
        rules: Callable[[], RuleSet],
        clock: Callable[[], WatermarkClock],
    ) -> None:
        self._rules = rules
        self._clock = clock
        self._rule: CompiledRule | None = None
        self._logic: GroupLogic | None = None
        self._gauge: str | None = None  # the `rule` label this key counts under in ACTIVE_GROUPS
        if resume is not None:
            rule_id, version, state = resume
            self._rule = rules().compiled(rule_id, version)
            if self._rule is not None:
                self._logic = GroupLogic.resume(self._rule, state)
                self._count_in()

    def _count_in(self) -> None:
        assert self._rule is not None
        self._gauge = self._rule.name
        ACTIVE_GROUPS.labels(self._gauge).inc()

    def _bind(self, item: KeyedEvent) -> bool:
        if self._logic is None:
            self._rule = self._rules().compiled(item.rule_id, item.rule_version)
            if self._rule is not None:
                self._logic = GroupLogic(self._rule)
                self._count_in()
        return self._logic is not None

    def _done(self, out: list[Execution]) -> tuple[Iterable[Execution], bool]:
        count_executions(out)
        gone = self._logic is None or self._logic.is_empty()
        if gone and self._gauge is not None:
            ACTIVE_GROUPS.labels(self._gauge).dec()
            self._gauge = None
        return out, (StatefulBatchLogic.DISCARD if gone else StatefulBatchLogic.RETAIN)

    def on_batch(self, values: list[KeyedEvent]) -> tuple[Iterable[Execution], bool]:
        out: list[Execution] = []
        clock = self._clock()
        for item in values:
            clock.observe(item.max_ts_ms)
            if not self._bind(item):
                break
            assert self._logic is not None and self._rule is not None
            # The watermark the router judged the event by: the clock may be past its window already.
            out.extend(self._logic.on_event(item.event, item.progress_ms - self._rule.lateness_ms))
        return self._done(out)

    def on_notify(self) -> tuple[Iterable[Execution], bool]:
        if self._logic is None or self._rule is None:
            return self._done([])
        if self._rules().compiled(self._rule.id, self._rule.version) is None:
            self._logic = None  # the rule changed or went away: its state goes with it
            return self._done([])
        watermark = self._clock().watermark(self._rule.lateness_ms)
        return self._done(self._logic.on_watermark(watermark))

    def notify_at(self) -> datetime | None:
        if self._logic is None or self._rule is None:
            return datetime.now(UTC)  # resumed for a rule version that is gone: wake to discard
        deadline = self._logic.next_deadline_ms()
        if deadline is None:
            return None
        clock = self._clock()
        if clock.max_ts_ms is None:  # resumed before this process saw an event: ask again soon
            return datetime.now(UTC) + UNKNOWN_PROGRESS_POLL
        lag_ms = max(0, deadline - clock.watermark(self._rule.lateness_ms))
        return datetime.now(UTC) + timedelta(milliseconds=lag_ms)

    def snapshot(self) -> Snapshot:
        assert self._logic is not None and self._rule is not None
        return (self._rule.id, self._rule.version, self._logic.snapshot())
