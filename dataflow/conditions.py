"""Compiled `where` conditions: fast predicates over event bodies, and `explain` for people.

A condition is compiled once per rule into nested closures, so evaluating it per event does no
dispatch on the spec. Semantics (RULES.md section 3, choices documented in docs/RULES_GUIDE.md):

- a missing field makes a leaf false, except `missing`; `exists` means present and not null;
- JSON types are kept apart: booleans are not numbers and `1` never equals `"1"`; int and float
  compare as numbers; ordering ops compare two numbers or two strings;
- a type mismatch is false, never an exception; `explain` says so in a `note`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from rules.model import AllOf, AnyOf, Condition, Leaf, NotOf
from rules.regex import compile_regex


class _Missing:
    """The value of a path that is not in the event (distinct from a JSON null)."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False

    def __reduce__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()

Predicate = Callable[[dict[str, Any]], bool]
Getter = Callable[[Any], Any]

_NUMBER = (int, float)


# --- field paths -----------------------------------------------------------------------------


def _segments(path: str) -> tuple[tuple[str, int | None], ...]:
    """Each segment with its list index when it is a non-negative integer (`items.0.sku`)."""
    return tuple((part, int(part) if part.isascii() and part.isdigit() else None) for part in path.split("."))


def _step(obj: Any, key: str, index: int | None) -> Any:
    if isinstance(obj, dict):
        return obj.get(key, MISSING)
    if index is not None and isinstance(obj, list) and index < len(obj):
        return obj[index]
    return MISSING


def path_getter(path: str) -> Getter:
    """A function reading `path` from an object, compiled once; `MISSING` when absent."""
    segments = _segments(path)
    if len(segments) == 1 and segments[0][1] is None:
        key = segments[0][0]
        return lambda obj: obj.get(key, MISSING) if type(obj) is dict else MISSING

    def get(obj: Any) -> Any:
        for key, index in segments:
            if type(obj) is dict:
                obj = obj.get(key, MISSING)
            else:
                obj = _step(obj, key, index)
            if obj is MISSING:
                return MISSING
        return obj

    return get


def get_path(obj: Any, path: str) -> Any:
    """The value at dotted `path` (integer segments index lists), or `MISSING`."""
    for key, index in _segments(path):
        obj = _step(obj, key, index)
        if obj is MISSING:
            return MISSING
    return obj


# --- JSON value semantics --------------------------------------------------------------------


