from __future__ import annotations

from dataflow.runtime import GroupLogic
from tests.dataflow.helpers import ARRIVAL, Driver, ev, fired, rule

S = 1000


def absence(**kw):
    return rule(detect={"kind": "absence", "for": "10s"}, **{"time": ARRIVAL, **kw})


def test_fires_once_at_last_event_plus_for() -> None:
    logic = GroupLogic(absence())
    logic.on_event(ev(0), 0)
    logic.on_event(ev(5 * S), 0)
    assert logic.next_deadline_ms() == 15 * S
    assert logic.on_watermark(15 * S - 1) == []
    [execution] = logic.on_watermark(15 * S)
    assert (execution.at_ms, execution.value, execution.window_start, execution.window_end) == (15 * S, 10 * S, 5 * S, 15 * S)
    assert execution.event_id == f"e{5 * S}"
    assert logic.is_empty()
    assert logic.on_watermark(100 * S) == []  # once per silent spell


def test_rearms_when_seen_again() -> None:
    d = Driver(absence(time={**ARRIVAL, "allowed_lateness": "5s"}))
    d.feed_all([ev(0), ev(12 * S)])  # the event at 12s shows the silence 0..10s happened
    assert fired(d.out) == [(10 * S, 10 * S)]
    d.advance(22 * S)
    assert fired(d.out) == [(10 * S, 10 * S), (22 * S, 10 * S)]


def test_event_exactly_at_the_deadline_does_not_prevent_the_fire() -> None:
    d = Driver(absence())
    d.feed_all([ev(0), ev(10 * S)])
    assert fired(d.out) == [(10 * S, 10 * S)]


def test_matching_events_keep_the_group_alive() -> None:
    d = Driver(absence(where={"field": "ok", "op": "eq", "value": True}))
    d.feed_all([ev(i * 5 * S, {"ok": True}) for i in range(10)] + [ev(50 * S, {"ok": False})])
    d.advance(54 * S)
    assert d.out == []
    d.advance(55 * S)
    assert fired(d.out) == [(55 * S, 10 * S)]


def test_out_of_order_event_does_not_move_the_last_seen_time_back() -> None:
    logic = GroupLogic(absence(time={**ARRIVAL, "allowed_lateness": "1m"}))
    logic.on_event(ev(5 * S), 0)
    logic.on_event(ev(2 * S), 0)
    assert logic.next_deadline_ms() == 15 * S


def test_snapshot_resume() -> None:
    events = [ev(t * S, {"h": t % 3}) for t in (0, 1, 2, 4, 20, 21, 40, 41, 42, 70)]
    r = absence(group_by=["h"])
    plain = Driver(r).feed_all(events)
    assert plain == Driver(r, resume_every_step=True).feed_all(events) and plain
