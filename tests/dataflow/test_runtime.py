from __future__ import annotations

import pickle
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dataflow.detect.threshold import SlidingState
from dataflow.keys import group_key, idempotency_key
from dataflow.runtime import SNAPSHOT_FORMAT, CompiledRule, GroupLogic
from dataflow.types import ChainInfo

from .helpers import RULE_ID, Driver, ev, pickled, rule, spec


def test_idempotency_key_is_a_stable_digest() -> None:
    key = idempotency_key("r", 3, {"host": "web-1", "dc": None}, 1700000000000, "evt-1")
    assert key == "5bcb8c97fab670a3467d900155163370"  # fixed: the same across processes and releases
    assert key == idempotency_key("r", 3, {"dc": None, "host": "web-1"}, 1700000000000, "evt-1")
    others = {
        idempotency_key("r2", 3, {"host": "web-1", "dc": None}, 1700000000000, "evt-1"),
        idempotency_key("r", 4, {"host": "web-1", "dc": None}, 1700000000000, "evt-1"),
        idempotency_key("r", 3, {"host": "web-2", "dc": None}, 1700000000000, "evt-1"),
        idempotency_key("r", 3, {"host": "web-1", "dc": None}, 1700000000001, "evt-1"),
        idempotency_key("r", 3, {"host": "web-1", "dc": None}, 1700000000000, "evt-2"),
        idempotency_key("r", 3, {"host": "web-1", "dc": None}, None, "evt-1"),
    }
    assert key not in others and len(others) == 6


def test_group_key_is_json_with_sorted_keys() -> None:
    assert group_key({"b": 1, "a": [1, {"y": 2, "x": 1}]}) == '{"a":[1,{"x":1,"y":2}],"b":1}'
    r = rule(group_by=["host"])
    assert r.group_key(r.group_of({"host": "h"})) == '{"host":"h"}'
    assert r.group_key(r.group_of({})) == '{"host":null}'


def test_compiled_rule_fields() -> None:
    r = rule(name="x", match={"topic": "metrics", "type": ["cpu", "mem"]}, cooldown="1m",
             time={"allowed_lateness": "2s"}, group_by=["host"],
             actions=[{"type": "webhook", "endpoint": "https://a/b"}, {"type": "trigger_rule", "rule_id": "y"}])
    assert (r.id, r.name, r.version, r.lateness_ms, r.cooldown_ms) == (RULE_ID, "x", 1, 2000, 60_000)
    assert r.action_types == ("webhook", "trigger_rule")
    assert r.topics == frozenset({"metrics"}) and r.types == frozenset({"cpu", "mem"})
    assert r.where({"anything": 1})  # no where: holds for every event
    assert r.where.explain({}) == []
    assert rule(cooldown=0).stateless  # a zero cooldown is no cooldown


def test_reads_follows_match_and_chain_targets() -> None:
    r = rule(match={"topic": "metrics", "type": "cpu"})
    assert r.reads(ev(0, topic="metrics", type="cpu"))
    assert not r.reads(ev(0, topic="metrics", type="mem"))
    assert not r.reads(ev(0, topic="other", type="cpu"))
    assert r.reads(ev(0, topic="chain", type=None, chain=ChainInfo("c", 1, ("A",)), target=RULE_ID))
    assert not r.reads(ev(0, topic="metrics", type="cpu", chain=ChainInfo("c", 1, ("A",)), target="other"))
    only = rule(match={"chain_only": True})
    assert not only.reads(ev(0)) and only.reads(ev(0, chain=ChainInfo("c", 1, ("A",)), target=RULE_ID))


def test_needs_group() -> None:
    hot = {"field": "v", "op": "gt", "value": 1}
    change = rule(where=hot, detect={"kind": "change", "field": "v"})
    assert change.needs_group(ev(0, {"v": 2})) and not change.needs_group(ev(0, {"v": 0}))
    assert change.needs_group(ev(0, {"v": 0}, chain=ChainInfo("c", 1, ("A",)), target=RULE_ID))
    assert rule(where=hot, detect={"kind": "each", "for": "1s"}).needs_group(ev(0, {"v": 0}))


