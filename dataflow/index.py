"""The rule index: which rules can read an event, found with dict lookups (RULES.md §2, `match`).

Two levels. First, a rule is filed under its event types, else its topics, else "any". Then,
inside that bucket, under the values its `where` requires of its equality fields
(`cheap_equalities`): a rule needing `host == web-1` and `type in [cpu, mem]` is filed under the
keys `(web-1, cpu)` and `(web-1, mem)` of the field tuple `(host, type)`. For an event the index
looks up its type, its topic and "any", and in each bucket computes one key per distinct field
tuple — a cost that depends on how many kinds of rules there are, not on how many rules. The few
candidates are then checked in full (`match` topic and type, every cheap equality). Chain events
go to their target alone, whatever its `match`; `chain_only` rules read nothing else.

`where` itself is not evaluated here: the index only rules out rules that cannot match.
"""

from __future__ import annotations

import itertools
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


MAX_KEYS_PER_RULE = 64
"""A rule whose equality fields allow more value combinations is filed under fewer fields."""


def _index_fields(equalities: dict[str, frozenset[Any]]) -> tuple[str, ...]:
    """The equality fields a rule is filed under: all of them, unless that makes too many keys."""
    fields = sorted(equalities, key=lambda f: (len(equalities[f]), f))
    keys = 1
    chosen: list[str] = []
    for field in fields:
        keys *= len(equalities[field])
        if keys > MAX_KEYS_PER_RULE:
            break
        chosen.append(field)
    return tuple(sorted(chosen))


class _Bucket:
    """Rules sharing a first-level key, filed by the values of their equality fields."""

    def __init__(self) -> None:
        self.scan: list[CompiledRule] = []
        self.tables: dict[tuple[str, ...], dict[tuple[Any, ...], list[CompiledRule]]] = {}
        self.lookups: list[tuple[tuple[Any, ...], dict[tuple[Any, ...], list[CompiledRule]]]] = []

    def add(self, rule: CompiledRule) -> None:
        fields = _index_fields(rule.index_equalities)
        if not fields:
            self.scan.append(rule)
            return
        table = self.tables.setdefault(fields, {})
        for values in itertools.product(*(sorted(rule.index_equalities[f], key=repr) for f in fields)):
            table.setdefault(values, []).append(rule)

    def freeze(self, getters: dict[str, Any]) -> None:
        self.lookups = [(tuple(getters[f] for f in fields), table) for fields, table in self.tables.items()]

    def collect(self, body: dict[str, Any], found: list[CompiledRule]) -> int:
        """Add this bucket's candidates to `found`; returns how many lists contributed."""
        sources = 0
        if self.scan:
            found.extend(self.scan)
            sources = 1
        for gets, table in self.lookups:
            key = tuple([get(body) for get in gets])
            try:
                hit = table.get(key)
            except TypeError:  # unhashable: lists and objects are never indexed values
                continue
            if hit:
                found.extend(hit)
                sources += 1
        return sources


class RuleIndex:
    """Immutable index of a set of active rules (built once per rule-set generation)."""

    def __init__(self, rules: Iterable[CompiledRule]) -> None:
        self.rules: list[CompiledRule] = list(rules)
        self.by_id: dict[str, CompiledRule] = {rule.id: rule for rule in self.rules}
        self._position = {rule.id: i for i, rule in enumerate(self.rules)}
        self._by_type: dict[str, _Bucket] = {}
        self._by_topic: dict[str, _Bucket] = {}
        self._any = _Bucket()
        self._getters: dict[str, Any] = {}
        self._verify: set[str] = set()  # rules whose bucket and key do not already prove `match`
        for rule in self.rules:
            for field in rule.index_equalities:
                self._getters.setdefault(field, path_getter(field))
            if rule.chain_only:
                continue
            if set(_index_fields(rule.index_equalities)) != set(rule.index_equalities):
                self._verify.add(rule.id)
            if rule.types is not None:
                if rule.topics is not None:
                    self._verify.add(rule.id)
                for kind in rule.types:
                    self._by_type.setdefault(kind, _Bucket()).add(rule)
            elif rule.topics is not None:
                for topic in rule.topics:
                    self._by_topic.setdefault(topic, _Bucket()).add(rule)
            else:
                self._any.add(rule)
        for bucket in (*self._by_type.values(), *self._by_topic.values(), self._any):
            bucket.freeze(self._getters)

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
        body = event.body
        sources = 0
        if event.type is not None and (bucket := self._by_type.get(event.type)) is not None:
            sources += bucket.collect(body, found)
        if (bucket := self._by_topic.get(event.topic)) is not None:
            sources += bucket.collect(body, found)
        sources += self._any.collect(body, found)
        if not found:
            return found
        if self._verify:
            verify, getters = self._verify, self._getters
            found = [r for r in found if r.id not in verify or (r.reads(event) and _can_hold(r, body, getters))]
        if sources > 1:  # each list is already in rule order; only a merge needs sorting
            found.sort(key=self._position_of)
        return found

    def _position_of(self, rule: CompiledRule) -> int:
        return self._position[rule.id]
