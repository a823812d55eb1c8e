"""Small builders and drivers for the pure engine tests (no Kafka, no database, no wall clock)."""

from __future__ import annotations

import pickle
from collections.abc import Iterable
from typing import Any

from dataflow.runtime import CompiledRule, GroupLogic, evaluate_stateless, is_late
from dataflow.types import ChainInfo, Event, Execution
from dataflow.watermark import WatermarkClock
from rules.model import RuleSpec

RULE_ID = "rule-1"


def spec(**fields: Any) -> RuleSpec:
    """A rule spec with test defaults: name `r`, no lateness, one webhook action."""
    doc: dict[str, Any] = {
        "name": "r",
        "time": {"allowed_lateness": 0},
        "action": {"type": "webhook", "endpoint": "https://hooks.example.com/x"},
    }
    if "actions" in fields:
        del doc["action"]
    doc.update(fields)
    return RuleSpec.model_validate(doc)


ARRIVAL = {"allowed_lateness": 0, "order": "arrival"}
"""`time` of the detector unit tests that drive a `GroupLogic` directly with hand-picked watermarks:
they test each kind's own semantics, in arrival order (the order layer: `test_order.py`)."""


def rule(rule_id: str = RULE_ID, version: int = 1, **fields: Any) -> CompiledRule:
    return CompiledRule.build(rule_id, version, spec(**fields))


def ev(ts: int, body: dict[str, Any] | None = None, *, id: str | None = None, topic: str = "events",
       type: str | None = None, chain: ChainInfo | None = None, target: str | None = None) -> Event:
    body = dict(body or {})
    return Event(id=id or f"e{ts}", ts_ms=ts, topic=topic, type=type, body=body, chain=chain, target_rule_id=target)


def pickled(snapshot: Any) -> Any:
    return pickle.loads(pickle.dumps(snapshot))


class Driver:
    """Feeds events to a rule like the engine: one clock, lateness, one `GroupLogic` per group.

    Timers of every group run at each event's watermark; `advance(wm)` fires timers at an
    explicit watermark. With `resume_every_step`, every group is snapshotted, pickled and
    resumed after each step — the output must not change.
    """

    def __init__(self, compiled: CompiledRule, resume_every_step: bool = False) -> None:
        self.rule = compiled
        self.clock = WatermarkClock(now=None)
        self.groups: dict[str, GroupLogic] = {}
        self.out: list[Execution] = []
        self.late: list[Event] = []
        self.resume_every_step = resume_every_step

    def _tidy(self) -> None:
        for key, logic in list(self.groups.items()):
            if logic.is_empty():
                del self.groups[key]
            elif self.resume_every_step:
                self.groups[key] = GroupLogic.resume(self.rule, pickled(logic.snapshot()))

    def advance(self, watermark: int) -> list[Execution]:
        fired: list[Execution] = []
        for logic in self.groups.values():
            fired.extend(logic.on_watermark(watermark))
        self._tidy()
        self.out.extend(fired)
        return fired

    def feed(self, event: Event) -> list[Execution]:
        self.clock.observe(event.ts_ms)
        watermark = self.clock.watermark(self.rule.lateness_ms)
        fired = self.advance(watermark)
        if is_late(self.rule, event, watermark):
            self.late.append(event)
            return fired
        if self.rule.stateless:
            execution = evaluate_stateless(self.rule, event)
            new = [execution] if execution is not None else []
        else:
            key = self.rule.group_key(self.rule.group_of(event.body))
            logic = self.groups.get(key) or GroupLogic(self.rule)
            self.groups[key] = logic
            new = logic.on_event(event, watermark)
            self._tidy()
        self.out.extend(new)
        return fired + new

    def feed_all(self, events: Iterable[Event]) -> list[Execution]:
        for event in events:
            self.feed(event)
        return self.out


def fired(executions: Iterable[Execution]) -> list[tuple[int, Any]]:
    """(at, value) of the fired executions."""
    return [(e.at_ms, e.value) for e in executions if e.status == "fired"]


def statuses(executions: Iterable[Execution]) -> list[tuple[int, str]]:
    return [(e.at_ms, e.status) for e in executions]
