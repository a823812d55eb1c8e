"""Order within lateness through the real engine: `build_flow` with the real router and `GroupStep`,
run by `bytewax.testing.run_main` (no Kafka, no database). Any arrival order within the allowed
lateness gives the executions — idempotency keys included — of the same events sorted by time,
for every detection kind; and the same lines as the offline runner (RULES.md §4, "Order")."""

from __future__ import annotations

import json
import time
import uuid
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import orjson
from bytewax.connectors.kafka import KafkaSourceMessage
from bytewax.testing import TestingSource, run_main
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cepflow.flow import build_flow
from cepflow.settings import Settings
from dataflow.offline import run_offline
from dataflow.rule_cache import StoredRule, build_rule_set
from dataflow.types import Execution
from dataflow.watermark import WatermarkClock
from tests.cepflow.test_flow_memory import (
    CountingPipeline as Collect,  # keeps what would run
)
from tests.dataflow.order_cases import (
    LATENESS_MS,
    RULE_DOCS,
    T0,
    as_event,
    bodies,
    body,
    by_time,
    delivered,
    rule_specs,
)


def engine(items: list[dict[str, Any]]) -> list[Execution]:
    """The executions of the engine reading `items` in this order, then one tick per group at the
    last time + the lateness: every (rule, group) key reads it, and its watermark reaches the last
    event time, as at the end of an offline run (the ticks themselves stay pending: never applied).
    Event time only, no wall clock: nothing is late however slow the run."""
    stored = [StoredRule(f"r-{doc['name']}", doc["name"], 1, True, doc) for doc in RULE_DOCS]
    rules = build_rule_set(stored)
    pipeline = Collect()
    fake = SimpleNamespace(rules=SimpleNamespace(current=lambda: rules), clock=WatermarkClock(now=None),
                           pipeline=pipeline)
    conf = Settings(kafka_brokers="127.0.0.1:9")  # never contacted: nothing goes to Kafka
    topic = conf.events_topics[0]
    last = max(item["ts"] for item in items)
    ticks = [body(-1, last + LATENESS_MS, g, "Z", "up", "ip1", 0) | {"id": f"tick-{g}"} for g in "ab"]
    messages = [KafkaSourceMessage(key=None, value=json.dumps(item).encode(), topic=topic, partition=0, offset=i)
                for i, item in enumerate([*items, *ticks])]
    source = TestingSource(messages, batch_size=7)
    run_main(build_flow(conf, resources=lambda: fake, source=source))
    return pipeline.executions


def identities(executions: list[Execution]) -> list[tuple[Any, ...]]:
    return sorted((e.rule_name, e.idempotency_key, e.status, e.at_ms, orjson.dumps(e.value, option=orjson.OPT_SORT_KEYS))
                  for e in executions)


def as_lines(executions: list[Execution]) -> list[tuple[Any, ...]]:
    return sorted((e.rule_name, orjson.dumps(e.group), e.at_ms, e.status, orjson.dumps(e.value, option=orjson.OPT_SORT_KEYS))
                  for e in executions)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), bodies)
def test_engine_any_arrival_within_lateness_gives_the_sorted_streams_executions(
    data: st.DataObject, items: list[dict[str, Any]]
) -> None:
    arrival = delivered(data.draw, items)
    reference = by_time(arrival)
    got = engine(arrival)
    assert identities(got) == identities(engine(reference))
    offline = run_offline(rule_specs(), [as_event(item) for item in reference])
    lines = [(line["rule"], orjson.dumps(line["group"]), line["at"], line["status"],
              orjson.dumps(line["value"], option=orjson.OPT_SORT_KEYS)) for line in offline]
    assert as_lines(got) == sorted(lines)


