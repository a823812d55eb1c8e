from __future__ import annotations

from typing import Any

import pytest

from dataflow.index import RuleIndex
from dataflow.runtime import CompiledRule
from dataflow.types import ChainInfo

from .helpers import ev, rule


@pytest.fixture
def count_checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every full check of a rule against an event (`CompiledRule.reads`) is recorded."""
    seen: list[str] = []
    original = CompiledRule.reads

    def counting(self: CompiledRule, event: Any) -> bool:
        seen.append(self.id)
        return original(self, event)

    monkeypatch.setattr(CompiledRule, "reads", counting)
    return seen


def test_ten_thousand_rules_on_distinct_types_check_only_a_handful(count_checks: list[str]) -> None:
    rules = [rule(f"r{i}", name=f"r{i}", match={"type": f"t{i}"}) for i in range(10_000)]
    index = RuleIndex(rules)
    count_checks.clear()
    assert [r.id for r in index.candidates(ev(0, type="t1234"))] == ["r1234"]
    assert len(count_checks) <= 3
    count_checks.clear()
    assert index.candidates(ev(0, type="nope")) == []
    assert len(count_checks) == 0


def test_ten_thousand_rules_on_distinct_field_values_check_only_a_handful(count_checks: list[str]) -> None:
    rules = [rule(f"r{i}", name=f"r{i}", where={"all": [{"field": "svc", "op": "eq", "value": f"s{i}"},
                                                        {"field": "v", "op": "gt", "value": 1}]})
             for i in range(10_000)]
    index = RuleIndex(rules)
    count_checks.clear()
    assert [r.id for r in index.candidates(ev(0, {"svc": "s42", "v": 5}))] == ["r42"]
    assert [r.id for r in index.candidates(ev(0, {"svc": "s42", "v": 0}))] == []  # the bound prunes too
    assert len(count_checks) <= 3


@pytest.mark.parametrize(
    ("op", "bound", "values_matching", "values_not"),
    [("gt", 90, [90.5, 100], [90, 3, "95", True, None]), ("gte", 90, [90, 91], [89.9, "x"]),
     ("lt", 10, [9.9, -1], [10, 11, False]), ("lte", 10, [10, 0], [10.1])],
)
def test_numeric_bounds_are_indexed_exactly(op: str, bound: float, values_matching: list, values_not: list) -> None:
    rules = [rule(f"{op}{b}", where={"field": "v", "op": op, "value": b}) for b in (bound - 50, bound, bound + 50)]
    index = RuleIndex(rules)
    for value in values_matching:
        assert f"{op}{bound}" in [r.id for r in index.candidates(ev(0, {"v": value}))], value
    for value in values_not:
        assert f"{op}{bound}" not in [r.id for r in index.candidates(ev(0, {"v": value}))], value
    assert [r.id for r in index.candidates(ev(0, {"x": 1}))] == []


def test_ranged_candidates_keep_rule_order() -> None:
    rules = [rule("high", where={"field": "v", "op": "gt", "value": 50}), rule("any"),
             rule("low", where={"field": "v", "op": "gt", "value": 10})]
    assert [r.id for r in RuleIndex(rules).candidates(ev(0, {"v": 60}))] == ["high", "any", "low"]


def test_topic_and_type_selectors() -> None:
    by_topic = rule("topic", match={"topic": ["metrics", "logs"]})
    by_both = rule("both", match={"topic": "metrics", "type": "cpu"})
    by_types = rule("types", match={"type": ["cpu", "mem"]})
    everything = rule("all")
    index = RuleIndex([by_topic, by_both, by_types, everything])
    ids = lambda e: [r.id for r in index.candidates(e)]  # noqa: E731
    assert ids(ev(0, topic="metrics", type="cpu")) == ["topic", "both", "types", "all"]
    assert ids(ev(0, topic="logs", type="cpu")) == ["topic", "types", "all"]
    assert ids(ev(0, topic="other", type="mem")) == ["types", "all"]
    assert ids(ev(0, topic="other", type=None)) == ["all"]


def test_cheap_equalities_prune_rules_whose_where_cannot_hold() -> None:
    eq = rule("eq", where={"field": "host", "op": "eq", "value": "web-1"})
    within = rule("in", where={"all": [{"field": "dc", "op": "in", "value": ["a", "b"]},
                                       {"field": "host", "op": "startswith", "value": "web"}]})
    typed = rule("typed", match={"type": "cpu"}, where={"field": "host", "op": "eq", "value": "db-1"})
    index = RuleIndex([eq, within, typed])
    ids = lambda e: [r.id for r in index.candidates(e)]  # noqa: E731
    assert ids(ev(0, {"host": "web-1", "dc": "a"})) == ["eq", "in"]
    assert ids(ev(0, {"host": "web-2", "dc": "c"})) == []
    assert ids(ev(0, {"host": "db-1"}, type="cpu")) == ["typed"]
    assert ids(ev(0, {"host": "web-1"}, type="cpu")) == ["eq"]
    assert ids(ev(0, {"host": ["web-1"], "dc": {"x": 1}})) == []  # unhashable values: no crash


def test_for_rules_read_events_whatever_their_where() -> None:
    hot_for = rule("for", where={"field": "host", "op": "eq", "value": "web-1"}, detect={"kind": "each", "for": "1m"})
    index = RuleIndex([hot_for])
    assert [r.id for r in index.candidates(ev(0, {"host": "web-2"}))] == ["for"]


def test_chain_events_reach_their_target_only_whatever_its_match() -> None:
    target = rule("target", match={"type": "never"}, where={"field": "x", "op": "eq", "value": 1})
    other = rule("other")
    chain_only = rule("chain_only", match={"chain_only": True})
    index = RuleIndex([target, other, chain_only])
    chain = ChainInfo("c", 1, ("A",))
    assert [r.id for r in index.candidates(ev(0, {"x": 2}, chain=chain, target="target"))] == ["target"]
    assert [r.id for r in index.candidates(ev(0, chain=chain, target="chain_only"))] == ["chain_only"]
    assert index.candidates(ev(0, chain=chain, target="missing")) == []
    assert [r.id for r in index.candidates(ev(0))] == ["other"]  # chain_only reads no ordinary events
