"""Every detection kind on the real engine: example rules, events through Kafka, exact log rows.

Durations are shortened to seconds and event times are near now. Timer-driven fires (tumbling
close, absence, an absent sequence step, `for`) come with no later event: the live watermark
advances with wall-clock time while the input is idle (RULES.md §4).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cepflow.receiver import Receiver
from tests.integration.detections import AppliedRules, by_status, example_rule, now_ms, timeline

pytestmark = pytest.mark.integration

LATENESS = {"time.allowed_lateness": "2s"}
"""Events come tenths of a second apart in event time but are read together; the live watermark
moves on with wall-clock time between two reads, so a pause in reading (a loaded machine) must not
make the next event late. Timers fire this much later in wall-clock time; their `at` stays the
deadline."""


def run(stack, engine, sessions, receiver, file, name, changes, events, expected_rows):
    """Apply the example, send the events, start the engine; the rows once `expected_rows` exist.

    The events go to one partition before the engine starts, so they are read in order.
    """
    doc = example_rule(file, name=name, url=receiver.url(f"/{name}"), topic=stack.events_topic,
                       changes={**LATENESS, **changes})
    with AppliedRules(sessions).apply(doc) as rules:
        stack.produce(events, key=b"one-partition")
        engine.start()
        return rules.wait_rows(expected_rows, engine)


def test_threshold_sliding_fires_at_the_event_completing_the_count(stack, engine, sessions, unique):
    name = f"cpu-hot-{unique}"
    base = now_ms()
    events = timeline(
        base,
        (0, {"type": "cpu", "host": "web-1", "value": 93}),
        (300, {"type": "cpu", "host": "db-1", "value": 99}),
        (600, {"type": "cpu", "host": "web-1", "value": 88}),
        (900, {"type": "cpu", "host": "web-1", "value": 95}),
        (1200, {"type": "cpu", "host": "web-2", "value": 97}),
        (1500, {"type": "cpu", "host": "web-1", "value": 91.5}),
        (1800, {"type": "cpu", "host": "web-1", "value": 99}),  # the window restarted after the fire
        (2100, {"type": "cpu", "host": "web-1", "value": 99}),
    )
    with Receiver() as receiver:
        rows = run(stack, engine, sessions, receiver, "threshold-web-cpu-hot.yaml", name,
                   {"detect.window.size": "3s", "cooldown": 0}, events, 1)
        assert list(by_status(rows)) == [("success", None, 3, base + 1500)]
        assert rows[0].group_key == {"host": "web-1"}
        assert rows[0].references["event_id"] == "e1500"
        assert rows[0].references["window"] == [base + 1500 - 3000, base + 1500]
        assert [r.json for r in receiver.requests] == [{"host": "web-1", "count": "3"}]


def test_threshold_tumbling_fires_when_the_window_closes_on_idle_input(stack, engine, sessions, unique):
    name = f"slow-endpoint-{unique}"
    base = now_ms(align_ms=2000)
    events = timeline(
        base,
        (100, {"type": "http_request", "route": "/api/search", "latency_ms": 620}),
        (300, {"type": "http_request", "route": "/api/cart", "latency_ms": 80}),
        (500, {"type": "http_request", "route": "/api/search", "latency_ms": 710}),
        (700, {"type": "http_request", "route": "/healthz", "latency_ms": 2000}),
        (2300, {"type": "http_request", "route": "/api/search", "latency_ms": 450}),
        (2500, {"type": "http_request", "route": "/api/cart", "latency_ms": 900}),
    )
    with Receiver() as receiver:
        rows = run(stack, engine, sessions, receiver, "threshold-slow-endpoint.yaml", name,
                   {"detect.window.size": "2s"}, events, 2)
        got = sorted((r.group_key["route"], *next(by_status([r]))) for r in rows)
        assert got == [("/api/cart", "success", None, 900, base + 4000),
                       ("/api/search", "success", None, 665, base + 2000)]
        assert {r.references["event_id"] for r in rows} == {"e500", "e2500"}  # the window's latest event
        assert sorted(r.references["window"][0] for r in rows) == [base, base + 2000]


def test_each_fires_for_every_event_passing_where(stack, engine, sessions, unique):
    name = f"payment-failed-{unique}"
    base = now_ms()
    iso = datetime.fromtimestamp((base + 300) / 1000, UTC).isoformat()
    events = [
        *timeline(
            base,
            (0, {"type": "payment", "status": "failed", "amount": 250.0, "currency": "EUR", "reason": "card declined",
                 "customer": {"id": "c-1", "tier": "gold"}}),
            (100, {"type": "payment", "status": "ok", "amount": 300, "currency": "EUR", "customer": {"id": "c-2"}}),
            (200, {"type": "payment", "status": "failed", "amount": 50, "currency": "USD", "reason": "funds",
                   "customer": {"id": "c-3"}}),
        ),
        {"id": "p-iso", "type": "payment", "ts": iso, "status": "failed", "amount": 120, "currency": "USD",
         "reason": "expired card", "customer": {"id": "c-4"}},
        *timeline(base, (400, {"type": "payment", "status": "failed", "amount": 900, "currency": "EUR",
                               "reason": "test", "customer": {"id": "c-5", "tier": "test"}})),
    ]
    with Receiver() as receiver:
        rows = run(stack, engine, sessions, receiver, "each-payment-failed.yaml", name, {}, events, 2)
        assert sorted(by_status(rows), key=lambda r: r[3]) == [("success", None, None, base),
                                                               ("success", None, None, base + 300)]
        assert sorted(r.references["event_id"] for r in rows) == ["e0", "p-iso"]
        assert sorted(r.json["text"] for r in receiver.requests) == [
            "Payment e0 of 250.0 EUR failed: card declined", "Payment p-iso of 120 USD failed: expired card"]


def test_sequence_fires_when_the_last_step_comes_within_the_time(stack, engine, sessions, unique):
    name = f"order-payment-failed-{unique}"
    base = now_ms()
    events = timeline(
        base,
        (0, {"type": "order_created", "order_id": "o-1", "customer": "alice"}),
        (100, {"type": "order_created", "order_id": "o-2", "customer": "bob"}),
        (200, {"type": "order_created", "order_id": "o-3", "customer": "carol"}),
        (400, {"type": "payment", "order_id": "o-3", "status": "ok"}),
        (600, {"type": "payment", "order_id": "o-1", "status": "failed", "reason": "card declined"}),
        (3500, {"type": "payment", "order_id": "o-2", "status": "failed", "reason": "too late"}),
    )
    with Receiver() as receiver:
        rows = run(stack, engine, sessions, receiver, "sequence-order-payment-failed.yaml", name,
                   {"detect.within": "3s"}, events, 1)
        assert list(by_status(rows)) == [("success", None, 600, base + 600)]
        assert rows[0].group_key == {"order_id": "o-1"}
        assert [r.json for r in receiver.requests] == [{"order": "o-1", "customer": "alice", "reason": "card declined"}]


def test_sequence_with_an_absent_last_step_fires_when_the_time_runs_out(stack, engine, sessions, unique):
    name = f"order-not-shipped-{unique}"
    base = now_ms()
    events = timeline(
        base,
        (0, {"type": "order_created", "order_id": "o-10"}),
        (300, {"type": "order_created", "order_id": "o-11"}),
        (1000, {"type": "order_shipped", "order_id": "o-10"}),
        (1500, {"type": "order_created", "order_id": "o-12"}),
        (1800, {"type": "order_shipped", "order_id": "o-12"}),
    )
    with Receiver() as receiver:
        rows = run(stack, engine, sessions, receiver, "sequence-order-not-shipped.yaml", name,
                   {"detect.within": "2s"}, events, 1)
        assert list(by_status(rows)) == [("success", None, 2000, base + 2300)]  # no event after 1800: a timer
        assert rows[0].group_key == {"order_id": "o-11"}
        assert rows[0].references["event_id"] == "e300"
        assert [r.json for r in receiver.requests] == [{"order": "o-11", "text": "not shipped after 1h"}]


def test_absence_fires_once_per_silent_spell(stack, engine, sessions, unique):
    name = f"heartbeat-lost-{unique}"
    base = now_ms()
    beats = [(t, "api") for t in range(0, 3000, 500)] + [(50, "worker"), (550, "worker")]
    events = timeline(base, *((t, {"type": "heartbeat", "service": s, "id": f"{s}{t}"}) for t, s in sorted(beats)))
    with Receiver() as receiver:
        rows = run(stack, engine, sessions, receiver, "absence-heartbeat.yaml", name, {"detect.for": "1500ms"},
                   events, 2)
        got = sorted((r.group_key["service"], *next(by_status([r])), r.references["event_id"]) for r in rows)
        assert got == [("api", "success", None, 1500, base + 4000, "api2500"),
                       ("worker", "success", None, 1500, base + 2050, "worker550")]
        assert sorted(r.json["service"] for r in receiver.requests) == ["api", "worker"]


def test_change_fires_when_the_value_differs_from_the_previous_one(stack, engine, sessions, unique):
    name = f"version-changed-{unique}"
    base = now_ms()
    deploy = {"type": "deploy", "environment": "production"}
    events = timeline(
        base,
        (0, {**deploy, "service": "checkout", "version": "1.4.0"}),
        (100, {**deploy, "service": "search", "version": "2.0.1"}),
        (200, {**deploy, "service": "checkout", "version": "1.4.0"}),
        (300, {**deploy, "service": "checkout", "version": "1.6.0-rc1", "environment": "staging"}),
        (400, {**deploy, "service": "checkout", "version": "1.5.0"}),
    )
    with Receiver() as receiver:
        rows = run(stack, engine, sessions, receiver, "change-deploy-version.yaml", name, {}, events, 1)
        assert list(by_status(rows)) == [("success", None, {"from": "1.4.0", "to": "1.5.0"}, base + 400)]
        assert [r.json for r in receiver.requests] == [{"service": "checkout", "version": "1.5.0"}]


def test_new_value_fires_for_a_value_never_seen_for_the_group(stack, engine, sessions, unique):
    name = f"login-new-country-{unique}"
    base = now_ms()
    events = timeline(
        base,
        (0, {"type": "login", "user": "alice", "success": True, "geo": {"country": "FR"}}),
        (100, {"type": "login", "user": "alice", "success": True, "geo": {"country": "FR"}}),
        (200, {"type": "login", "user": "bob", "success": False, "geo": {"country": "BR"}}),
        (300, {"type": "login", "user": "alice", "success": True, "geo": {"country": "DE"}}),
        (400, {"type": "login", "user": "alice", "success": True, "geo": {"country": "FR"}}),
    )
    with Receiver() as receiver:
        rows = run(stack, engine, sessions, receiver, "new-value-login-country.yaml", name, {}, events, 1)
        assert list(by_status(rows)) == [("success", None, "DE", base + 300)]
        assert [r.json for r in receiver.requests] == [{"user": "alice", "country": "DE"}]


def test_for_fires_when_the_condition_held_for_the_whole_duration(stack, engine, sessions, unique):
    name = f"disk-almost-full-{unique}"
    base = now_ms()
    db = {"type": "disk", "host": "db-1", "mount": "/var"}
    web = {"type": "disk", "host": "web-1", "mount": "/"}
    events = timeline(
        base,
        *((t, {**db, "used_pct": 95 + t // 300 % 3, "id": f"db{t}"}) for t in range(0, 1500, 300)),
        *((t + 10, {**web, "used_pct": 96 if t // 300 % 2 == 0 else 80, "id": f"web{t + 10}"})
          for t in range(0, 1500, 300)),
    )
    events.sort(key=lambda e: e["ts"])
    with Receiver() as receiver:
        rows = run(stack, engine, sessions, receiver, "each-for-disk-full.yaml", name,
                   {"detect.for": "1s", "cooldown": 0}, events, 2)
        got = sorted((r.group_key["host"], *next(by_status([r])), r.references["event_id"]) for r in rows)
        # db-1 holds from 0 on: fires at 1000, exposing the latest holding event up to then (not the
        # 1200 one, read before the watermark passed 1000); web-1 drops to 80 at 310 and 910, holds
        # again from 1210, and then the input is idle: the timer fires at 2210.
        assert got == [("db-1", "success", None, None, base + 1000, "db900"),
                       ("web-1", "success", None, None, base + 2210, "web1210")]


def test_cooldown_turns_a_fire_too_soon_after_the_last_into_a_skipped_row(stack, engine, sessions, unique):
    name = f"cpu-hot-cooldown-{unique}"
    base = now_ms()
    events = timeline(base, *((t, {"type": "cpu", "host": "web-1", "value": 95}) for t in range(0, 600, 100)))
    with Receiver() as receiver:
        rows = run(stack, engine, sessions, receiver, "threshold-web-cpu-hot.yaml", name,
                   {"detect.window.size": "3s", "cooldown": "5s"}, events, 2)
        assert list(by_status(rows)) == [("success", None, 3, base + 200), ("skipped", "cooldown", 3, base + 500)]
        assert len(receiver.requests) == 1
