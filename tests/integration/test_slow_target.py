"""A slow webhook target holds up only its own (rule, group) — on the real engine (docs/ACTIONS.md,
step 1). Both rules' executions are made to share one action-sink partition: a sink that ran its
partition's batches one after another would hold every `fast` webhook until `slow` answered.
"""

from __future__ import annotations

import time

import pytest

from actions.sink import PARTITIONS, ActionSink
from cepflow.receiver import Receiver
from dataflow.keys import lock_key
from tests.integration.detections import AppliedRules
from tests.integration.harness import EngineProcess, StackEnv, wait_until

pytestmark = pytest.mark.integration

SLOW_S = 6.0
FAST_BOUND_S = 2.0  # generous for a loaded machine, and well under SLOW_S


def sink_partition(rule_id: str, group: dict[str, str]) -> int:
    """The partition Bytewax gives an execution's key (the sink's `part_fn`, modulo the parts)."""
    sink = ActionSink(resources=lambda: None)  # nothing is built until a partition is
    return sink.part_fn(lock_key(rule_id, group)) % PARTITIONS


def test_a_slow_target_does_not_delay_another_rules_webhooks_in_the_same_sink_partition(
        stack: StackEnv, engine: EngineProcess, sessions, unique: str) -> None:
    slow, fast = f"slow-{unique}", f"fast-{unique}"
    with Receiver(delay_s=SLOW_S) as slow_target, Receiver() as fast_target:
        docs = [
            {"name": slow, "match": {"topic": stack.events_topic, "type": "slow"},
             "action": {"endpoint": slow_target.url("/slow"), "timeout": "20s", "body": {"n": "{{ event.n }}"}}},
            {"name": fast, "match": {"topic": stack.events_topic, "type": "fast"}, "group_by": ["host"],
             "action": {"endpoint": fast_target.url("/fast"), "body": {"n": "{{ event.n }}"}}},
        ]
        with AppliedRules(sessions).apply(*docs) as rules:
            shared = sink_partition(rules.ids[slow], {})
            host = next(f"h{i}" for i in range(1000) if sink_partition(rules.ids[fast], {"host": f"h{i}"}) == shared)

            def event(kind: str, n: int) -> dict[str, object]:
                return {"id": f"{kind}-{n}-{unique}", "type": kind, "host": host, "n": n,
                        "ts": int(time.time() * 1000)}

            engine.start()
            stack.produce([event("fast", 0)])
            wait_until(lambda: fast_target.requests, 60, "the engine's first webhook")

            stack.produce([event("slow", 1)])
            wait_until(lambda: slow_target.requests, 10, "the slow target's request")
            sent: dict[int, float] = {}
            for n in range(2, 7):
                sent[n] = time.monotonic()
                stack.produce([event("fast", n)])
                time.sleep(0.1)
            wait_until(lambda: len(fast_target.requests) >= 6, SLOW_S, "the fast webhooks, while slow's is held")
            assert len(slow_target.requests) == 1
            rows = rules.wait_rows(7, engine, timeout=SLOW_S + 20)

    arrived = {int(r.json["n"]): r.received_at for r in fast_target.requests}
    waited = {n: round(arrived[n] - at, 2) for n, at in sent.items()}
    assert all(w < FAST_BOUND_S for w in waited.values()), waited
    assert {row.rule_name: row.group_key for row in rows if row.rule_name == fast} == {fast: {"host": host}}
    assert sorted((row.rule_name, row.status) for row in rows) == sorted(
        [(slow, "success")] + [(fast, "success")] * 6)
