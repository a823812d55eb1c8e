"""An event older than a rule's watermark goes to the late-events topic with the rule and the
reason, is counted in `cepflow_late_events_total`, and never fires that rule — while a rule with
more allowed lateness still reads it. Metrics are scraped from Bytewax's `/metrics`."""

from __future__ import annotations

import orjson
import pytest

from cepflow.receiver import Receiver
from tests.integration.detections import AppliedRules, example_rule, now_ms, timeline
from tests.integration.harness import free_port, metric, metrics_env, wait_until

pytestmark = pytest.mark.integration


def test_late_event_goes_to_the_late_topic_is_counted_and_never_fires(stack, engine, sessions, tmp_path, unique):
    strict, lenient = f"cpu-hot-strict-{unique}", f"payment-any-{unique}"
    port = free_port()
    stack.extra.update(metrics_env(port, tmp_path))
    base = now_ms()
    hot = {"type": "cpu", "host": "web-1", "value": 99}
    events = timeline(base, (5000, hot), (1000, {**hot, "id": "late"}), (6000, hot))
    with Receiver() as receiver:
        docs = [
            # Three hot events in a minute fire it — if the late one counted.
            example_rule("threshold-web-cpu-hot.yaml", name=strict, url=receiver.url("/strict"),
                         topic=stack.events_topic,
                         changes={"detect.window.size": "1m", "time.allowed_lateness": "0s"}),
            # Every cpu event, 10 s of lateness allowed: the 4 s late event is on time for it.
            example_rule("each-payment-failed.yaml", name=lenient, url=receiver.url("/lenient"),
                         topic=stack.events_topic,
                         changes={"match.type": "cpu", "where": {"field": "value", "op": "gt", "value": 90},
                                  "time.allowed_lateness": "10s"}),
        ]
        with AppliedRules(sessions).apply(*docs) as rules:
            stack.produce(events, key=b"one-partition")
            engine.start()
            rows = rules.wait_rows(3, engine)
            assert sorted((r.rule_name, r.references["event_id"]) for r in rows) == [
                (lenient, "e5000"), (lenient, "e6000"), (lenient, "late")]

            late = wait_until(lambda: stack.read_topic(f"{stack.prefix}.late"), 20, "the late event")
            assert len(late) == 1
            record = orjson.loads(late[0].value())
            assert (record["rule"], record["rule_id"], record["event_id"]) == (strict, rules.ids[strict], "late")
            assert record["ts"] == base + 1000 and record["watermark"] == base + 5000
            assert record["reason"] == (f"event time {base + 1000} is before the watermark {base + 5000}"
                                        " (allowed lateness 0 ms)")
            assert record["event"]["id"] == "late"

            assert wait_until(lambda: metric(port, "cepflow_late_events_total", rule=strict), 20, "the late count") == 1
            assert metric(port, "cepflow_late_events_total", rule=lenient) is None
            assert metric(port, "cepflow_executions_total", rule=lenient) == 3
            assert metric(port, "cepflow_executions_total", rule=strict) is None
