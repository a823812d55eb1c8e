"""The engine's Prometheus metrics, counted where the router and the group step decide things;
and the group step's clock handling (an event is judged at the router's watermark, a resumed
key waits for the first event time)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from prometheus_client import REGISTRY

from dataflow.group_step import NEAR_DEADLINE_MS, NEAR_POLL_MS, UNKNOWN_PROGRESS_POLL, GroupStep, wake_in_ms
from dataflow.metrics import reason_class
from dataflow.offline import parse_event_line
from dataflow.routing import KeyedEvent, Topics, make_router
from dataflow.rule_cache import RuleSet, StoredRule, build_rule_set
from dataflow.sealing import Sealer
from dataflow.serde import ChainCheck, Limits
from dataflow.types import InMessage
from dataflow.watermark import WatermarkClock

TOPICS = Topics("chain", "dead", "late")
LIMITS = Limits(max_bytes=10_000, max_depth=8, type_field="type")
T0 = 1_700_000_000_000  # event times are after 2000 (RULES.md §4)
CHAIN = ChainCheck(Sealer(b"k" * 32), max_depth=5)


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def rule_set(**rules: dict[str, Any]) -> RuleSet:
    """Rules by name, each `{"time": {"allowed_lateness": 0}, webhook action}` plus the given fields."""
    action = {"type": "webhook", "endpoint": "https://hooks.example.com/x"}
    return build_rule_set(
        StoredRule(f"id-{name}", name, 1, True,
                   {"name": name, "time": {"allowed_lateness": 0}, "action": action, **fields})
        for name, fields in rules.items()
    )


def msg(body: dict[str, Any] | bytes) -> InMessage:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    return InMessage("events", 0, 0, raw)


def test_router_counts_events_in_dead_letters_late_events_and_stateless_executions() -> None:
    each, hot = f"each-{uuid.uuid4().hex[:6]}", f"hot-{uuid.uuid4().hex[:6]}"
    rules = rule_set(**{
        each: {"match": {"type": "order"}},
        hot: {"match": {"type": "cpu"}, "group_by": ["host"],
              "detect": {"kind": "threshold", "window": {"type": "sliding", "size": "1m"},
                         "aggregate": {"fn": "count"}, "having": {"op": "gte", "value": 3}}},
    })
    route = make_router(lambda: rules, lambda: WatermarkClock(now=None, process_id="this process"), LIMITS, TOPICS, CHAIN)
    before = {
        "in": value("cepflow_events_in_total"),
        "json": value("cepflow_dead_letters_total", reason="invalid JSON"),
        "object": value("cepflow_dead_letters_total", reason="not a JSON object"),
    }
    out = route([
        msg({"type": "order", "ts": T0 + 10_000}),
        msg({"type": "cpu", "host": "a", "ts": T0 + 20_000}),
        msg({"type": "cpu", "host": "a", "ts": T0 + 15_000}),  # behind the watermark: late for `hot`
        msg({"type": "order", "ts": T0 + 5_000}),  # late for `each`
        msg(b"{not json"),
        msg(b"[1]"),
        msg(b"[2]"),
    ])
    assert [tag for tag, _ in out] == ["exec", "key", "out", "out", "out", "out", "out"]
    assert value("cepflow_events_in_total") == before["in"] + 7
    assert value("cepflow_dead_letters_total", reason="invalid JSON") == before["json"] + 1
    assert value("cepflow_dead_letters_total", reason="not a JSON object") == before["object"] + 2
    assert value("cepflow_late_events_total", rule=hot) == 1
    assert value("cepflow_late_events_total", rule=each) == 1
    assert value("cepflow_executions_total", rule=each, status="fired") == 1


def test_reason_class_drops_the_details() -> None:
    assert reason_class("invalid JSON: unexpected character: line 1 column 2") == "invalid JSON"
    assert reason_class("message too large: 2000 bytes > 1000") == "message too large"
    assert reason_class("empty message") == "empty message"


def absence_rules(name: str) -> RuleSet:
    absence = {"match": {"type": "hb"}, "group_by": ["svc"], "detect": {"kind": "absence", "for": "10s"}}
    return rule_set(**{name: absence})


def keyed(rules: RuleSet, name: str, ts: int, progress: int, router: str = "this process") -> KeyedEvent:
    event = parse_event_line(orjson.dumps({"type": "hb", "svc": "a", "ts": ts}), "e", ts)
    rule = rules.active[f"id-{name}"]
    return KeyedEvent(rule.id, rule.version, event, router, progress)


def test_group_step_counts_its_key_while_it_holds_state_and_its_executions() -> None:
    name = f"absent-{uuid.uuid4().hex[:6]}"
    rules, clock = absence_rules(name), WatermarkClock(now=None, process_id="this process")
    step = GroupStep(None, lambda: rules, lambda: clock)
    out, discard = step.on_batch([keyed(rules, name, 1_000, 1_000)])
    assert (list(out), discard) == ([], False)
    assert value("cepflow_active_groups", rule=name) == 1

    clock.observe(60_000)  # the absence is due
    out, discard = step.on_notify()
    assert [e.status for e in out] == ["fired"] and discard
    assert value("cepflow_active_groups", rule=name) == 0
    assert value("cepflow_executions_total", rule=name, status="fired") == 1

    resumed = GroupStep(step.snapshot(), lambda: rules, lambda: clock)  # a restart counts it again
    assert value("cepflow_active_groups", rule=name) == 1
    assert resumed.on_notify() == ([], True)
    assert value("cepflow_active_groups", rule=name) == 0


def test_group_step_judges_an_event_at_the_watermark_it_was_routed_with() -> None:
    """The rest of the batch moved the clock past the event's deadline: the event still counts."""
    name = f"absent-{uuid.uuid4().hex[:6]}"
    rules, clock = absence_rules(name), WatermarkClock(now=None, process_id="this process")
    clock.observe(100_000)
    step = GroupStep(None, lambda: rules, lambda: clock)
    out, discard = step.on_batch([keyed(rules, name, 1_000, 1_000), keyed(rules, name, 5_000, 5_000)])
    assert (list(out), discard) == ([], False)  # the absence is armed from the 5 s event, not gone
    out, _ = step.on_notify()
    assert [(e.status, e.at_ms) for e in out] == [("fired", 15_000)]


