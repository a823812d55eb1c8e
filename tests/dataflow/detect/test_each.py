from __future__ import annotations

from dataflow.keys import idempotency_key
from dataflow.runtime import GroupLogic, evaluate_stateless
from dataflow.types import ChainInfo
from tests.dataflow.helpers import RULE_ID, Driver, ev, fired, rule, statuses

HOT = {"field": "value", "op": "gt", "value": 90}


def test_each_without_for_or_cooldown_is_stateless() -> None:
    assert rule(where=HOT).stateless
    assert not rule(where=HOT, cooldown="1m").stateless
    assert not rule(where=HOT, detect={"kind": "each", "for": "1m"}).stateless
    assert not rule(detect={"kind": "change", "field": "x"}).stateless


def test_fires_for_every_event_passing_where() -> None:
    r = rule(where=HOT, group_by=["host"])
    assert evaluate_stateless(r, ev(1, {"value": 50, "host": "a"})) is None
    execution = evaluate_stateless(r, ev(2, {"value": 95, "host": "a"}, id="x"))
    assert execution is not None
    assert execution.status == "fired"
    assert execution.at_ms == 2
    assert execution.group == {"host": "a"}
    assert execution.event == {"value": 95, "host": "a"}
    assert execution.event_id == "x"
    key = idempotency_key(RULE_ID, 1, {"host": "a"}, 2, "x")
    assert execution.idempotency_key == key
    assert execution.chain == ChainInfo(key, 0, (RULE_ID,))
    assert execution.value is None and execution.window_start is None


def test_group_is_empty_without_group_by_and_none_for_a_missing_field() -> None:
    assert evaluate_stateless(rule(), ev(1, {})).group == {}
    assert rule(group_by=["host", "dc.name"]).group_of({"host": "a"}) == {"host": "a", "dc.name": None}
    assert rule(group_by=["dc.name"]).group_of({"dc": {"name": "x"}}) == {"dc.name": "x"}


def test_stateless_and_group_logic_give_the_same_execution() -> None:
    r = rule(where=HOT, group_by=["host"])
    event = ev(5, {"value": 99, "host": "h"})
    assert [evaluate_stateless(r, event)] == GroupLogic(r).on_event(event, 0)


def test_chain_event_passing_where_extends_the_chain() -> None:
    r = rule(where=HOT)
    chain = ChainInfo("root", 2, ("A", "B"))
    execution = evaluate_stateless(r, ev(7, {"value": 99}, chain=chain, target=RULE_ID))
    assert execution is not None and execution.status == "fired"
    assert execution.chain == ChainInfo("root", 2, ("A", "B", RULE_ID))


def test_chain_event_failing_where_is_a_dry_run_with_explanation() -> None:
    r = rule(where=HOT)
    chain = ChainInfo("root", 1, ("A",))
    execution = evaluate_stateless(r, ev(7, {"value": 10}, chain=chain, target=RULE_ID))
    assert execution is not None
    assert execution.status == "dry_run"
    assert execution.chain == ChainInfo("root", 1, ("A", RULE_ID))
    assert execution.explain and execution.explain[0]["result"] is False
    assert execution.explain[0]["actual"] == 10


def test_cooldown_skips_fires_until_last_fire_plus_cooldown() -> None:
    r = rule(cooldown="10s")
    d = Driver(r)
    d.feed_all(ev(t) for t in (0, 5000, 10_000, 12_000, 21_000))
    assert statuses(d.out) == [(0, "fired"), (5000, "skipped"), (10_000, "fired"), (12_000, "skipped"), (21_000, "fired")]
    assert [e.reason for e in d.out] == [None, "cooldown", None, "cooldown", None]


def test_cooldown_is_per_group() -> None:
    d = Driver(rule(cooldown="10s", group_by=["host"]))
    d.feed_all([ev(0, {"host": "a"}), ev(1, {"host": "b"}), ev(2, {"host": "a"})])
    assert [(e.group["host"], e.status) for e in d.out] == [("a", "fired"), ("b", "fired"), ("a", "skipped")]


def test_cooldown_state_is_kept_until_it_ends_then_discardable() -> None:
    r = rule(cooldown="10s")
    logic = GroupLogic(r)
    logic.on_event(ev(1000), 0)
    assert not logic.is_empty()
    assert logic.next_deadline_ms() == 11_000
    assert logic.on_watermark(10_999) == []
    assert not logic.is_empty()
    logic.on_watermark(11_000)
    assert logic.is_empty() and logic.next_deadline_ms() is None


def test_late_events_never_fire_but_chain_events_are_never_late() -> None:
    r = rule(time={"allowed_lateness": 1000})
    d = Driver(r)
    d.feed_all([ev(10_000), ev(8_999), ev(9_000)])
    assert fired(d.out) == [(10_000, None), (9_000, None)]
    assert [e.ts_ms for e in d.late] == [8_999]
    from dataflow.runtime import is_late

    assert not is_late(r, ev(0, chain=ChainInfo("k", 1, ("A",)), target=RULE_ID), 10_000)
