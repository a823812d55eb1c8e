from __future__ import annotations

from typing import Any

from dataflow.runtime import GroupLogic
from dataflow.types import ChainInfo
from tests.dataflow.helpers import ARRIVAL, RULE_ID, Driver, ev, fired, rule

S = 1000
HOT = {"field": "value", "op": "gt", "value": 90}


def each_for(**kw: Any):
    return rule(where=HOT, detect={"kind": "each", "for": "10s"}, **{"time": ARRIVAL, **kw})


def v(ts: int, value: Any, **body: Any):
    return ev(ts, {"value": value, **body})


def test_fires_once_at_start_plus_for_when_nothing_turned_false() -> None:
    logic = GroupLogic(each_for())
    for ts in (0, 5 * S, 9 * S):
        assert logic.on_event(v(ts, 95), 0) == []
    assert logic.next_deadline_ms() == 10 * S
    [execution] = logic.on_watermark(10 * S)
    assert (execution.at_ms, execution.window_start, execution.window_end) == (10 * S, 0, 10 * S)
    assert execution.event_id == f"e{9 * S}"  # the latest holding event
    assert logic.on_event(v(15 * S, 98), 15 * S) == []  # same episode: once
    assert logic.on_watermark(100 * S) == []
    assert not logic.is_empty()  # remembers that the episode fired


def test_false_evaluation_ends_the_episode_and_rearms() -> None:
    d = Driver(each_for())
    d.feed_all([v(0, 95), v(5 * S, 50), v(6 * S, 95)])
    d.advance(15 * S)
    assert d.out == []
    d.advance(16 * S)
    assert fired(d.out) == [(16 * S, None)]
    d.feed_all([v(20 * S, 10), v(21 * S, 95), v(31 * S, 96)])  # re-armed; the event at 31s proves it
    assert fired(d.out) == [(16 * S, None), (31 * S, None)]


def test_false_evaluation_at_the_deadline_does_not_prevent_the_fire() -> None:
    d = Driver(each_for(time={**ARRIVAL, "allowed_lateness": "1m"}))
    d.feed_all([v(0, 95), v(10 * S, 50)])
    assert fired(d.out) == [(10 * S, None)]
    assert d.groups == {}  # the episode ended: nothing left to keep


def test_missing_field_is_a_false_evaluation() -> None:
    d = Driver(each_for())
    d.feed_all([v(0, 95), ev(S, {}), v(2 * S, 95)])
    d.advance(11 * S)
    assert d.out == []


def test_episode_idempotency_key_is_stable_across_snapshots() -> None:
    events = [v(i * S, 95 if i % 7 else 10, host="ab"[i % 2]) for i in range(60)]
    plain = Driver(each_for(group_by=["host"])).feed_all(events)
    resumed = Driver(each_for(group_by=["host"]), resume_every_step=True).feed_all(events)
    assert plain == resumed and len(plain) >= 2


def test_for_with_cooldown() -> None:
    d = Driver(each_for(cooldown="1m"))
    d.feed_all([v(0, 95), v(10 * S, 95), v(11 * S, 10), v(12 * S, 95), v(22 * S, 95)])
    assert [(e.at_ms, e.status) for e in d.out] == [(10 * S, "fired"), (22 * S, "skipped")]


def test_chain_event_failing_where_is_a_dry_run_and_a_false_evaluation() -> None:
    logic = GroupLogic(each_for())
    logic.on_event(v(0, 95), 0)
    chained = ev(S, {"value": 1}, chain=ChainInfo("c", 1, ("A",)), target=RULE_ID)
    [dry] = logic.on_event(chained, 0)
    assert dry.status == "dry_run" and dry.chain.path == ("A", RULE_ID)
    assert logic.on_watermark(20 * S) == []


def sliding_for(**kw: Any):
    return rule(where=HOT, detect={"kind": "threshold", "window": {"type": "sliding", "size": "1m"},
                                   "aggregate": {"fn": "count"}, "having": {"op": "gte", "value": 2}, "for": "30s"}, **{"time": ARRIVAL, **kw})


def test_sliding_threshold_for_evaluates_where_then_having_at_every_event() -> None:
    d = Driver(sliding_for())
    d.feed_all([v(0, 95), v(10 * S, 95), v(20 * S, 95)])  # count 1 (false), 2 (start at 10s), 3
    assert d.out == []
    d.feed(v(45 * S, 95))  # at or after 10s + 30s: the fire happened at 40s
    [execution] = d.out
    assert (execution.at_ms, execution.value, execution.window_start) == (40 * S, 3, 10 * S)
    d.feed(v(50 * S, 95))  # same episode (and the window was not consumed)
    assert len(d.out) == 1


def test_sliding_threshold_for_is_ended_by_an_event_failing_where() -> None:
    d = Driver(sliding_for())
    d.feed_all([v(0, 95), v(10 * S, 95), v(20 * S, 50), v(25 * S, 95)])  # 25s: count 3 -> new start 25s
    d.advance(54 * S)
    assert d.out == []
    d.advance(55 * S)
    assert fired(d.out) == [(55 * S, 3)]


def tumbling_for(**kw: Any):
    return rule(detect={"kind": "threshold", "window": {"type": "tumbling", "size": "1m"},
                        "aggregate": {"fn": "count"}, "having": {"op": "gte", "value": 2}, "for": "3m"}, **{"time": ARRIVAL, **kw})


def test_tumbling_threshold_for_evaluates_at_each_window_close() -> None:
    M = 60 * S
    d = Driver(tumbling_for())
    for w in range(6):
        d.feed_all([ev(w * M + 1), ev(w * M + 2)])
    d.advance(6 * M)
    # windows close at 1m..6m, all holding: episode starts at 1m, fires at 4m, once
    assert fired(d.out) == [(4 * M, 2)]


def test_tumbling_threshold_for_is_ended_by_a_silent_window() -> None:
    M = 60 * S
    d = Driver(tumbling_for())
    d.feed_all([ev(1), ev(2), ev(M + 1), ev(M + 2)])  # windows 0 and 1 hold; window 2 is silent
    d.advance(3 * M)
    assert d.out == []
    d.feed_all([ev(3 * M + 1), ev(3 * M + 2)])
    d.advance(10 * M)
    assert d.out == []  # new episode at 4m, ended by the silent window closing at 5m
    assert d.groups == {}
