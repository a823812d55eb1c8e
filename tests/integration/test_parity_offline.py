"""The engine through real Kafka and the offline runner agree on the same rules and events.

All the example rules that need no stored script API (every detection kind, cooldowns, a tumbling
`lt` rule firing on silent windows) read all the example events, in time order. The offline
runner fires pending timers only up to the largest event time of its input, while the live
watermark keeps moving with wall-clock time; so the input ends with a `tick` event (no rule reads
it) far after every deadline, and live executions later than the tick are not compared.
"""

from __future__ import annotations

import contextlib

import orjson
import pytest

from cepflow.receiver import Receiver
from dataflow.eventtime import parse_event_time
from tests.integration.detections import (
    EXAMPLES,
    AppliedRules,
    Execution,
    example_rule,
    logged_executions,
    offline_executions,
)
from tests.integration.harness import ROOT, wait_until

pytestmark = pytest.mark.integration

NEEDS_SCRIPT_API = {"chain-incident.yaml"}
TICK_AFTER_MS = 2 * 3_600_000  # beyond the longest deadline of the examples (a 1 h sequence)


def example_events(topic: str) -> list[dict]:
    """Every example event, in time order, then the tick; `topic` tells the offline runner their topic."""
    files = sorted((ROOT / "examples" / "events").glob("*.jsonl"))
    events = [{**orjson.loads(line), "topic": topic}
              for path in files for line in path.read_bytes().splitlines() if line.strip()]
    events.sort(key=lambda e: parse_event_time(e["ts"]))
    last = parse_event_time(events[-1]["ts"])
    return [*events, {"id": "tick", "type": "tick", "ts": last + TICK_AFTER_MS, "topic": topic}]


def test_engine_and_offline_runner_give_the_same_executions(stack, engine, sessions, unique):
    events = example_events(stack.events_topic)
    tick = events[-1]["ts"]
    with Receiver() as receiver:
        docs = [
            example_rule(path.name, name=f"{path.stem}-{unique}", url=receiver.url(f"/{path.stem}"),
                         topic=stack.events_topic)
            for path in sorted(EXAMPLES.glob("*.*"))
            if path.is_file() and path.name not in NEEDS_SCRIPT_API
        ]
        expected = offline_executions(docs, events)
        # Every rule fires (the comparison is about something), the silent-window rule many times.
        assert {name for name, *_ in expected} == {doc["name"] for doc in docs}
        assert {status for *_, status, _, _ in expected} == {"fired", "skipped"}

        with AppliedRules(sessions).apply(*docs) as rules:
            stack.produce(events, key=b"in-file-order")
            engine.start()

            def live() -> set[Execution]:
                return {e for e in logged_executions(rules.rows()) if e[4] <= tick}

            with contextlib.suppress(AssertionError):  # the comparison below says what differs
                wait_until(lambda: live() == expected, 60, f"the {len(expected)} offline executions")
            assert engine.alive(), engine.log()[-3000:]
            got = live()
            assert got == expected, {"live only": sorted(got - expected), "offline only": sorted(expected - got)}
