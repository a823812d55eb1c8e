"""Order within lateness (RULES.md §4, "Order"): the reorder buffer, `GroupLogic` with
`time.order: event_time`, and the offline runner given any arrival order within the lateness."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from dataflow import reorder
from dataflow.offline import run_offline
from dataflow.runtime import GroupLogic
from rules.loader import scan_rule_files
from rules.model import RuleSpec

from .helpers import Driver, ev, fired, pickled, rule
from .order_cases import S, as_event, bodies, body, by_time, delivered, rule_specs


def test_the_buffer_keeps_events_sorted_by_time_ties_in_arrival_order() -> None:
    pending = None
    for event in [ev(5, id="a"), ev(3, id="b"), ev(5, id="c"), ev(1, id="d"), ev(3, id="e")]:
        pending = reorder.add(pending, event)
    assert reorder.first_ts(pending) == 1
    ready, pending = reorder.release(pending, 3)
    assert [e.id for e in ready] == ["d", "b", "e"]  # at or before the watermark, in order
    assert [e.id for e in reorder.release(pending, 4)[0]] == []
    ready, rest = reorder.release(pending, 10)
    assert ([e.id for e in ready], rest) == (["a", "c"], None)


def test_a_single_pending_event_is_kept_bare() -> None:
    one = reorder.add(None, ev(7))
    assert one == ev(7) and reorder.first_ts(one) == 7
    assert reorder.release(one, 6) == ((), one)
    assert reorder.release(one, 7) == ((ev(7),), None)


def sliding(**time: Any):
    return rule(time={"allowed_lateness": "10m", **time},
                detect={"kind": "threshold", "window": {"type": "sliding", "size": "1m"},
                        "aggregate": {"fn": "count"}, "having": {"op": "gte", "value": 3}})


STRAGGLERS = [ev(50_000, id="a"), ev(100_000, id="b"), ev(40_000, id="c"), ev(30_000, id="d"),
              ev(45_000, id="e"), ev(44_000, id="f"), ev(101_000, id="g")]


def test_a_straggler_completes_the_window_it_belongs_to() -> None:
    """Sorted: d30 c40 f44 (3 in (-16s, 44s]: fire at 44s, the window restarts), e45 a50 b100
    (3 in (40s, 100s]: fire), g101. In arrival order the same events fire at 45s and 101s instead
    (tests/dataflow/test_threshold_sliding.py)."""
    d = Driver(sliding())
    d.feed_all(STRAGGLERS)
    assert d.out == []  # nothing fires before the watermark passes the completing event
    d.advance(43_999)
    assert d.out == []
    d.advance(44_000)
    assert fired(d.out) == [(44_000, 3)]
    d.advance(200_000)
    assert fired(d.out) == [(44_000, 3), (100_000, 3)]


def test_time_order_arrival_keeps_the_immediate_arrival_order_behaviour() -> None:
    d = Driver(sliding(order="arrival"))
    d.feed_all(STRAGGLERS)
    assert fired(d.out) == [(45_000, 3), (101_000, 3)]


def test_pending_events_are_part_of_the_snapshot() -> None:
    logic = GroupLogic(sliding())
    for event in STRAGGLERS[:4]:
        assert logic.on_event(event, 0) == []
    assert not logic.is_empty() and logic.next_deadline_ms() == 30_000
    resumed = GroupLogic.resume(logic.rule, pickled(logic.snapshot()))
    for event in STRAGGLERS[4:]:
        resumed.on_event(event, 0)
    assert fired(resumed.on_watermark(200_000)) == [(44_000, 3), (100_000, 3)]
    assert resumed.is_empty()


def test_an_each_rule_without_for_fires_at_once_whatever_the_order() -> None:
    r = rule(time={"allowed_lateness": "1m"}, cooldown="1s")
    assert not r.reorders and not rule(time={"allowed_lateness": "1m"}).reorders
    logic = GroupLogic(r)
    assert fired(logic.on_event(ev(9 * S), 0)) == [(9 * S, None)]
    assert logic.on_event(ev(8_500), 0)[0].status == "skipped"  # cooldown counts in arrival order
    assert rule(detect={"kind": "each", "for": "1s"}).reorders


def canonical_lines(lines: list[dict[str, Any]]) -> list[bytes]:
    return sorted(orjson.dumps(line, option=orjson.OPT_SORT_KEYS) for line in lines)


def offline(items: list[dict[str, Any]], order: str = "event_time") -> list[bytes]:
    late: list[str] = []
    lines = list(run_offline(rule_specs(order), [as_event(item) for item in items],
                             on_late=lambda rule, event, wm: late.append(event.id)))
    assert late == []  # the arrival orders drawn are all within the lateness
    return canonical_lines(lines)


@settings(max_examples=300, deadline=None)
@given(st.data(), bodies)
def test_offline_any_arrival_within_lateness_gives_the_sorted_streams_executions(
    data: st.DataObject, items: list[dict[str, Any]]
) -> None:
    arrival = delivered(data.draw, items)
    assert offline(arrival) == offline(by_time(arrival))


def test_the_property_can_fail_arrival_order_differs_on_a_shuffle() -> None:
    """The comparison above is sensitive: on this arrival order `time.order: arrival` changes the output."""
    items = [body(0, 4 * S, "a", "B", "up", "ip1", 90), body(1, 1 * S, "a", "A", "down", "ip2", 90),
             body(2, 3 * S, "a", "A", "up", "ip3", 90)]
    assert offline(items, "arrival") != offline(by_time(items), "arrival")
    assert offline(items) == offline(by_time(items))
    assert offline(by_time(items)) == offline(by_time(items), "arrival")  # sorted input: the same either way


def test_without_disorder_event_time_order_gives_the_arrival_order_executions() -> None:
    items = by_time([body(i, (i * 7 % 23) * S, "ab"[i % 2], "ABC"[i % 3], ["up", "down"][i % 5 == 0],
                          f"ip{i % 4}", i * 37 % 100) for i in range(40)])
    assert offline(items) == offline(items, "arrival")


def test_the_rules_guide_example() -> None:
    """docs/RULES_GUIDE.md, "Time and order": the event at 2 s arrives last and still counts."""
    doc = {"name": "three-fails", "group_by": ["user"], "time": {"allowed_lateness": "5s"},
           "detect": {"kind": "threshold", "window": {"type": "sliding", "size": "10s"},
                      "aggregate": {"fn": "count"}, "having": {"op": "gte", "value": 3}},
           "action": {"type": "webhook", "endpoint": "https://hooks.example.com/x"}}
    events = [as_event({"id": f"e{ts}", "type": None, "user": "u1", "ts": ts}) for ts in (5000, 6000, 2000)]
    [line] = run_offline([RuleSpec.model_validate(doc)], events)
    assert (line["at"], line["value"], line["group"]) == (6000, 3, {"user": "u1"})
    arrival = RuleSpec.model_validate({**doc, "time": {"allowed_lateness": "5s", "order": "arrival"}})
    assert list(run_offline([arrival], events)) == []


def test_a_bad_time_order_is_an_error_naming_the_file_line_and_field(tmp_path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text("name: r\ntime:\n  order: sorted\naction: {type: webhook, endpoint: https://hooks.example.com/x}\n")
    rules, problems = scan_rule_files([path])
    assert rules == []
    [problem] = problems
    text = str(problem)
    assert "r.yaml" in text and "(line 3): time.order:" in text and "event_time" in text, text
