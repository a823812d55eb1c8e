from __future__ import annotations

from typing import Any

from dataflow.runtime import GroupLogic
from tests.dataflow.helpers import ARRIVAL, Driver, ev, fired, rule

S = 1000


def step(name: str, kind: str | None = None, absent: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name}
    if kind is not None:
        out["where"] = {"field": "k", "op": "eq", "value": kind}
    if absent:
        out["absent"] = True
    return out


def seq(*steps: dict[str, Any], within: str = "10s", contiguity: str = "relaxed", **kw: Any):
    return rule(detect={"kind": "sequence", "steps": list(steps), "within": within, "contiguity": contiguity}, **{"time": ARRIVAL, **kw})


AB = (step("a", "A"), step("b", "B"))


def k(ts: int, kind: str, **body: Any):
    return ev(ts, {"k": kind, **body})


def test_relaxed_fires_at_the_completing_event_with_the_steps() -> None:
    d = Driver(seq(*AB))
    d.feed_all([k(0, "A"), k(1 * S, "X"), k(5 * S, "B")])
    [execution] = d.out
    assert (execution.at_ms, execution.value, execution.window_start, execution.window_end) == (5 * S, 5 * S, 0, 5 * S)
    assert execution.events == {"a": {"k": "A"}, "b": {"k": "B"}}
    assert execution.event == {"k": "B"}


def test_within_is_half_open() -> None:
    assert fired(Driver(seq(*AB)).feed_all([k(0, "A"), k(9999, "B")])) == [(9999, 9999)]
    assert fired(Driver(seq(*AB)).feed_all([k(0, "A"), k(10_000, "B")])) == []


def test_partial_match_expires_with_the_watermark() -> None:
    logic = GroupLogic(seq(*AB))
    logic.on_event(k(0, "A"), 0)
    assert logic.next_deadline_ms() == 10_000
    logic.on_watermark(9_999)
    assert not logic.is_empty()
    assert logic.on_watermark(10_000) == []
    assert logic.is_empty()
    assert logic.on_event(k(10_001, "B"), 10_000) == []


def test_strict_contiguity_is_broken_by_any_other_event_of_the_group() -> None:
    assert fired(Driver(seq(*AB, contiguity="strict")).feed_all([k(0, "A"), k(1, "X"), k(2, "B")])) == []
    assert fired(Driver(seq(*AB, contiguity="strict")).feed_all([k(0, "A"), k(1, "B")])) == [(1, 1)]


def test_strict_contiguity_ignores_events_failing_where_and_other_groups() -> None:
    r = seq(*AB, contiguity="strict", where={"field": "noise", "op": "missing"}, group_by=["g"])
    d = Driver(r)
    d.feed_all([k(0, "A", g=1), k(1, "X", g=1, noise=True), k(2, "X", g=2), k(3, "B", g=1)])
    assert fired(d.out) == [(3, 3)]


def test_strict_breaking_event_may_start_a_new_match() -> None:
    d = Driver(seq(*AB, contiguity="strict"))
    d.feed_all([k(0, "A"), k(1, "A"), k(2, "B")])
    assert [(e.at_ms, e.window_start) for e in d.out] == [(2, 1)]


def test_relaxed_newer_first_step_replaces_a_match_that_only_has_its_first_step() -> None:
    d = Driver(seq(*AB))
    d.feed_all([k(0, "A"), k(8 * S, "A"), k(12 * S, "B")])
    assert [(e.at_ms, e.window_start) for e in d.out] == [(12 * S, 8 * S)]


def test_relaxed_advanced_match_is_kept_when_the_first_step_repeats() -> None:
    d = Driver(seq(step("a", "A"), step("b", "B"), step("c", "C")))
    d.feed_all([k(0, "A"), k(1, "B"), k(2, "A"), k(3, "C")])
    assert [(e.at_ms, e.window_start) for e in d.out] == [(3, 0)]


def test_identical_steps_advance_first() -> None:
    d = Driver(seq(step("first", "F"), step("second", "F")))
    d.feed_all([k(0, "F"), k(1, "F"), k(2, "F"), k(3, "F")])
    assert fired(d.out) == [(1, 1), (3, 1)]  # a completed match is consumed


def test_completed_match_is_consumed() -> None:
    d = Driver(seq(*AB))
    d.feed_all([k(0, "A"), k(1, "B"), k(2, "B")])
    assert fired(d.out) == [(1, 1)]


def test_a_step_earlier_than_the_previous_one_does_not_count() -> None:
    d = Driver(seq(*AB, time={"allowed_lateness": "1m"}))
    d.feed_all([k(5 * S, "A"), k(4 * S, "B")])
    assert d.out == []


def test_absent_last_step_fires_at_start_plus_within() -> None:
    logic = GroupLogic(seq(step("order", "O"), step("paid", "P", absent=True)))
    logic.on_event(k(1000, "O"), 0)
    logic.on_event(k(3000, "O"), 0)  # repeated first step: the deadline still counts from 1000
    assert logic.next_deadline_ms() == 11_000
    assert logic.on_watermark(10_999) == []
    [execution] = logic.on_watermark(11_000)
    assert (execution.at_ms, execution.value, execution.window_start, execution.window_end) == (11_000, 10_000, 1000, 11_000)
    assert execution.events == {"order": {"k": "O"}}
    assert logic.is_empty()


def test_absent_step_happening_cancels() -> None:
    d = Driver(seq(step("order", "O"), step("paid", "P", absent=True)))
    d.feed_all([k(0, "O"), k(5 * S, "P")])
    d.advance(100 * S)
    assert d.out == []


def test_absent_step_at_the_deadline_is_too_late_to_cancel() -> None:
    d = Driver(seq(step("order", "O"), step("paid", "P", absent=True)))
    d.feed_all([k(0, "O"), k(10 * S, "P")])
    assert fired(d.out) == [(10 * S, 10 * S)]


def test_absent_step_only_counts_once_the_earlier_steps_matched() -> None:
    r = seq(step("a", "A"), step("b", "B"), step("c", "C", absent=True))
    d = Driver(r)
    d.feed_all([k(0, "A"), k(1, "C"), k(2, "B")])
    d.advance(10 * S)
    assert fired(d.out) == [(10 * S, 10 * S)]
    d2 = Driver(r)
    d2.feed_all([k(0, "A")])
    d2.advance(10 * S)
    assert d2.out == []  # never reached the absent step: expires silently


def test_sequence_is_per_group() -> None:
    d = Driver(seq(*AB, group_by=["user"]))
    d.feed_all([k(0, "A", user="u1"), k(1, "B", user="u2"), k(2, "B", user="u1")])
    assert [(e.at_ms, e.group) for e in d.out] == [(2, {"user": "u1"})]


def test_snapshot_resume_mid_sequence_gives_the_same_executions() -> None:
    kinds = "AXBAABXOOPAB"
    events = [k(i * 1500, kind, user=f"u{i % 2}") for i, kind in enumerate(kinds * 4)]
    for r in (seq(*AB, group_by=["user"]), seq(*AB, contiguity="strict", group_by=["user"]),
              seq(step("o", "O"), step("p", "P", absent=True), group_by=["user"], within="5s")):
        plain = Driver(r).feed_all(events)
        assert plain == Driver(r, resume_every_step=True).feed_all(events)
        assert plain
