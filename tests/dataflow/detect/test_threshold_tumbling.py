from __future__ import annotations

from typing import Any

import pytest

from dataflow.detect import threshold as threshold_module
from dataflow.runtime import GroupLogic
from tests.dataflow.helpers import ARRIVAL, Driver, ev, fired, rule

M = 60_000


def tumbling(fn: str = "count", op: str = "gte", value: float = 3, size: str = "1m", field: str | None = None, **kw: Any):
    aggregate = {"fn": fn} if field is None else {"fn": fn, "field": field}
    return rule(
        detect={"kind": "threshold", "window": {"type": "tumbling", "size": size}, "aggregate": aggregate,
                "having": {"op": op, "value": value}},
        **{"time": ARRIVAL, **kw},
    )


def test_evaluated_when_the_watermark_passes_the_window_end_and_fires_at_the_end() -> None:
    logic = GroupLogic(tumbling())
    for ts in (0, 10_000, 59_999):
        assert logic.on_event(ev(ts), 0) == []
    assert logic.next_deadline_ms() == M
    assert logic.on_watermark(M - 1) == []
    [execution] = logic.on_watermark(M)
    assert (execution.at_ms, execution.value, execution.window_start, execution.window_end) == (M, 3, 0, M)
    assert execution.event_id == "e59999"  # the window's latest event is exposed as `event`
    assert logic.on_watermark(10 * M) == []  # at most once per window
    assert logic.is_empty()


def test_windows_are_aligned_to_the_epoch() -> None:
    logic = GroupLogic(tumbling(value=2))
    logic.on_event(ev(61_000), 0)
    logic.on_event(ev(119_999), 0)
    logic.on_event(ev(120_000), 0)  # next window
    [execution] = logic.on_watermark(10 * M)
    assert (execution.window_start, execution.window_end) == (M, 2 * M)


def test_lt_fires_on_a_quiet_window_and_on_every_silent_window_of_a_seen_group() -> None:
    d = Driver(tumbling(op="lt", value=2))
    d.feed_all([ev(0), ev(1), ev(2), ev(M + 5)])  # window 0: 3 events; window 1: 1 event
    assert fired(d.out) == []  # window 1 not closed yet (watermark M+5)
    d.advance(4 * M)
    assert fired(d.out) == [(2 * M, 1), (3 * M, 0), (4 * M, 0)]
    assert [e.event_id for e in d.out] == [f"e{M + 5}", "", ""]  # silent windows expose no event
    assert d.out[1].event == {}
    assert not d.groups[next(iter(d.groups))].is_empty()  # a seen group is kept: every window is evaluated


def test_empty_windows_aggregates() -> None:
    for fn, op, value, fires in [
        ("count", "eq", 0, True), ("sum", "lte", 0, True), ("distinct", "lt", 1, True),
        ("avg", "lt", 100, False), ("min", "lt", 100, False), ("max", "ne", 1, False),
    ]:
        logic = GroupLogic(tumbling(fn, op, value, field=None if fn == "count" else "v"))
        logic.on_event(ev(0, {"v": 500}), 0)
        out = logic.on_watermark(2 * M)  # window 0 (one event) and window 1 (empty)
        empty = [e for e in out if e.window_start == M]
        assert bool(empty) is fires, fn
        if fires:
            assert empty[0].value == 0


def test_an_event_for_a_closed_window_is_ignored() -> None:
    logic = GroupLogic(tumbling(value=1))
    logic.on_event(ev(5 * M + 1), 0)
    assert fired(logic.on_watermark(6 * M)) == [(6 * M, 1)]
    assert logic.on_event(ev(5 * M + 2), 6 * M) == []
    assert logic.on_watermark(7 * M) == []


def test_events_for_several_open_windows_are_kept_apart() -> None:
    d = Driver(tumbling(value=2, time={"allowed_lateness": "2m"}))
    d.feed_all([ev(10), ev(M + 10), ev(20), ev(M + 20), ev(M + 30)])
    d.advance(3 * M)
    assert fired(d.out) == [(M, 2), (2 * M, 3)]


def test_gte_group_is_discarded_once_all_windows_closed_and_recreated_later() -> None:
    d = Driver(tumbling(value=2, group_by=["h"]))
    d.feed_all([ev(0, {"h": "a"}), ev(1, {"h": "a"})])
    d.advance(M)
    assert fired(d.out) == [(M, 2)] and d.groups == {}
    d.feed_all([ev(10 * M, {"h": "a"}), ev(10 * M + 1, {"h": "a"})])
    d.advance(11 * M)
    assert fired(d.out) == [(M, 2), (11 * M, 2)]


def test_sum_avg_distinct_over_a_window() -> None:
    events = [ev(i, {"v": v}) for i, v in enumerate([1, 2, "x", 3, 3])]
    for fn, op, value, expected in [("sum", "gte", 9, 9), ("avg", "eq", 2.25, 2.25), ("distinct", "eq", 4, 4),
                                    ("min", "eq", 1, 1), ("max", "eq", 3, 3)]:
        logic = GroupLogic(tumbling(fn, op, value, field="v"))
        for e in events:
            logic.on_event(e, 0)
        assert fired(logic.on_watermark(M)) == [(M, expected)], fn


def test_snapshot_resume_mid_window_gives_the_same_executions() -> None:
    events = [ev(i * 7_000, {"host": "abc"[i % 3]}) for i in range(60)]
    plain = Driver(tumbling(op="lt", value=4, group_by=["host"])).feed_all(events)
    resumed = Driver(tumbling(op="lt", value=4, group_by=["host"]), resume_every_step=True).feed_all(events)
    assert plain == resumed and len(plain) >= 3


def test_catch_up_over_a_huge_gap_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(threshold_module, "MAX_CATCHUP_WINDOWS", 5)
    logic = GroupLogic(tumbling(op="lt", value=1))
    logic.on_event(ev(0), 0)
    out = logic.on_watermark(1000 * M)
    assert len(out) == 5  # window 0 does not fire (count 1), then 5 empty windows, then a jump
    assert logic.next_deadline_ms() == 1001 * M