def json_kind(value: Any) -> str:
    """The JSON type of a value: bool, number, string, null, list, object (or the Python type)."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, _NUMBER):
        return "number"
    if isinstance(value, str):
        return "string"
    if value is None:
        return "null"
    if isinstance(value, (list, tuple)):
        return "list"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def json_equal(a: Any, b: Any) -> bool:
    """Equality by JSON type: `1 == 1.0`, but `1 != "1"` and `1 != True`, recursively."""
    kind = json_kind(a)
    if kind != json_kind(b):
        return False
    if kind == "list":
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=False))
    if kind == "object":
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    return bool(a == b)


def _key(value: Any) -> tuple[str, Any] | None:
    """A hashable key equal exactly when `json_equal` is, for scalars; None for lists/objects."""
    kind = json_kind(value)
    return (kind, value) if kind in ("bool", "number", "string", "null") else None


class _Members:
    """A list of expected values, tested for membership by JSON equality in O(1) for scalars."""

    __slots__ = ("keys", "others")

    def __init__(self, values: list[Any]) -> None:
        self.keys = frozenset(k for k in map(_key, values) if k is not None)
        self.others = tuple(v for v in values if _key(v) is None)

    def __contains__(self, value: Any) -> bool:
        key = _key(value)
        if key is not None:
            return key in self.keys
        return any(json_equal(value, other) for other in self.others)


def _ordered(a: Any, b: Any) -> bool:
    """Whether `a` and `b` can be ordered: two numbers or two strings."""
    return (type(a) in _NUMBER and type(b) in _NUMBER) or (type(a) is str and type(b) is str)


# --- operators: binary forms (used with value_field and by explain) -----------------------------

BinaryTest = Callable[[Any, Any], bool]


def _contains(a: Any, e: Any) -> bool:
    if type(a) is str:
        return type(e) is str and e in a
    if type(a) is list:
        return any(json_equal(item, e) for item in a)
    return False


def _between(a: Any, e: Any) -> bool:
    lo, hi = e
    return _ordered(a, lo) and _ordered(a, hi) and lo <= a <= hi


BINARY: dict[str, BinaryTest] = {
    "eq": json_equal,
    "ne": lambda a, e: not json_equal(a, e),
    "gt": lambda a, e: _ordered(a, e) and a > e,
    "gte": lambda a, e: _ordered(a, e) and a >= e,
    "lt": lambda a, e: _ordered(a, e) and a < e,
    "lte": lambda a, e: _ordered(a, e) and a <= e,
    "in": lambda a, e: type(e) is list and any(json_equal(a, x) for x in e),
    "not_in": lambda a, e: type(e) is list and not any(json_equal(a, x) for x in e),
    "contains": _contains,
    "startswith": lambda a, e: type(a) is str and type(e) is str and a.startswith(e),
    "endswith": lambda a, e: type(a) is str and type(e) is str and a.endswith(e),
    "between": _between,
}


# --- operators: unary forms specialised on a literal value --------------------------------------

UnaryTest = Callable[[Any], bool]


def _eq_literal(e: Any) -> UnaryTest:
    if type(e) is str:
        return lambda a: type(a) is str and a == e
    if type(e) in _NUMBER:
        return lambda a: type(a) in _NUMBER and a == e
    if isinstance(e, bool) or e is None:
        return lambda a: a is e
    return lambda a: json_equal(a, e)


def _order_literal(op: str, e: Any) -> UnaryTest:
    kinds = _NUMBER if type(e) in _NUMBER else (str,)
    compare = {
        "gt": lambda a: a > e, "gte": lambda a: a >= e, "lt": lambda a: a < e, "lte": lambda a: a <= e,
    }[op]
    return lambda a: type(a) in kinds and compare(a)


def _in_literal(values: list[Any]) -> UnaryTest:
    """Membership with a plain set lookup for strings, the common case (hosts, types, codes)."""
    strings = frozenset(v for v in values if type(v) is str)
    members = _Members(values)
    return lambda a: a in strings if type(a) is str else a in members


def _regex_literal(pattern: str) -> UnaryTest:
    search = compile_regex(pattern).search
    return lambda a: type(a) is str and search(a) is not None


def _unary(op: str, e: Any) -> UnaryTest:
    if op == "eq":
        return _eq_literal(e)
    if op == "ne":
        equal = _eq_literal(e)
        return lambda a: not equal(a)
    if op in ("gt", "gte", "lt", "lte"):
        return _order_literal(op, e)
    if op == "in":
        return _in_literal(e)
    if op == "not_in":
        contained = _in_literal(e)
        return lambda a: not contained(a)
    if op == "regex":
        return _regex_literal(e)
    if op == "startswith":
        return lambda a: type(a) is str and a.startswith(e)
    if op == "endswith":
        return lambda a: type(a) is str and a.endswith(e)
    binary = BINARY[op]
    return lambda a: binary(a, e)


def _mismatch(op: str, a: Any, e: Any) -> str | None:
    """Why a present value cannot satisfy `op` by type (None when the types fit)."""
    actual, expected = json_kind(a), json_kind(e)
    if op in ("eq", "ne"):
        fits = actual == expected
    elif op in ("gt", "gte", "lt", "lte"):
        fits = _ordered(a, e)
    elif op in ("in", "not_in"):
        return None if isinstance(e, list) else f"type mismatch: {op} needs a list to look in, got {expected}"
    elif op == "contains":
        fits = actual == "list" or (actual == "string" and expected == "string")
    elif op == "between":
        fits = isinstance(e, list) and len(e) == 2 and _ordered(a, e[0])
    elif op in ("startswith", "endswith", "regex"):
        fits = actual == "string"
    else:
        return None
    return None if fits else f"type mismatch: {op} compares {actual} with {expected}"


# --- compilation -----------------------------------------------------------------------------


class _CompiledLeaf:
    """One leaf: its fast predicate, and what explain needs to re-run it step by step."""

    __slots__ = ("get", "get_expected", "leaf", "predicate")

    def __init__(self, leaf: Leaf) -> None:
        self.leaf = leaf
        self.get = path_getter(leaf.field)
        self.get_expected: Getter | None = path_getter(leaf.value_field) if leaf.value_field else None
        self.predicate = self._build()

    def _build(self) -> Predicate:
        get, op = self.get, self.leaf.op
        if op == "exists":
            return lambda body: (a := get(body)) is not MISSING and a is not None
        if op == "missing":
            return lambda body: (a := get(body)) is MISSING or a is None
        if self.get_expected is None:
            test = _unary(op, self.leaf.value)
            return lambda body: (a := get(body)) is not MISSING and test(a)
        get_expected, binary = self.get_expected, BINARY[op]
        return lambda body: (
            (a := get(body)) is not MISSING and (e := get_expected(body)) is not MISSING and binary(a, e)
        )

    def explain(self, body: dict[str, Any]) -> dict[str, Any]:
        leaf, actual = self.leaf, self.get(body)
        expected = self.get_expected(body) if self.get_expected else leaf.value
        entry: dict[str, Any] = {
            "field": leaf.field,
            "op": leaf.op,
            "expected": None if expected is MISSING else expected,
            "actual": None if actual is MISSING else actual,
            "result": self.predicate(body),
        }
        if leaf.value_field:
            entry["value_field"] = leaf.value_field
        note = self._note(actual, expected)
        if note:
            entry["note"] = note
        return entry

    def _note(self, actual: Any, expected: Any) -> str | None:
        op = self.leaf.op
        if op in ("exists", "missing"):
            return "field missing" if actual is MISSING else ("field is null" if actual is None else None)
        if actual is MISSING:
            return "field missing"
        if expected is MISSING:
            return f"value_field {self.leaf.value_field} missing"
        return _mismatch(op, actual, expected)


def _compile(condition: Condition, leaves: list[_CompiledLeaf]) -> Predicate:
    """The predicate of `condition`; appends its leaves, in order, to `leaves` for explain."""
    if isinstance(condition, Leaf):
        compiled = _CompiledLeaf(condition)
        leaves.append(compiled)
        return compiled.predicate
    if isinstance(condition, NotOf):
        inner = _compile(condition.not_, leaves)
        return lambda body: not inner(body)
    children = tuple(_compile(child, leaves) for child in (condition.all if isinstance(condition, AllOf) else condition.any))
    if len(children) == 1:
        return children[0]
    if isinstance(condition, AllOf):

        def all_of(body: dict[str, Any]) -> bool:
            for child in children:
                if not child(body):
                    return False
            return True

        return all_of

    def any_of(body: dict[str, Any]) -> bool:
        for child in children:
            if child(body):
                return True
        return False

    return any_of


def _always(body: dict[str, Any]) -> bool:
    return True


class CompiledCondition:
    """A compiled `where`: call it on an event body; `explain` shows every leaf's verdict."""

    __slots__ = ("_leaves", "_predicate", "condition")

    def __init__(self, condition: Condition | None) -> None:
        self.condition = condition
        self._leaves: list[_CompiledLeaf] = []
        self._predicate = _always if condition is None else _compile(condition, self._leaves)

    def __call__(self, body: dict[str, Any]) -> bool:
        return self._predicate(body)

    def __reduce__(self) -> tuple[Any, ...]:
        """Closures do not pickle; the spec does, and recompiling is cheap."""
        return (compile_condition, (self.condition,))

    def explain(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        """For every leaf, in order: field, op, expected, actual, result, and a note when relevant."""
        return [leaf.explain(body) for leaf in self._leaves]

    def cheap_equalities(self) -> dict[str, frozenset[Any]]:
        """Fields that must equal one of a few values for the condition to hold (for the rule index).

        Only `eq`/`in` leaves on literal scalars AND-ed at the top are used; when a field appears
        twice the sets are intersected. A value `v` of the field can only match when `v in set`;
        the set may admit more (e.g. `True` for `1`) but never excludes a possible match.
        """
        found: dict[str, frozenset[Any]] = {}
        for leaf in _top_level_leaves(self.condition):
            values = _literal_values(leaf)
            if values is not None:
                found[leaf.field] = found[leaf.field] & values if leaf.field in found else values
        return found

    def cheap_ranges(self) -> tuple[tuple[str, str, float], ...]:
        """Numeric bounds the condition needs, as `(field, op, number)` (for the rule index).

        Only `gt`/`gte`/`lt`/`lte` leaves on a literal number AND-ed at the top are used. Such a
        leaf is false for anything but a number (RULES.md §3), so an index may skip the rule
        whenever the event's value is not a number on the right side of the bound.
        """
        return _top_level_ranges(self.condition)


RANGE_OPS = ("gt", "gte", "lt", "lte")


def _top_level_ranges(condition: Condition | None) -> tuple[tuple[str, str, float], ...]:
    """Top-level AND-ed numeric comparisons with a literal: `(field, op, number)` each."""
    return tuple(
        (leaf.field, leaf.op, leaf.value)
        for leaf in _top_level_leaves(condition)
        if leaf.op in RANGE_OPS and leaf.value_field is None and type(leaf.value) in _NUMBER
    )


def _top_level_leaves(condition: Condition | None) -> list[Leaf]:
    if isinstance(condition, Leaf):
        return [condition]
    if isinstance(condition, AllOf):
        return [leaf for child in condition.all for leaf in _top_level_leaves(child)]
    if isinstance(condition, AnyOf) and len(condition.any) == 1:
        return _top_level_leaves(condition.any[0])
    return []


def _literal_values(leaf: Leaf) -> frozenset[Any] | None:
    if leaf.value_field is not None or leaf.op not in ("eq", "in"):
        return None
    values = [leaf.value] if leaf.op == "eq" else leaf.value
    if not all(_key(value) is not None for value in values):
        return None
    return frozenset(values)


def compile_condition(condition: Condition | None) -> CompiledCondition:
    """Compile once; `None` (no `where`) holds for every event."""
    return CompiledCondition(condition)