def test_a_resumed_key_with_a_timer_polls_until_its_process_has_seen_an_event() -> None:
    name = f"absent-{uuid.uuid4().hex[:6]}"
    rules = absence_rules(name)
    step = GroupStep(None, lambda: rules, lambda: WatermarkClock(now=None, process_id="this process"))
    step.on_batch([keyed(rules, name, 1_000, 1_000)])
    fresh = WatermarkClock(now=None, process_id="this process")  # a restarted process: no event time yet
    resumed = GroupStep(step.snapshot(), lambda: rules, lambda: fresh)
    wake = resumed.notify_at()
    assert wake is not None and wake - datetime.now(UTC) <= UNKNOWN_PROGRESS_POLL
    assert resumed.on_notify() == ([], False)
    fresh.observe(2_000)
    wake = resumed.notify_at()
    assert wake is not None and wake - datetime.now(UTC) > timedelta(seconds=8)  # due at 11 s event time


def test_an_event_from_a_lying_clock_is_dead_lettered_and_moves_no_watermark() -> None:
    name = f"each-{uuid.uuid4().hex[:6]}"
    rules = rule_set(**{name: {"match": {"type": "order"}}})
    clock = WatermarkClock(now=None)
    route = make_router(lambda: rules, lambda: clock, LIMITS, TOPICS, CHAIN, wall_clock=lambda: T0 / 1000)
    before = value("cepflow_dead_letters_total", reason="event time in the future")
    out = route([msg({"type": "order", "ts": T0}), msg({"type": "order", "ts": 999_999_999_999_999}),
                 msg({"type": "order", "ts": T0 + 600_001}), msg({"type": "order", "ts": 5}),
                 msg({"type": "order", "ts": T0 + 1})])
    assert [tag for tag, _ in out] == ["exec", "out", "out", "out", "exec"]  # the last is not late
    assert clock.max_ts_ms == T0 + 1
    assert value("cepflow_dead_letters_total", reason="event time in the future") == before + 2


