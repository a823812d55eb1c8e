"""A 2-process cluster replaying a backlog at uneven speeds: absence timers do not fire early and
in-order events are not late (issue 13, RULES.md §4; formerly a known limit in README "Scale out").

Partition 0 holds most of the backlog (filler no rule reads) and is read slowly; the others are
read at once. Each service's heartbeats stay on one partition, in order. Were a timer to follow
the fastest process's time, the services whose heartbeats wait unread on partition 0 would be
reported absent while they were not; were lateness judged by the largest event time read, the
heartbeats read after the fast partitions would be late. Either way the executions would differ
from the offline runner's, which reads the events in time order.
"""

from __future__ import annotations

import contextlib
import time

import orjson
import pytest
from confluent_kafka import Producer

from cepflow.receiver import Receiver
from dataflow.kafka_out import producer_config
from tests.integration.detections import AppliedRules, example_rule, logged_executions, now_ms, offline_executions
from tests.integration.harness import free_port, stop_all, wait_until
from tests.integration.test_scale_out import cluster

pytestmark = pytest.mark.integration

SERVICES, SPAN_S, FILLER = 16, 40, 150_000


def test_a_cluster_replaying_a_backlog_fires_no_absence_early(stack, sessions, tmp_path, unique):
    base = now_ms() - 120_000  # the backlog is of the last two minutes
    beats = [{"id": f"hb-{s}-{t}", "type": "heartbeat", "service": f"svc-{s}", "ts": base + t * 1000 + s}
             for t in range(SPAN_S) for s in range(SERVICES)]
    fillers = [{"id": f"f{i}", "type": "filler", "ts": base + i * SPAN_S * 1000 // FILLER} for i in range(FILLER)]
    producer = Producer(producer_config([stack.brokers], {"linger.ms": "50"}))
    placed = [(0, filler) for filler in fillers] + [(int(beat["service"][4:]) % 4, beat) for beat in beats]
    for i, (partition, event) in enumerate(sorted(placed, key=lambda pair: pair[1]["ts"])):  # in order per partition
        producer.produce(stack.events_topic, orjson.dumps(event), partition=partition)
        if i % 10_000 == 0:
            producer.poll(0)
    assert producer.flush(60) == 0
    processes = cluster(stack, tmp_path, [free_port(), free_port()])
    with Receiver() as receiver, AppliedRules(sessions) as rules:
        def doc(topic: str) -> dict:
            return example_rule("absence-heartbeat.yaml", name=f"heartbeat-lost-{unique}", url=receiver.url("/hook"),
                                topic=topic, changes={"detect.for": "5s", "time.allowed_lateness": "1s"})

        # Offline (its events' topic is `events`), in time order; a tick far later fires what is due at the end.
        expected = offline_executions([doc("events")], [*beats, {"type": "tick", "ts": base + 600_000}])
        assert len(expected) == SERVICES  # one absence per service, after its last heartbeat
        rules.apply(doc(stack.events_topic))
        try:
            for process in processes:
                process.start()

            def done() -> bool:
                assert all(p.alive() for p in processes), "\n".join(p.log()[-2000:] for p in processes)
                return len(rules.rows()) >= len(expected)

            with contextlib.suppress(AssertionError):  # the comparison below says what differs
                wait_until(done, 90, f"{len(expected)} executions")
            time.sleep(2)
            got = logged_executions(rules.rows())
            assert got == expected, {"extra": sorted(got - expected)[:5], "missing": sorted(expected - got)[:5]}
            late = [orjson.loads(m.value()) for m in stack.read_topic(f"{stack.prefix}.late", timeout=3)]
            assert late == [], [(r["event_id"], r["ts"] - base, r["watermark"] - base) for r in late[:10]]
        finally:
            stop_all(processes)
