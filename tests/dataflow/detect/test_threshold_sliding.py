from __future__ import annotations

from typing import Any

from dataflow.detect.threshold import SlidingState
from dataflow.runtime import GroupLogic
from tests.dataflow.helpers import ARRIVAL, Driver, ev, fired, pickled, rule

M = 60_000


def sliding(fn: str = "count", op: str = "gte", value: float = 3, size: str = "5m", field: str | None = None, **kw: Any):
    aggregate = {"fn": fn} if field is None else {"fn": fn, "field": field}
    return rule(
        detect={"kind": "threshold", "window": {"type": "sliding", "size": size}, "aggregate": aggregate,
                "having": {"op": op, "value": value}},
        **{"time": ARRIVAL, **kw},
    )


def test_count_fires_at_the_completing_event_and_the_window_restarts_empty() -> None:
    d = Driver(sliding())
    d.feed_all(ev(i * M) for i in range(7))
    # fires at 2m (0, 1m, 2m); restarts: 3m, 4m, 5m -> fire at 5m; 6m alone
    assert fired(d.out) == [(2 * M, 3), (5 * M, 3)]
    first = d.out[0]
    assert (first.window_start, first.window_end) == (2 * M - 5 * M, 2 * M)
    assert first.event_id == f"e{2 * M}"


def test_window_is_open_at_t_minus_size_and_closed_at_t() -> None:
    d = Driver(sliding(size="5m"))
    d.feed_all([ev(0), ev(100), ev(5 * M)])  # (0, 5m] excludes the event at 0
    assert fired(d.out) == []
    d.feed(ev(5 * M + 1))  # (1, 5m+1]: 100, 5m, 5m+1
    assert fired(d.out) == [(5 * M + 1, 3)]


def test_only_events_passing_where_count() -> None:
    d = Driver(sliding(where={"field": "value", "op": "gt", "value": 90}))
    d.feed_all(ev(i, {"value": v}) for i, v in enumerate([95, 10, 96, 20, 97]))
    assert fired(d.out) == [(4, 3)]


def test_count_is_per_group() -> None:
    d = Driver(sliding(group_by=["host"]))
    d.feed_all(ev(i, {"host": "ab"[i % 2]}) for i in range(6))
    assert [(e.at_ms, e.group) for e in d.out] == [(4, {"host": "a"}), (5, {"host": "b"})]


def test_sum_avg_min_max_ignore_missing_and_non_numeric_values() -> None:
    values = [5, "x", None, True, 4, 3]
    events = [ev(i, {"v": v}) for i, v in enumerate(values)] + [ev(10, {})]
    assert fired(Driver(sliding("sum", "gt", 10, field="v")).feed_all(events)) == [(5, 12)]
    avg = Driver(sliding("avg", "lte", 4, field="v")).feed_all(events)
    assert fired(avg) == [(5, 4.0)]
    assert fired(Driver(sliding("min", "lt", 4, field="v")).feed_all(events)) == [(5, 3)]
    assert fired(Driver(sliding("max", "gte", 5, field="v")).feed_all(events)) == [(0, 5)]


def test_undefined_aggregate_compares_false_even_with_ne() -> None:
    d = Driver(sliding("avg", "ne", 1, field="v"))
    d.feed_all([ev(0, {"v": "x"}), ev(1, {})])
    assert d.out == []


def test_distinct_counts_distinct_json_values() -> None:
    d = Driver(sliding("distinct", "gte", 3, field="user"))
    d.feed_all(ev(i, {"user": u}) for i, u in enumerate(["a", "b", "a", None, {"x": 1}, "c"]))
    assert fired(d.out) == [(4, 3)]  # a, b, {"x": 1}; null is not a value


def test_out_of_order_event_sees_the_window_ending_at_its_own_time() -> None:
    d = Driver(sliding(size="1m", time={**ARRIVAL, "allowed_lateness": "10m"}))
    d.feed_all([ev(50_000, id="a"), ev(100_000, id="b"), ev(40_000, id="c"), ev(30_000, id="d")])
    # at 40s: (-20s, 40s] holds c only; at 30s: c is later -> d alone. No fire until:
    assert d.out == []
    d.feed(ev(45_000, id="e"))  # (-15s, 45s]: d, c, e -> 3
    assert fired(d.out) == [(45_000, 3)]
    d.feed(ev(44_000, id="f"))  # consumed window: ignored
    d.feed(ev(101_000, id="g"))  # (41s, 101s]: a, b, g = 3 (c, d, e consumed)
    assert fired(d.out) == [(45_000, 3), (101_000, 3)]


def test_state_empties_once_the_watermark_passes_the_last_event_plus_size() -> None:
    r = sliding(size="1m")
    logic = GroupLogic(r)
    logic.on_event(ev(1000), 0)
    logic.on_event(ev(2000), 0)
    assert logic.next_deadline_ms() == 62_000
    logic.on_watermark(61_999)
    assert not logic.is_empty()
    logic.on_watermark(62_000)
    assert logic.is_empty()


def test_after_a_fire_the_state_empties_after_the_fire_time() -> None:
    logic = GroupLogic(sliding(value=1))
    assert fired(logic.on_event(ev(1000), 0)) == [(1000, 1)]
    assert not logic.is_empty()  # remembers the consumed window until the watermark passes it
    assert logic.next_deadline_ms() == 1001
    logic.on_watermark(1001)
    assert logic.is_empty()


def test_snapshot_resume_mid_window_gives_the_same_executions() -> None:
    events = [ev(i * 20_000, {"host": "ab"[i % 2]}) for i in range(30)]
    plain = Driver(sliding(group_by=["host"], size="2m")).feed_all(events)
    resumed = Driver(sliding(group_by=["host"], size="2m"), resume_every_step=True).feed_all(events)
    assert plain == resumed and len(plain) > 3


def test_a_count_window_keeps_bare_event_times_and_a_lone_one_as_an_int() -> None:
    logic = GroupLogic(sliding(size="1m"))
    logic.on_event(ev(1_000), 0)
    assert logic.snapshot()[2] == 1_000  # the state of most keys: one event time, nothing else
    logic.on_event(ev(500), 0)
    assert logic.snapshot()[2] == SlidingState((500, 1_000))
    assert fired(logic.on_event(ev(2_000), 0)) == [(2_000, 3)]
    assert logic.snapshot()[2] == SlidingState((), 2_000)  # consumed up to the fire
    logic.on_event(ev(3_000), 0)
    assert logic.snapshot()[2] == SlidingState((3_000,), 2_000)
    logic.on_watermark(2_001)
    assert logic.snapshot()[2] == 3_000 and logic.next_deadline_ms() == 63_000


def test_other_aggregates_keep_their_contributions() -> None:
    logic = GroupLogic(sliding("sum", "gt", 10, field="v", size="1m"))
    logic.on_event(ev(1_000, {"v": 4}), 0)
    logic.on_event(ev(2_000, {"v": "x"}), 0)  # adds nothing
    assert logic.snapshot()[2] == SlidingState(((1_000, 4),))
    restored = GroupLogic.resume(logic.rule, pickled(logic.snapshot()))
    assert fired(restored.on_event(ev(3_000, {"v": 7}), 0)) == [(3_000, 11)]
