"""Unbounded group spaces: once the watermark has moved on, every group's logic can be discarded."""

from __future__ import annotations

import pickle

import pytest

from dataflow.runtime import GroupLogic
from dataflow.types import Event

from .helpers import rule

GROUPS = 100_000


def window_rule(kind: str):
    return rule(
        group_by=["user"],
        detect={"kind": "threshold", "window": {"type": kind, "size": "1m"}, "aggregate": {"fn": "count"},
                "having": {"op": "gte", "value": 3}},
    )


@pytest.mark.parametrize("kind", ["sliding", "tumbling"])
def test_100k_groups_are_all_discardable_after_the_watermark_moves_far_ahead(kind: str) -> None:
    r = window_rule(kind)
    logics: list[GroupLogic] = []
    for i in range(GROUPS):
        logic = GroupLogic(r)
        body = {"user": f"u{i}", "value": i}
        logic.on_event(Event(f"e{i}", 1_700_000_000_000 + i, "events", "login", body), 0)
        logics.append(logic)
    assert not any(logic.is_empty() for logic in logics[:100])
    sizes = [len(pickle.dumps(logic.snapshot())) for logic in logics[:1000]]
    per_group = sum(sizes) / len(sizes)
    print(f"\n{kind}: snapshot pickle {per_group:.0f} bytes per group (one event in the window)")
    assert per_group < 600
    far = 1_800_000_000_000
    for logic in logics:
        assert logic.on_watermark(far) == []
    assert all(logic.is_empty() for logic in logics)
    assert all(logic.next_deadline_ms() is None for logic in logics)
