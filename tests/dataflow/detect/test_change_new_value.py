from __future__ import annotations

import pickle

from dataflow.runtime import GroupLogic
from tests.dataflow.helpers import ARRIVAL, Driver, ev, fired, rule


def change(**kw):
    return rule(detect={"kind": "change", "field": "status"}, **{"time": ARRIVAL, **kw})


def new_value(max_values: int = 10000, **kw):
    return rule(detect={"kind": "new_value", "field": "ip", "max_values": max_values}, **{"time": ARRIVAL, **kw})


def values(events, field):
    return [ev(i, {field: v} if v is not ... else {}) for i, v in enumerate(events)]


def test_change_learns_the_first_value_then_fires_on_each_difference() -> None:
    d = Driver(change())
    d.feed_all(values(["up", "up", "down", "down", "up"], "status"))
    assert fired(d.out) == [(2, {"from": "up", "to": "down"}), (4, {"from": "down", "to": "up"})]


def test_change_ignores_missing_fields_but_null_is_a_value() -> None:
    d = Driver(change())
    d.feed_all(values(["up", ..., "up", None], "status"))
    assert fired(d.out) == [(3, {"from": "up", "to": None})]


def test_change_compares_as_json() -> None:
    d = Driver(change())
    d.feed_all(values([{"a": 1, "b": 2}, {"b": 2, "a": 1}, 1, 1.0, "1"], "status"))
    assert [e.at_ms for e in d.out] == [2, 3, 4]


def test_change_is_per_group_and_survives_a_snapshot() -> None:
    events = [ev(i, {"h": i % 2, "status": s}) for i, s in enumerate("aabbaabbab")]
    plain = Driver(change(group_by=["h"])).feed_all(events)
    assert plain == Driver(change(group_by=["h"]), resume_every_step=True).feed_all(events)
    assert [(e.at_ms, e.group["h"]) for e in plain] == [(2, 0), (3, 1), (4, 0), (5, 1), (6, 0), (7, 1), (8, 0)]


def test_new_value_learns_the_first_value_then_fires_for_unseen_ones() -> None:
    d = Driver(new_value())
    d.feed_all(values(["a", "b", "a", "c", "b", ..., None], "ip"))
    assert fired(d.out) == [(1, "b"), (3, "c"), (6, None)]


def test_new_value_lru_forgets_the_least_recently_seen() -> None:
    d = Driver(new_value(max_values=2))
    d.feed_all(values(["a", "b", "c", "a", "c", "d", "a", "b"], "ip"))
    # {a} b->{a,b} c->{b,c} a->{c,a} c(refresh)->{a,c} d->{c,d} a->{d,a} b->{a,b}
    assert fired(d.out) == [(1, "b"), (2, "c"), (3, "a"), (5, "d"), (6, "a"), (7, "b")]


def test_new_value_refresh_keeps_a_value() -> None:
    d = Driver(new_value(max_values=2))
    d.feed_all(values(["a", "b", "a", "c", "a"], "ip"))
    assert fired(d.out) == [(1, "b"), (3, "c")]


def test_new_value_snapshot_is_immutable_and_resumes() -> None:
    logic = GroupLogic(new_value(max_values=3))
    for i, v in enumerate("abcd"):
        logic.on_event(ev(i, {"ip": v}), 0)
    snap = logic.snapshot()
    assert isinstance(snap[2], tuple)
    logic.on_event(ev(9, {"ip": "z"}), 0)  # does not change the snapshot taken before
    resumed = GroupLogic.resume(logic.rule, pickle.loads(pickle.dumps(snap)))
    assert fired(resumed.on_event(ev(10, {"ip": "a"}), 0)) == [(10, "a")]  # evicted
    assert resumed.on_event(ev(11, {"ip": "d"}), 0) == []
    events = values(list("abcabdeafgab"), "ip")
    plain = Driver(new_value(max_values=3)).feed_all(events)
    assert plain == Driver(new_value(max_values=3), resume_every_step=True).feed_all(events)