def test_a_resumed_key_restores_the_clock_of_its_snapshot() -> None:
    """Timers after a restart: the snapshot carries the process clock (progress, wall time)."""
    name = f"absent-{uuid.uuid4().hex[:6]}"
    rules = absence_rules(name)
    clock = WatermarkClock(now=None, process_id="this process")
    clock.observe(T0)
    step = GroupStep(None, lambda: rules, lambda: clock)
    step.on_batch([keyed(rules, name, T0, T0)])
    snapshot = step.snapshot()
    assert snapshot[3] is not None and snapshot[3][0] == T0
    fresh = WatermarkClock(now=None, wall=lambda: snapshot[3][1] / 1000 + 30)  # restarted 30 s later
    GroupStep(snapshot, lambda: rules, lambda: fresh)
    assert fresh.max_ts_ms == T0 + 30_000
    old = GroupStep(snapshot[:3], lambda: rules, lambda: WatermarkClock(now=None))  # a snapshot of before
    assert old.snapshot()[:3] == snapshot[:3]


def test_the_state_of_an_old_version_of_a_change_rule_is_discarded_at_resume() -> None:
    name = f"change-{uuid.uuid4().hex[:6]}"
    change = {"match": {"type": "hb"}, "group_by": ["svc"], "detect": {"kind": "change", "field": "v"}}
    rules = rule_set(**{name: change})
    clock = WatermarkClock(now=None, process_id="this process")
    step = GroupStep(None, lambda: rules, lambda: clock)
    event = parse_event_line(orjson.dumps({"type": "hb", "svc": "a", "v": 1, "ts": T0}), "e", T0)
    assert step.on_batch([KeyedEvent(f"id-{name}", 1, event, clock.id, T0)]) == ([], False)  # learns the value
    newer = build_rule_set([StoredRule(f"id-{name}", name, 2, True, {**rules.active[f"id-{name}"].spec.model_dump(
        by_alias=True, exclude_none=True), "detect": {"kind": "change", "field": "w"}})])
    resumed = GroupStep(step.snapshot(), lambda: newer, lambda: clock)  # restarted after version 2
    assert resumed.notify_at() is not None and resumed.notify_at() <= datetime.now(UTC)  # wakes at once
    assert resumed.on_notify() == ([], True)  # and is discarded


def test_a_key_wakes_before_its_deadline_and_then_polls_until_the_watermark_passes_it() -> None:
    """The wall-clock estimate of a deadline is taken when the input may run late: a key that
    trusted it would wake after the watermark had passed its deadline (bench: +60 ms)."""
    assert wake_in_ms(10_000) == 10_000 - NEAR_DEADLINE_MS
    assert wake_in_ms(NEAR_DEADLINE_MS) == NEAR_POLL_MS
    assert wake_in_ms(2) == 2
    assert wake_in_ms(-40) == 0  # due already
    name = f"absent-{uuid.uuid4().hex[:6]}"
    rules, clock = absence_rules(name), WatermarkClock(now=None, process_id="this process")
    clock.observe(T0)
    step = GroupStep(None, lambda: rules, lambda: clock)
    step.on_batch([keyed(rules, name, T0, T0)])  # due at T0 + 10 s
    clock.observe(T0 + 10_000 - 30)
    wake = step.notify_at()
    assert wake is not None and wake - datetime.now(UTC) <= timedelta(milliseconds=NEAR_POLL_MS)
    assert step.on_notify() == ([], False)
