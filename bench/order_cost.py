"""What event-time order costs the engine: the real flow (router, `GroupStep`, run by
`bytewax.testing.run_main`, no Kafka, no database) over the benchmark's events and rule mix, with
every rule on `time.order: event_time` and then on `arrival`; events/s of each.

    python -m bench.order_cost --events 200000 --rules 100 --repeat 2

Event time only (no wall clock), so a slow run drops nothing as late. The actions are counted,
not run; the counts differ a little between runs and orders because the input ends with events
still waiting for the watermark (no end-of-input flush in the engine). This isolates the
evaluation cost; figure 2 of the full benchmark measures it with Kafka.
"""

from __future__ import annotations

import argparse
import time
from types import SimpleNamespace
from typing import Any, cast

import orjson
from bytewax.connectors.kafka import KafkaSourceMessage
from bytewax.testing import TestingSource, run_main

from bench.workload import events, rules
from cepflow.flow import build_flow
from cepflow.resources import Resources
from cepflow.settings import Settings
from dataflow.rule_cache import StoredRule, build_rule_set
from dataflow.types import Execution
from dataflow.watermark import WatermarkClock

START_MS = 1_700_000_000_000


class Count:
    """Stands in for the action pipeline."""

    def __init__(self) -> None:
        self.executions = 0

    def warm(self) -> None:
        """No connections to open."""

    def run_batch(self, executions: list[Execution]) -> list[dict[str, Any]]:
        self.executions += len(executions)
        return []


def run(order: str, values: list[bytes], docs: list[dict[str, Any]]) -> tuple[float, int]:
    """(events per CPU second, executions) of one run with every rule on `order`. CPU time of the
    process (every thread), not wall time: the machine is shared, and the ratio is what matters.
    """
    stored = [StoredRule(f"r{i}", doc["name"], 1, True,
                         {**doc, "time": {**doc.get("time", {}), "order": order}}) for i, doc in enumerate(docs)]
    rule_set = build_rule_set(stored)
    pipeline = Count()
    fake = SimpleNamespace(rules=SimpleNamespace(current=lambda: rule_set), clock=WatermarkClock(now=None),
                           pipeline=pipeline)
    settings = Settings(kafka_brokers="127.0.0.1:9")
    topic = settings.events_topics[0]
    source = TestingSource([KafkaSourceMessage(key=None, value=v, topic=topic, partition=0, offset=i)
                            for i, v in enumerate(values)], batch_size=1000)
    flow = build_flow(settings, resources=lambda: cast(Resources, fake), source=source)  # what the flow reads of them
    started = time.process_time()
    run_main(flow)
    return len(values) / (time.process_time() - started), pipeline.executions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--rules", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    values = [orjson.dumps(event) for event in events(args.events, START_MS)]
    docs = rules(args.rules, "https://hooks.example.com/x")
    for attempt in range(args.repeat):
        for order in ("arrival", "event_time"):
            rate, fired = run(order, values, docs)
            print(f"run {attempt + 1} {order:10s} {rate:9,.0f} events per CPU s  {fired:,} executions", flush=True)


if __name__ == "__main__":
    main()
