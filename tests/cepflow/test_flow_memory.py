"""100,000 distinct group keys through the real Bytewax flow (`build_flow`, `run_main`, no Kafka
and no database): every key's state is discarded once the watermark passes its window, so the
active-groups gauge goes back to 0. Run with `-s` to see the peak RSS and the peak gauge.

And what the engine's own objects cost per held key, for the bench's memory rule (bench/figures.py
`memory_rule`: a sliding count by host, one event per key), measured exactly with tracemalloc."""

from __future__ import annotations

import gc
import json
import pickle
import resource
import threading
import time
import tracemalloc
import uuid
from datetime import timedelta
from types import SimpleNamespace

from bytewax.connectors.kafka import KafkaSourceMessage
from bytewax.testing import TestingSource, run_main
from prometheus_client import REGISTRY

from cepflow.flow import build_flow
from cepflow.settings import Settings
from dataflow.group_step import GroupStep
from dataflow.routing import KeyedEvent
from dataflow.rule_cache import StoredRule, build_rule_set
from dataflow.types import Event, Execution
from dataflow.watermark import WatermarkClock

KEYS = 100_000
T0 = 1_700_000_000_000
WINDOW_MS = 3_000


class CountingPipeline:
    """Stands in for the action pipeline: the rule here never fires, so nothing may arrive."""

    def __init__(self) -> None:
        self.executions: list[Execution] = []

    def warm(self) -> None:
        """No connections to open."""

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
    settings = Settings(kafka_brokers="127.0.0.1:9", internal_key="k" * 32)  # never contacted: nothing goes to Kafka
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


HELD_KEYS = 20_000
BYTES_PER_HELD_KEY = 256
"""The engine's own objects per key held by the bench's memory rule: 177 bytes (Python 3.11) — the
`GroupStep` (64, slots, no `__dict__`), its `GroupLogic` (80) and the window, one event time (32);
the group is not kept (the rule fires only at events). It was 610 with a dict per group, a
`__dict__` per step and `(ts, None)` window entries. Bytewax's own share per key (the state key
held twice in Rust maps, the snapshots of an epoch) comes on top and is not measured here."""
BYTES_PER_BUFFERED_KEY = 1024
"""A key whose event still waits in its reorder buffer for the watermark (for at most the allowed
lateness, 5 s: at the bench's event rate a small share of figure 6's keys) also holds the `Event`
and its parsed body."""


def test_a_held_key_of_the_bench_memory_rule_costs_little() -> None:
    spec = {"name": "mem-held", "match": {"type": "bench_mem"}, "group_by": ["host"],
            "detect": {"kind": "threshold", "window": {"type": "sliding", "size": "1h"},
                       "aggregate": {"fn": "count"}, "having": {"op": "gte", "value": 2}},
            "action": {"type": "webhook", "endpoint": "https://hooks.example.com/x", "body": {"id": "{{ event.id }}"}}}
    rule_id = str(uuid.uuid4())
    rules = build_rule_set([StoredRule(rule_id, "mem-held", 1, True, spec)])
    clock = WatermarkClock(now=None)
    current_rules, current_clock = (lambda: rules), (lambda: clock)  # shared by every key, as in build_flow
    lines = [json.dumps({"id": f"e{i}", "type": "bench_mem", "host": f"k{i:07d}", "ts": T0 + i})
             for i in range(HELD_KEYS)]
    steps: list[GroupStep] = []
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for line in lines:
            body = json.loads(line)  # parsed here, like the router's: what a key keeps of it is counted
            event = Event(body["id"], body["ts"], "events", body["type"], body)
            clock.observe(event.ts_ms)
            step = GroupStep(None, current_rules, current_clock)
            out, discard = step.on_batch([KeyedEvent(rule_id, 1, event, clock.id, clock.progress_ms())])
            assert (list(out), discard) == ([], False)
            step.notify_at()
            steps.append(step)
        del event, body, out  # the input goes; what the steps hold stays
        gc.collect()
        buffered = (tracemalloc.get_traced_memory()[0] - before) / HELD_KEYS - 8  # less the list's slot
        clock.observe(T0 + HELD_KEYS + 5_000)  # the watermark passes every event: they are applied
        for step in steps:
            assert (list(step.on_notify()[0]), step.notify_at() is not None) == ([], True)
        gc.collect()
        per_key = (tracemalloc.get_traced_memory()[0] - before) / HELD_KEYS - 8
    finally:
        tracemalloc.stop()
    snapshot = pickle.dumps(steps[0].snapshot())
    print(f"\n{per_key:.0f} bytes per held key (GroupStep, logic, window), {buffered:.0f} while its event waits"
          f" for the watermark; snapshot pickle {len(snapshot)} bytes")
    assert not hasattr(steps[0], "__dict__")
    assert per_key < BYTES_PER_HELD_KEY
    assert buffered < BYTES_PER_BUFFERED_KEY
    assert len(snapshot) < 100  # snapshots are pickled per touched key at every epoch close
    resumed = GroupStep(pickle.loads(snapshot), current_rules, current_clock)
    assert resumed.snapshot() == steps[0].snapshot()
