"""100,000 distinct group keys through the real Bytewax flow (`build_flow`, `run_main`, no Kafka
and no database): every key's state is discarded once the watermark passes its window, so the
active-groups gauge goes back to 0. Run with `-s` to see the peak RSS and the peak gauge."""

from __future__ import annotations

import json
import resource
import threading
import time
import uuid
from datetime import timedelta
from types import SimpleNamespace

from bytewax.connectors.kafka import KafkaSourceMessage
from bytewax.testing import TestingSource, run_main
from prometheus_client import REGISTRY

from cepflow.settings import Settings
from dataflow.flow import build_flow
from dataflow.rule_cache import StoredRule, build_rule_set
from dataflow.types import Execution
from dataflow.watermark import WatermarkClock

KEYS = 100_000
T0 = 1_700_000_000_000
WINDOW_MS = 3_000


class CountingPipeline:
    """Stands in for the action pipeline: the rule here never fires, so nothing may arrive."""

    def __init__(self) -> None:
        self.executions: list[Execution] = []

    def run_batch(self, executions: list[Execution]) -> list[dict]:
        self.executions.extend(executions)
        return []


def message(offset: int, body: dict, topic: str) -> KafkaSourceMessage:
    # json, not orjson: each orjson.dumps result keeps ~4 KB of its output buffer (measured), which
    # would make the input, not the engine, dominate the RSS.
    return KafkaSourceMessage(key=None, value=json.dumps(body).encode(), topic=topic, partition=0, offset=offset)


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def test_100k_group_keys_leave_no_state_behind_in_the_bytewax_step() -> None:
    at_start = rss_mb()
    name = f"mem-{uuid.uuid4().hex[:6]}"
    spec = {
        "name": name, "match": {"type": "cpu"}, "group_by": ["host"], "time": {"allowed_lateness": 0},
        "detect": {"kind": "threshold", "window": {"type": "sliding", "size": WINDOW_MS},
                   "aggregate": {"fn": "count"}, "having": {"op": "gte", "value": 3}},
        "action": {"type": "webhook", "endpoint": "https://hooks.example.com/x"},
    }
    rules = build_rule_set([StoredRule("rule-mem", name, 1, True, spec)])
    pipeline = CountingPipeline()
    # Event time only (no wall clock): nothing becomes late however slow the run is.
    fake = SimpleNamespace(rules=SimpleNamespace(current=lambda: rules), clock=WatermarkClock(now=None),
                           pipeline=pipeline)
    settings = Settings(kafka_brokers="127.0.0.1:9")  # never contacted: nothing goes to Kafka
    topic = settings.events_topics[0]
    events = [message(i, {"type": "cpu", "host": f"h{i}", "ts": T0 + i // 100}, topic) for i in range(KEYS)]
    # A far-ahead event no rule reads moves the watermark past every window; the pause lets the
    # keys' wake-ups (at most a window of wall time away) run before the input ends.
    tick = message(KEYS, {"type": "tick", "ts": T0 + 3_600_000}, topic)
    source = TestingSource([*events, tick, TestingSource.PAUSE(timedelta(milliseconds=WINDOW_MS + 1000))],
                           batch_size=1000)
    flow = build_flow(settings, resources=lambda: fake, source=source)

    gauge = {"peak": 0.0}
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.05):
            now = REGISTRY.get_sample_value("cepflow_active_groups", {"rule": name}) or 0.0
            gauge["peak"] = max(gauge["peak"], now)

    sampler = threading.Thread(target=sample, daemon=True)
    before = rss_mb()
    started = time.monotonic()
    sampler.start()
    run_main(flow)
    done.set()
    sampler.join()
    elapsed = time.monotonic() - started

    remaining = REGISTRY.get_sample_value("cepflow_active_groups", {"rule": name})
    print(f"\n{KEYS} keys in {elapsed:.1f} s; peak active keys {gauge['peak']:.0f}; "
          f"peak RSS {rss_mb():.0f} MB (at the start {at_start:.0f} MB, with the input built {before:.0f} MB)")
    assert remaining == 0
    assert gauge["peak"] > KEYS / 10  # many keys really were held at once
    assert pipeline.executions == []
