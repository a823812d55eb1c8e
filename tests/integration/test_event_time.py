"""Event time on the real engine (RULES.md §4, issue 13): clocks that lie are dead-lettered and move
no watermark; timers due while the engine was down fire at restart, without a new event."""

from __future__ import annotations

import time

import orjson
import pytest

from cepflow.receiver import Receiver
from tests.integration.detections import AppliedRules, example_rule, now_ms
from tests.integration.harness import wait_until

pytestmark = pytest.mark.integration


def heartbeat(service: str, ts: int, n: int) -> dict:
    return {"id": f"hb-{service}-{n}", "type": "heartbeat", "service": service, "ts": ts}


def test_an_event_from_a_broken_clock_is_dead_lettered_and_moves_no_watermark(stack, engine, sessions, unique):
    """After `ts: 999999999999999` (the year 33658), ordinary events still fire and no absence
    timer fires while its heartbeats keep coming."""
    each, absent = f"each-cpu-{unique}", f"heartbeat-lost-{unique}"
    with Receiver() as receiver:
        docs = [
            example_rule("each-payment-failed.yaml", name=each, url=receiver.url("/each"), topic=stack.events_topic,
                         changes={"match.type": "cpu", "where": {"field": "value", "op": "gt", "value": 90},
                                  "time.allowed_lateness": "1s"}),
            example_rule("absence-heartbeat.yaml", name=absent, url=receiver.url("/absent"),
                         topic=stack.events_topic, changes={"detect.for": "3s", "time.allowed_lateness": "1s"}),
        ]
        with AppliedRules(sessions).apply(*docs) as rules:
            engine.start()
            base = now_ms()
            stack.produce([heartbeat("svc", base, 0),
                           {"id": "liar", "type": "cpu", "value": 99, "ts": 999_999_999_999_999},
                           {"id": "ancient", "type": "cpu", "value": 99, "ts": 5}], key=b"one")
            for n in range(1, 9):  # a heartbeat every second for 8 s: never 3 s of silence
                time.sleep(1)
                stack.produce([heartbeat("svc", now_ms(), n), {"id": f"cpu-{n}", "type": "cpu", "value": 99,
                                                                "ts": now_ms()}], key=b"one")
            fired = [r.references["event_id"] for r in rules.wait_rows(8, engine, settle_s=0.5) if r.rule_name == each]
            assert sorted(fired) == sorted(f"cpu-{n}" for n in range(1, 9))  # none late, the liars never fire
            assert [r for r in rules.rows() if r.rule_name == absent] == []  # no timer fired early

            letters = wait_until(lambda: stack.read_topic(f"{stack.prefix}.deadletter"), 20, "the dead letters")
            reasons = {orjson.loads(m.value())["reason"].split(":")[0] for m in letters}
            assert reasons == {"event time in the future", "event time before 2000"}
            assert stack.read_topic(f"{stack.prefix}.late", timeout=2) == []

            # Silence now: the absence does fire, on wall-clock time (the watermark still moves).
            rows = rules.wait_rows(9, engine, timeout=30)
            assert [r.rule_name for r in rows].count(absent) == 1


def test_an_absence_due_while_the_engine_was_down_fires_at_restart(stack, engine, sessions, unique):
    """The flow's clock resumes from the snapshot: no new event is needed to fire it."""
    absent = f"heartbeat-lost-{unique}"
    with Receiver() as receiver:
        doc = example_rule("absence-heartbeat.yaml", name=absent, url=receiver.url("/absent"),
                           topic=stack.events_topic, changes={"detect.for": "20s", "time.allowed_lateness": "1s"})
        with AppliedRules(sessions).apply(doc) as rules:
            sent = now_ms()
            stack.produce([heartbeat("svc", sent, 0)], key=b"one")
            engine.start()
            wait_until(lambda: any("svc" in k for k in engine.committed_state_keys("cepflow.groups")),
                       30, "the absence state in a committed snapshot")
            engine.kill()  # down before the absence is due (at sent + 20 s)
            assert rules.rows() == []
            time.sleep(max(0.0, (sent + 22_000 - now_ms()) / 1000))  # it falls due while the engine is down
            engine.start()
            rows = rules.wait_rows(1, engine, timeout=20)  # no event is sent: the restored clock fires it
            assert [(r.rule_name, r.references["at"]) for r in rows] == [(absent, sent + 20_000)]