def test_engine_a_straggler_completes_an_earlier_window() -> None:
    """Not vacuous: three events of one group within 10 s, the first arriving last, fire the
    sliding count at the time of the third."""
    name = f"o-{uuid.uuid4().hex[:4]}"
    items = [{"id": f"x{i}", "type": "ev", "ts": ts, "g": name, "kind": "A", "status": "up", "ip": "ip1", "v": 0}
             for i, ts in enumerate([T0 + 5_000, T0 + 6_000, T0 + 2_000])]
    fires = [(e.rule_name, e.at_ms) for e in engine(items) if e.rule_name == "sliding-count"]
    assert fires == [("sliding-count", T0 + 6_000)]


class StampedClock(WatermarkClock):
    """A live clock that notes when each event time was first observed (read by the router)."""

    def __init__(self) -> None:
        super().__init__()
        self.read_at: dict[int, float] = {}

    def saw(self, ts_ms: int) -> None:  # called by the router for each new largest event time
        self.read_at.setdefault(ts_ms, time.monotonic())
        super().saw(ts_ms)


class StampedCollect(Collect):
    def __init__(self) -> None:
        super().__init__()
        self.at: list[float] = []

    def run_batch(self, executions: list[Execution]) -> list[dict]:
        self.at.extend(time.monotonic() for _ in executions)
        return super().run_batch(executions)


LIVE_LATENESS_MS = 300
LIVE_IDLE_MS = 100
"""On input that goes quiet, wall-clock time moves the watermark once the partition is idle (read
to its end and quiet for `idle_after`): the fire then waits lateness + idle_after at most. In a
flowing stream the watermark moves with the events' own times, and only the lateness counts."""


def test_live_a_stateful_fire_comes_within_the_lateness_plus_100_ms_of_the_completing_event() -> None:
    """RULES.md §4 with the wall clock: the completing event waits in its group's buffer until the
    watermark (advancing with idle wall-clock time) passes it — `allowed_lateness` — and the
    Bytewax step is woken for it then. Measured from when the router read the completing event to
    when the execution reached the action pipeline."""
    doc = {"name": "live", "match": {"type": "ev"}, "group_by": ["g"],
           "time": {"allowed_lateness": LIVE_LATENESS_MS, "idle_after": LIVE_IDLE_MS},
           "detect": {"kind": "threshold", "window": {"type": "sliding", "size": "10s"}, "aggregate": {"fn": "count"},
                      "having": {"op": "gte", "value": 3}},
           "action": {"type": "webhook", "endpoint": "https://hooks.example.com/x"}}
    rules = build_rule_set([StoredRule("r-live", "live", 1, True, doc)])
    clock, pipeline = StampedClock(), StampedCollect()
    clock.confirm(Settings().events_topics[0], 0, True)  # the test input is all there: caught up (idle means caught up)
    fake = SimpleNamespace(rules=SimpleNamespace(current=lambda: rules), clock=clock, pipeline=pipeline)
    conf = Settings(kafka_brokers="127.0.0.1:9")
    now = int(time.time() * 1000)
    stream = [now + 100, now + 200, now]  # the straggler (within the lateness) completes the window
    messages = [KafkaSourceMessage(key=None, value=json.dumps({"id": f"l{i}", "type": "ev", "g": "x", "ts": ts}).encode(),
                                   topic=conf.events_topics[0], partition=0, offset=i) for i, ts in enumerate(stream)]
    source = TestingSource([*messages, TestingSource.PAUSE(timedelta(milliseconds=LIVE_LATENESS_MS + LIVE_IDLE_MS + 700))])
    run_main(build_flow(conf, resources=lambda: fake, source=source))
    [fire] = pipeline.executions
    assert (fire.at_ms, fire.value) == (now + 200, 3)
    latency_ms = (pipeline.at[0] - clock.read_at[now + 200]) * 1000  # the event completing the match in time order
    print(f"\nstateful fire {latency_ms:.0f} ms after the completing event was read (lateness {LIVE_LATENESS_MS} ms)")
    assert latency_ms <= LIVE_LATENESS_MS + LIVE_IDLE_MS + 100