def test_chain_event_for_a_stateful_rule() -> None:
    r = rule(where={"field": "v", "op": "gt", "value": 1}, detect={"kind": "change", "field": "v"}, group_by=["g"])
    logic = GroupLogic(r)
    chain = ChainInfo("root", 3, ("A", "B", "C"))
    [dry] = logic.on_event(ev(0, {"v": 0, "g": 1}, chain=chain, target=RULE_ID), 0)
    assert dry.status == "dry_run" and dry.group == {"g": 1} and dry.explain[0]["result"] is False
    assert logic.on_event(ev(1, {"v": 2, "g": 1}, chain=chain, target=RULE_ID), 1) == []  # learns
    [fire] = logic.on_event(ev(2, {"v": 3, "g": 1}, chain=chain, target=RULE_ID), 2)
    assert fire.status == "fired" and fire.chain == ChainInfo("root", 3, ("A", "B", "C", RULE_ID))


def test_timer_fire_of_a_chain_event_keeps_its_lineage() -> None:
    r = rule(detect={"kind": "absence", "for": "1s"})
    logic = GroupLogic(r)
    logic.on_event(ev(0, chain=ChainInfo("root", 1, ("A",)), target=RULE_ID), 0)
    [fire] = logic.on_watermark(1000)
    assert fire.chain == ChainInfo("root", 1, ("A", RULE_ID))


def test_ordinary_fire_lineage_starts_a_chain_at_its_idempotency_key() -> None:
    [fire] = GroupLogic(rule(cooldown="1s")).on_event(ev(5), 0)
    assert fire.chain == ChainInfo(fire.idempotency_key, 0, (RULE_ID,))


def test_snapshot_has_a_format_and_rejects_another() -> None:
    logic = GroupLogic(rule(detect={"kind": "absence", "for": "1s"}))
    logic.on_event(ev(0), 0)
    snap = logic.snapshot()
    assert snap[0] == SNAPSHOT_FORMAT == 3
    with pytest.raises(ValueError):
        GroupLogic.resume(logic.rule, (99, *snap[1:]))


@pytest.mark.parametrize("group_by", [[], ["host"], ["host", "dc.name"]])
def test_a_format_1_snapshot_resumes(group_by: list[str]) -> None:
    """Format 1 kept the group as a dict (None before the first event) and a sliding `count` as
    `(ts, None)` entries; a state recovered from it goes on exactly like the live one."""
    body = {"host": "h1", "dc": {"name": "eu"}}
    group = {path: {"host": "h1", "dc.name": "eu"}[path] for path in group_by}
    sliding = rule(group_by=group_by, detect={"kind": "threshold", "window": {"type": "sliding", "size": "10s"},
                                              "aggregate": {"fn": "count"}, "having": {"op": "gte", "value": 3}})
    old = (1, group, SlidingState(((1_000, None), (2_000, None)), None), None, None)
    resumed = GroupLogic.resume(sliding, pickled(old))
    assert resumed.next_deadline_ms() == 12_000
    live = GroupLogic(sliding)
    live.on_event(ev(1_000, body), 1_000)  # in order, no lateness: the watermark is the event time
    live.on_event(ev(2_000, body), 2_000)
    assert resumed.snapshot() == live.snapshot()
    [fire] = resumed.on_event(ev(3_000, body), 3_000)
    assert (fire.value, fire.group) == (3, group)
    assert GroupLogic.resume(sliding, (1, None, None, None, None)).group is None

    absence = rule(group_by=group_by, detect={"kind": "absence", "for": "1s"})  # fires on a timer: keeps its group
    live = GroupLogic(absence)
    live.on_event(ev(1_000, body), 1_000)
    resumed = GroupLogic.resume(absence, pickled((1, group, *live.snapshot()[2:5])))
    assert resumed.group == group and resumed.snapshot() == live.snapshot()
    [fire] = resumed.on_watermark(2_000)
    assert fire.group == group


@pytest.mark.parametrize("detect", [
    {"kind": "threshold", "window": {"type": "sliding", "size": "10s"}, "aggregate": {"fn": "count"},
     "having": {"op": "gte", "value": 2}},
    {"kind": "change", "field": "v"},
])
def test_a_rule_firing_only_at_events_reads_the_group_from_them(detect: dict[str, Any]) -> None:
    r = rule(group_by=["host", "dc"], detect=detect)
    assert not r.keeps_group
    logic = GroupLogic(r)
    logic.on_event(ev(1_000, {"host": "h", "v": 1}), 1_000)
    assert logic.group is None  # nothing held for it between events
    [fire] = logic.on_event(ev(2_000, {"host": "h", "v": 2}), 2_000)
    assert fire.group == {"host": "h", "dc": None}


