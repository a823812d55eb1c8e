"""The Bytewax stateful step that holds one (rule, version, group) state.

It adapts the pure `GroupLogic` to Bytewax's `StatefulBatchLogic`: items feed `on_event`, the
single per-key notification drives `on_watermark`, and the snapshot is the logic's own small
state. Event-time deadlines become wall-clock wake-ups because, on idle input, the watermark
advances with wall-clock time (RULES.md §4).

Order (RULES.md §4): a stateful rule's logic buffers the events its watermark has not passed;
the oldest buffered event time is one of its deadlines, so the key is woken when the watermark
reaches it — `allowed_lateness` after the newest event was read, on idle input — and applies
the buffered events in time order then. That is the whole latency a reordering rule adds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from bytewax.operators import StatefulBatchLogic

from dataflow.metrics import active_groups, count_executions
from dataflow.routing import KeyedEvent
from dataflow.rule_cache import RuleSet
from dataflow.runtime import GroupLogic
from dataflow.types import Execution
from dataflow.watermark import MIN_WATERMARK, WatermarkClock

Snapshot = tuple[str, int, Any] | tuple[str, int, Any, tuple[int, int] | None]
"""(rule id, version, logic state[, the process clock's (progress, wall ms) for `restore`])."""

UNKNOWN_PROGRESS_POLL = timedelta(seconds=1)
"""How often a resumed key with a timer looks again while its process has seen no event yet
(the clock starts empty after a restart: no event time, no watermark to wait for)."""

NEAR_DEADLINE_MS = 50
NEAR_POLL_MS = 5
"""A deadline becomes a wall-clock wake-up by the gap between it and the watermark, measured when
the key was last awake. When the input ran late at that moment (a delayed poll), the watermark
then lagged the wall clock more than it does later, and the key would wake after its deadline
had passed (bench: up to 60 ms after, on top of `allowed_lateness`). So a key wakes
`NEAR_DEADLINE_MS` early and then looks every `NEAR_POLL_MS` until the watermark passes it."""


if TYPE_CHECKING:
    _Base = StatefulBatchLogic[KeyedEvent, Execution, Snapshot]
else:
    _Base = object


class GroupStep(_Base):
    """Per-key logic; discarded as soon as its state is empty or its rule version is gone.

    Bytewax keeps one per active key. Subclassing `StatefulBatchLogic` would give each a
    `__dict__` (the base class has no `__slots__`): 40 bytes more per key than these slots. So it is
    a registered virtual subclass instead (Bytewax checks `isinstance`; type checkers see the base)
    and implements every method itself.
    """

    __slots__ = ("_clock", "_counted", "_logic", "_rules")

    def __init__(
        self,
        resume: Snapshot | None,
        rules: Callable[[], RuleSet],
        clock: Callable[[], WatermarkClock],
    ) -> None:
        self._rules = rules
        self._clock = clock
        self._logic: GroupLogic | None = None
        self._counted = False  # the key counts under its rule's name in ACTIVE_GROUPS
        if resume is not None:
            rule_id, version, state = resume[:3]
            if len(resume) > 3 and resume[3] is not None:
                clock().restore(*resume[3])
            rule = rules().compiled(rule_id, version)
            if rule is not None:
                self._logic = GroupLogic.resume(rule, state)
                self._count(True)

    def _count(self, active: bool) -> None:
        assert self._logic is not None
        gauge = active_groups(self._logic.rule.name)
        if active:
            gauge.inc()
        else:
            gauge.dec()
        self._counted = active

    def _bind(self, item: KeyedEvent) -> GroupLogic | None:
        if self._logic is None:
            rule = self._rules().compiled(item.rule_id, item.rule_version)
            if rule is not None:
                self._logic = GroupLogic(rule)
                self._count(True)
        return self._logic

    def _done(self, out: list[Execution]) -> tuple[Iterable[Execution], bool]:
        count_executions(out)
        gone = self._logic is None or self._logic.is_empty()
        if gone and self._counted:
            self._count(False)
        return out, (StatefulBatchLogic.DISCARD if gone else StatefulBatchLogic.RETAIN)

    def on_batch(self, values: list[KeyedEvent]) -> tuple[Iterable[Execution], bool]:
        out: list[Execution] = []
        clock = self._clock()
        for item in values:
            clock.follow(item.router, item.progress_ms)
            logic = self._bind(item)
            if logic is None:
                break
            # The watermark the router judged the event by: the clock may be past its window already.
            out.extend(logic.on_event(item.event, item.progress_ms - logic.rule.lateness_ms))
        return self._done(out)

    def on_notify(self) -> tuple[Iterable[Execution], bool]:
        logic = self._logic
        if logic is None:
            return self._done([])
        if self._rules().compiled(logic.rule.id, logic.rule.version) is None:
            if self._counted:
                self._count(False)
            self._logic = None  # the rule changed or went away: its state goes with it
            return self._done([])
        watermark = self._clock().watermark(logic.rule.lateness_ms, logic.rule.idle_after_ms)
        return self._done(logic.on_watermark(watermark))

    def on_eof(self) -> tuple[Iterable[Execution], bool]:
        return [], StatefulBatchLogic.RETAIN  # as the base class: the end of the input changes nothing

    def notify_at(self) -> datetime | None:
        logic = self._logic
        if logic is None:
            return datetime.now(UTC)  # resumed for a rule version that is gone: wake to discard
        deadline = logic.next_deadline_ms()
        if deadline is None:
            return None
        clock = self._clock()
        if clock.max_ts_ms is None:  # resumed before this process saw an event: ask again soon
            return datetime.now(UTC) + UNKNOWN_PROGRESS_POLL
        watermark = clock.watermark(logic.rule.lateness_ms, logic.rule.idle_after_ms)
        if watermark == MIN_WATERMARK:  # resumed, input not yet caught up: ask again soon
            return datetime.now(UTC) + UNKNOWN_PROGRESS_POLL
        return datetime.now(UTC) + timedelta(milliseconds=wake_in_ms(deadline - watermark))

    def snapshot(self) -> Snapshot:
        assert self._logic is not None
        rule = self._logic.rule
        return (rule.id, rule.version, self._logic.snapshot(), self._clock().reading_for_snapshot())


def wake_in_ms(lag_ms: int) -> int:
    """When to look again at a deadline `lag_ms` of event time ahead of the watermark."""
    if lag_ms > NEAR_DEADLINE_MS:
        return lag_ms - NEAR_DEADLINE_MS
    return min(max(0, lag_ms), NEAR_POLL_MS)


StatefulBatchLogic.register(GroupStep)
