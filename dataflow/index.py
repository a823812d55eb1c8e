"""The rule index: which rules can read an event, found with dict lookups (RULES.md §2, `match`).

Two levels. First, a rule is filed under its event types, else its topics, else "any". Then,
inside that bucket, under the values its `where` requires of its equality fields
(`cheap_equalities`): a rule needing `host == web-1` and `type in [cpu, mem]` is filed under the
keys `(web-1, cpu)` and `(web-1, mem)` of the field tuple `(host, type)`; a rule that also needs a
numeric bound (`value > 90`) is kept in a table sorted by that bound, where one bisection finds
every rule the event's value satisfies. For an event the index
looks up its type, its topic and "any", and in each bucket computes one key per distinct field
tuple — a cost that depends on how many kinds of rules there are, not on how many rules. The few
candidates are then checked in full (`match` topic and type, every cheap equality). Chain events
go to their target alone, whatever its `match`; `chain_only` rules read nothing else.

`where` itself is not evaluated here: the index only rules out rules that cannot match.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Callable, Iterable
from operator import itemgetter
from typing import Any

from dataflow.conditions import MISSING, path_getter
from dataflow.runtime import CompiledRule
from dataflow.types import Event

NUMBER = (int, float)  # what a numeric comparison can hold for; bools are not numbers


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


class _Thresholds:
    """Rules needing `value OP bound` of one field, sorted by bound: a bisection finds them all."""

    def __init__(self, op: str) -> None:
        self.op = op
        self.entries: list[tuple[float, int, CompiledRule]] = []
        self.matching: Callable[[float], list[CompiledRule]] = lambda value: []
        """The rules whose bound `value` satisfies (one bisection, chosen by `op` at `freeze`)."""

    def add(self, bound: float, position: int, rule: CompiledRule) -> None:
        self.entries.append((bound, position, rule))

    def freeze(self) -> None:
        self.entries.sort(key=lambda entry: (entry[0], entry[1]))
        bounds = [bound for bound, _, _ in self.entries]
        rules = [rule for _, _, rule in self.entries]
        left, right = bisect.bisect_left, bisect.bisect_right
        self.matching = {
            "gt": lambda value: rules[: left(bounds, value)],
            "gte": lambda value: rules[: right(bounds, value)],
            "lt": lambda value: rules[right(bounds, value) :],
            "lte": lambda value: rules[left(bounds, value) :],
        }[self.op]


RangeKey = tuple[tuple[str, ...], str, str]
"""(equality fields, range field, op): one family of range tables in a bucket."""

KeyOf = Callable[[list[Any]], Any]
"""Builds a table key from the bucket's field values of one event."""


def _no_key(values: list[Any]) -> tuple[()]:
    return ()


def _key_of(fields: tuple[str, ...], slot: dict[str, int]) -> KeyOf:
    """A C-speed key builder: a lone field's value itself, several fields' values as a tuple."""
    return itemgetter(*(slot[f] for f in fields)) if fields else _no_key


def _keyed_for(fields: tuple[str, ...], table: dict[tuple[Any, ...], Any]) -> dict[Any, Any]:
    """`table` re-keyed the way `_key_of(fields)` builds keys (a lone field: not a 1-tuple)."""
    return {key[0]: value for key, value in table.items()} if len(fields) == 1 else table


class _Bucket:
    """Rules sharing a first-level key, filed by the values of their equality fields, and by
    the bound of one numeric comparison when they have one (`value > 90`: Esper's range index).
    """

    def __init__(self) -> None:
        self.scan: list[CompiledRule] = []
        self.tables: dict[tuple[str, ...], dict[tuple[Any, ...], list[CompiledRule]]] = {}
        self.ranges: dict[RangeKey, dict[tuple[Any, ...], _Thresholds]] = {}
        self.getters: list[Any] = []  # every field any lookup reads, each read once per event
        self.lookups: list[tuple[KeyOf, dict[Any, list[CompiledRule]]]] = []
        self.range_lookups: list[tuple[KeyOf, int, dict[Any, _Thresholds]]] = []

    def add(self, rule: CompiledRule, position: int) -> None:
        fields = _index_fields(rule.index_equalities)
        keys = itertools.product(*(sorted(rule.index_equalities[f], key=repr) for f in fields))
        if rule.index_ranges:
            field, op, bound = rule.index_ranges[0]
            family = self.ranges.setdefault((fields, field, op), {})
            for values in keys:
                family.setdefault(values, _Thresholds(op)).add(bound, position, rule)
        elif fields:
            table = self.tables.setdefault(fields, {})
            for values in keys:
                table.setdefault(values, []).append(rule)
        else:
            self.scan.append(rule)

    def freeze(self, getters: dict[str, Any]) -> None:
        fields = sorted({f for key in self.tables for f in key} | {f for key, field, _ in self.ranges
                                                                     for f in (*key, field)})
        slot = {field: i for i, field in enumerate(fields)}
        self.getters = [getters[f] for f in fields]
        self.lookups = [(_key_of(key, slot), _keyed_for(key, table)) for key, table in self.tables.items()]
        self.range_lookups = []
        for (key, field, _op), family in self.ranges.items():
            for thresholds in family.values():
                thresholds.freeze()
            self.range_lookups.append((_key_of(key, slot), slot[field], _keyed_for(key, family)))

    def collect(self, body: dict[str, Any], found: list[CompiledRule]) -> int:
        """Add this bucket's candidates to `found`; returns how many lists contributed (a range
        hit counts twice: it comes in bound order, so the caller must sort).
        """
        sources = 0
        if self.scan:
            found.extend(self.scan)
            sources = 1
        values = [get(body) for get in self.getters]
        for key_of, table in self.lookups:
            try:
                hit = table.get(key_of(values))
            except TypeError:  # unhashable: lists and objects are never indexed values
                continue
            if hit:
                found.extend(hit)
                sources += 1
        for key_of, value_at, family in self.range_lookups:
            value = values[value_at]
            if type(value) not in NUMBER:
                continue
            try:
                thresholds = family.get(key_of(values))
            except TypeError:
                continue
            if thresholds is not None and (hit := thresholds.matching(value)):
                found.extend(hit)
                sources += 2
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
            for field in (*rule.index_equalities, *(f for f, _, _ in rule.index_ranges[:1])):
                self._getters.setdefault(field, path_getter(field))
            if rule.chain_only:
                continue
            if set(_index_fields(rule.index_equalities)) != set(rule.index_equalities):
                self._verify.add(rule.id)
            if rule.types is not None:
                if rule.topics is not None:
                    self._verify.add(rule.id)
                for kind in rule.types:
                    self._by_type.setdefault(kind, _Bucket()).add(rule, self._position[rule.id])
            elif rule.topics is not None:
                for topic in rule.topics:
                    self._by_topic.setdefault(topic, _Bucket()).add(rule, self._position[rule.id])
            else:
                self._any.add(rule, self._position[rule.id])
        for bucket in (*self._by_type.values(), *self._by_topic.values(), self._any):
            bucket.freeze(self._getters)
        self._any_used = bool(self._any.scan or self._any.tables or self._any.ranges)

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
        if self._by_topic and (bucket := self._by_topic.get(event.topic)) is not None:
            sources += bucket.collect(body, found)
        if self._any_used:
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
