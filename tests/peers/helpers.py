"""Running a translated peer case: a cepflow rule (as its YAML would give it) over events in the
peer's arrival order, driven like the engine (`tests/engine/helpers.Driver`: one clock, the
rule's lateness, one `GroupLogic` per group), then to the end of input as the offline runner
does (the watermark reaches the largest event time)."""

from __future__ import annotations

from typing import Any

from dataflow.runtime import CompiledRule
from dataflow.types import Event, Execution
from rules.model import RuleSpec
from tests.dataflow.helpers import Driver

HOOK = {"type": "webhook", "endpoint": "https://hooks.example.com/x"}


def run(rule: dict[str, Any], events: list[tuple[int, dict[str, Any]]]) -> tuple[list[Execution], list[str]]:
    """(executions, ids of the events that were late) for `events` as `(ts, body)` in arrival
    order; event ids are `p<arrival position>`."""
    driver = Driver(CompiledRule.build("peer", 1, RuleSpec.model_validate({"name": "peer", "action": HOOK, **rule})))
    for i, (ts, body) in enumerate(events):
        driver.feed(Event(id=f"p{i}", ts_ms=ts, topic="events", type=None, body=body))
    driver.advance(max(ts for ts, _ in events))
    return driver.out, [event.id for event in driver.late]
