"""The rule index: which rules can read an event, found with dict lookups (RULES.md §2, `match`).

Each rule is filed under one key, the most selective it has: its event types, else its topics,
else one field of its `where` that must equal one of a few values (`cheap_equalities`), else the
short list of rules scanned for every event. For an event the index looks up its type, its topic
and its value of each indexed field — a cost that depends on the number of distinct indexed
fields, not on the number of rules — and then checks only those candidates in full (`match`
topic and type, every cheap equality). Chain events go to their target alone, whatever its
`match`; `chain_only` rules read nothing else.

`where` itself is not evaluated here: the index only rules out rules that cannot match.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from dataflow.conditions import MISSING, path_getter
from dataflow.runtime import CompiledRule
from dataflow.types import Event


def _can_hold(rule: CompiledRule, body: dict[str, Any], getters: dict[str, Any]) -> bool:
    for field, values in rule.index_equalities.items():
        value = getters[field](body)
        if value is MISSING:
            return False
        try:
            if value not in values:
                return False
        except TypeError:  # a list or object never equals the scalar literals of cheap_equalities
            return False
    return True


class RuleIndex:
    """Immutable index of a set of active rules (built once per rule-set generation)."""

    def __init__(self, rules: Iterable[CompiledRule]) -> None:
        self.rules: list[CompiledRule] = list(rules)
        self.by_id: dict[str, CompiledRule] = {rule.id: rule for rule in self.rules}
        self._position = {rule.id: i for i, rule in enumerate(self.rules)}
        self._by_type: dict[str, list[CompiledRule]] = {}
        self._by_topic: dict[str, list[CompiledRule]] = {}
        self._by_field: dict[str, dict[Any, list[CompiledRule]]] = {}
        self._scan: list[CompiledRule] = []
        self._getters: dict[str, Any] = {}
        for rule in self.rules:
            for field in rule.index_equalities:
                self._getters.setdefault(field, path_getter(field))
            if rule.chain_only:
                continue
            if rule.types is not None:
                for kind in rule.types:
                    self._by_type.setdefault(kind, []).append(rule)
            elif rule.topics is not None:
                for topic in rule.topics:
                    self._by_topic.setdefault(topic, []).append(rule)
            elif rule.index_equalities:
                field = min(rule.index_equalities, key=lambda f: (len(rule.index_equalities[f]), f))
                table = self._by_field.setdefault(field, {})
                for value in rule.index_equalities[field]:
                    table.setdefault(value, []).append(rule)
            else:
                self._scan.append(rule)
        self._field_tables = [(self._getters[field], table) for field, table in self._by_field.items()]

    def __len__(self) -> int:
        return len(self.rules)

    def get(self, rule_id: str) -> CompiledRule | None:
        return self.by_id.get(rule_id)

    def candidates(self, event: Event) -> list[CompiledRule]:
        """The rules that read `event` and whose `where` can hold, in the order they were given."""
        if event.target_rule_id is not None:
            target = self.by_id.get(event.target_rule_id)
            return [target] if target is not None else []
        found: list[CompiledRule] = []
        if event.type is not None:
            found.extend(self._by_type.get(event.type, ()))
        found.extend(self._by_topic.get(event.topic, ()))
        body = event.body
        for get, table in self._field_tables:
            value = get(body)
            if value is MISSING:
                continue
            try:
                found.extend(table.get(value, ()))
            except TypeError:  # unhashable: lists and objects are never indexed values
                continue
        found.extend(self._scan)
        getters = self._getters
        result = [rule for rule in found if rule.reads(event) and _can_hold(rule, body, getters)]
        if len(result) > 1:
            result.sort(key=lambda rule: self._position[rule.id])
        return result
