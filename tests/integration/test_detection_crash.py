"""SIGKILL with detection state in flight, restart with the recovery folder: the same executions as
an uninterrupted run — a window or a sequence started before the crash completes after it, a
timer armed before it fires after it, and the log holds one row per execution.

The kill comes once a committed snapshot holds the partial state of every group (read from the
recovery folder), so the restarted engine must take that state from the snapshot.
"""

from __future__ import annotations

import pytest

from cepflow.receiver import Receiver
from tests.integration.detections import AppliedRules, by_status, example_rule, now_ms, timeline
from tests.integration.harness import wait_until

pytestmark = pytest.mark.integration

GROUPS_STEP = "cepflow.groups"
WITHIN, WITHIN_MS = "8s", 8_000


def crash_between(stack, engine, rules: AppliedRules, first: list[dict], keys: int) -> None:
    """The first half, a committed snapshot with `keys` group states of these rules, SIGKILL, restart."""
    ids = tuple(rules.ids.values())
    stack.produce(first, key=b"one-partition")
    engine.start()

    def snapshotted() -> bool:
        return len([k for k in engine.committed_state_keys(GROUPS_STEP) if k.startswith(ids)]) >= keys

    wait_until(snapshotted, 30, f"a committed snapshot of {keys} group states")
    assert engine.alive(), engine.log()[-3000:]
    engine.kill()
    engine.start()


def test_threshold_window_open_at_the_crash_completes_after_it(stack, engine, sessions, unique):
    name = f"cpu-hot-crash-{unique}"
    hot = {"type": "cpu", "value": 95}
    base = now_ms()
    first = timeline(base, (0, {**hot, "host": "web-1"}), (100, {**hot, "host": "web-1"}),
                     (200, {**hot, "host": "web-2"}), (300, {**hot, "host": "web-3"}),
                     (400, {**hot, "host": "web-3"}), (500, {**hot, "host": "web-3"}))  # web-3 fires now
    with Receiver() as receiver:
        doc = example_rule("threshold-web-cpu-hot.yaml", name=name, url=receiver.url("/cpu"),
                           topic=stack.events_topic, changes={"detect.window.size": "1m", "cooldown": 0})
        with AppliedRules(sessions).apply(doc) as rules:
            crash_between(stack, engine, rules, first, keys=2)
            second = timeline(now_ms(), (0, {**hot, "host": "web-1"}), (100, {**hot, "host": "web-2"}),
                              (200, {**hot, "host": "web-2"}))
            stack.produce(second, key=b"one-partition")
            rows = rules.wait_rows(3, engine)
            got = sorted((r.group_key["host"], *next(by_status([r])), r.references["event_id"]) for r in rows)
            assert got == [("web-1", "success", None, 3, second[0]["ts"], "e0"),
                           ("web-2", "success", None, 3, second[2]["ts"], "e200"),
                           ("web-3", "success", None, 3, base + 500, "e500")]
            assert len({r.idempotency_key for r in rows}) == 3
            assert sorted(r.json["host"] for r in receiver.requests) == ["web-1", "web-2", "web-3"]


def test_sequence_under_way_at_the_crash_completes_or_times_out_after_it(stack, engine, sessions, unique):
    failed = f"order-payment-failed-crash-{unique}"
    not_shipped = f"order-not-shipped-crash-{unique}"
    base = now_ms()
    first = timeline(base, (0, {"type": "order_created", "order_id": "o-1", "customer": "alice"}),
                     (100, {"type": "order_created", "order_id": "o-2", "customer": "bob"}),
                     (200, {"type": "payment", "order_id": "o-2", "status": "failed", "reason": "declined"}),
                     (300, {"type": "order_shipped", "order_id": "o-2"}))
    with Receiver() as receiver:
        docs = [
            example_rule("sequence-order-payment-failed.yaml", name=failed, url=receiver.url("/failed"),
                         topic=stack.events_topic, changes={"detect.within": "1m"}),
            example_rule("sequence-order-not-shipped.yaml", name=not_shipped, url=receiver.url("/not-shipped"),
                         topic=stack.events_topic, changes={"detect.within": WITHIN, "time.allowed_lateness": "1s"}),
        ]
        with AppliedRules(sessions).apply(*docs) as rules:
            # o-1 waits for its payment and for its shipping (a timer); o-2 is done before the crash.
            crash_between(stack, engine, rules, first, keys=2)
            assert now_ms() < base + WITHIN_MS, "the crash took longer than the timer: it tests nothing"
            second = timeline(now_ms(), (0, {"type": "payment", "order_id": "o-1", "status": "failed",
                                             "reason": "card declined"}))
            stack.produce(second, key=b"one-partition")
            rows = rules.wait_rows(3, engine, timeout=40)
            got = sorted((r.rule_name, r.group_key["order_id"], *next(by_status([r]))) for r in rows)
            assert got == sorted([
                (failed, "o-1", "success", None, second[0]["ts"] - base, second[0]["ts"]),
                (failed, "o-2", "success", None, 100, base + 200),  # before the crash
                (not_shipped, "o-1", "success", None, WITHIN_MS, base + WITHIN_MS),  # armed before the crash
            ])
            assert len({r.idempotency_key for r in rows}) == 3
            assert sorted(r.path for r in receiver.requests) == ["/failed", "/failed", "/not-shipped"]
