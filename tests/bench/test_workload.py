"""The bench workload (BENCH.md): seeded events of the stated shape, rule sets of the stated mix,
and the selectivity of the stateless kinds checked with the engine's own rule index."""

from __future__ import annotations

import orjson
import pytest

from bench.workload import ACTION_FRACTION, HOSTS, SHARES, TYPES, USERS, events, kind_counts, rules
from dataflow.index import RuleIndex
from dataflow.runtime import CompiledRule, evaluate_stateless
from dataflow.types import Event
from rules.model import RuleSpec

START = 1_700_000_000_000


def test_events_are_seeded_and_of_the_stated_shape() -> None:
    first = list(events(20_000, START))
    assert first == list(events(20_000, START))
    assert first != list(events(20_000, START, seed=8))
    sizes = [len(orjson.dumps(e)) for e in first]
    assert 150 <= min(sizes) and max(sizes) <= 250
    assert {"cpu", "mem", "disk", "login", "logout", "order_created", "payment_failed", "heartbeat"} <= set(TYPES)
    assert len(TYPES) == 20 and len(HOSTS) == 1000 and len(USERS) == 10_000
    assert {e["type"] for e in first} == set(TYPES)
    assert all(0 <= e["value"] <= 100 for e in first)
    running_max = START
    for e in first:  # time increases, with at most 1 s of disorder
        assert e["ts"] > running_max - 1000 - 1
        running_max = max(running_max, e["ts"])
    assert running_max > START + 3000


@pytest.mark.parametrize("size", [10, 1000, 10_000])
def test_rule_sets_keep_the_mix_at_every_size(size: int) -> None:
    counts = kind_counts(size)
    assert sum(counts.values()) == size and min(counts.values()) >= 1
    if size >= 1000:
        assert counts == {kind: round(size * share) for kind, share in SHARES.items()}
    documents = rules(size, "http://127.0.0.1:9/fire")
    assert documents == rules(size, "http://127.0.0.1:9/fire")
    assert len({d["name"] for d in documents}) == size
    kinds = [d.get("detect", {}).get("kind", "each") for d in documents]
    assert kinds.count("threshold") == counts["threshold"]
    assert kinds.count("sequence") == counts["sequence"] and kinds.count("absence") == counts["absence"]
    for document in documents[:300]:
        RuleSpec.model_validate(document)


@pytest.mark.parametrize("size", [10, 1000])
def test_stateless_rules_fire_on_their_share_of_the_action_budget(size: int) -> None:
    """each + nested are 70% of the ~0.1% budget: measured with the real index and evaluation."""
    compiled = [CompiledRule.build(f"r{i}", 1, RuleSpec.model_validate(d))
                for i, d in enumerate(rules(size, "http://127.0.0.1:9/fire"))]
    index = RuleIndex([rule for rule in compiled if rule.stateless])
    count, fired = 100_000, 0
    for e in events(count, START, seed=21):
        event = Event(id=e["id"], ts_ms=e["ts"], topic="t", type=e["type"], body=e)
        fired += any(evaluate_stateless(rule, event) is not None for rule in index.candidates(event))
    expected = ACTION_FRACTION * (SHARES["each"] + SHARES["nested"])
    assert expected * 0.6 < fired / count < expected * 1.4