def test_rules_the_engine_cannot_run_are_refused_at_build() -> None:
    good = spec(detect={"kind": "threshold", "window": {"type": "sliding", "size": "1m"},
                        "aggregate": {"fn": "sum", "field": "v"}, "having": {"op": "lt", "value": 1}})
    CompiledRule.build("x", 1, good)  # sum lt is fine on a sliding window
    bad = good.model_copy(update={"detect": good.detect.model_copy(update={
        "aggregate": good.detect.aggregate.model_copy(update={"fn": "count", "field": None})})})
    with pytest.raises(ValueError):
        CompiledRule.build("x", 1, bad)


# --- snapshot / resume anywhere gives the same executions (property) ------------------------------

KINDS: dict[str, dict[str, Any]] = {
    "each_cooldown": {"where": {"field": "v", "op": "gt", "value": 2}, "cooldown": "3s"},
    "each_for": {"where": {"field": "v", "op": "gt", "value": 1}, "detect": {"kind": "each", "for": "2s"}},
    "sliding": {"detect": {"kind": "threshold", "window": {"type": "sliding", "size": "4s"},
                           "aggregate": {"fn": "sum", "field": "v"}, "having": {"op": "gte", "value": 8}}},
    "sliding_for": {"where": {"field": "v", "op": "gt", "value": 0},
                    "detect": {"kind": "threshold", "window": {"type": "sliding", "size": "4s"},
                               "aggregate": {"fn": "count"}, "having": {"op": "gte", "value": 2}, "for": "3s"}},
    "tumbling": {"detect": {"kind": "threshold", "window": {"type": "tumbling", "size": "3s"},
                            "aggregate": {"fn": "distinct", "field": "v"}, "having": {"op": "lt", "value": 2}},
                 "cooldown": "4s"},
    "tumbling_for": {"detect": {"kind": "threshold", "window": {"type": "tumbling", "size": "2s"},
                                "aggregate": {"fn": "max", "field": "v"}, "having": {"op": "gte", "value": 2}, "for": "4s"}},
    "sequence": {"detect": {"kind": "sequence", "within": "5s", "steps": [
        {"name": "a", "where": {"field": "v", "op": "eq", "value": 1}},
        {"name": "b", "where": {"field": "v", "op": "eq", "value": 2}},
        {"name": "c", "where": {"field": "v", "op": "eq", "value": 3}}]}},
    "sequence_absent": {"detect": {"kind": "sequence", "within": "4s", "contiguity": "strict", "steps": [
        {"name": "a", "where": {"field": "v", "op": "eq", "value": 1}},
        {"name": "b", "where": {"field": "v", "op": "eq", "value": 0}, "absent": True}]}},
    "absence": {"where": {"field": "v", "op": "ne", "value": 0}, "detect": {"kind": "absence", "for": "3s"}},
    "change": {"detect": {"kind": "change", "field": "v"}},
    "new_value": {"detect": {"kind": "new_value", "field": "v", "max_values": 2}},
}

events_strategy = st.lists(
    st.tuples(st.integers(0, 1500), st.integers(0, 3), st.sampled_from(["a", "b"])), min_size=1, max_size=40
)


@pytest.mark.parametrize("kind", sorted(KINDS))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=events_strategy, lateness=st.sampled_from([0, 1000, 2500]))
def test_snapshot_resume_after_every_step_changes_nothing(kind: str, steps: list[tuple[int, int, str]], lateness: int) -> None:
    r = rule(group_by=["g"], time={"allowed_lateness": lateness}, **KINDS[kind])
    events, ts = [], 0
    for i, (gap, value, group) in enumerate(steps):
        ts += gap - 300  # mostly forward, sometimes back (out of order, maybe late)
        events.append(ev(max(ts, 0), {"v": value, "g": group}, id=f"x{i}"))
    plain = Driver(r)
    plain.feed_all(events)
    plain.advance(10**6)
    resumed = Driver(r, resume_every_step=True)
    resumed.feed_all(events)
    resumed.advance(10**6)
    assert plain.out == resumed.out
    assert all(e.idempotency_key for e in plain.out)
    fired_keys = [e.idempotency_key for e in plain.out]
    assert len(fired_keys) == len(set(fired_keys)), "two executions share an idempotency key"


def test_snapshots_are_small_and_picklable() -> None:
    for kind, fields in sorted(KINDS.items()):
        logic = GroupLogic(rule(group_by=["g"], **fields))
        for i in range(5):
            logic.on_event(ev(i * 100, {"v": i % 4, "g": "a"}), 0)
        size = len(pickle.dumps(logic.snapshot()))
        assert size < 2000, (kind, size)
