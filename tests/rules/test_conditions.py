"""Condition semantics per operator, missing fields, type mismatches, explain and the index hints."""

from __future__ import annotations

import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dataflow.conditions import MISSING, compile_condition, get_path, json_equal
from rules.model import RuleSpec


def cond(where):
    return compile_condition(RuleSpec.model_validate({"name": "t", "where": where}).where)


def leaf(op, value=None, field="x", **extra):
    node = {"field": field, "op": op, **extra}
    if op not in ("exists", "missing") and "value_field" not in extra:
        node["value"] = value
    return node


BODY = {"x": 1, "s": "web-12", "l": [1, "a", {"k": 1}], "n": None, "nested": {"items": [{"sku": "A1"}, {"sku": "B2"}]}}


@pytest.mark.parametrize(
    ("path", "expected"),
    [("x", 1), ("nested.items.0.sku", "A1"), ("nested.items.1.sku", "B2"), ("nested.items.2.sku", MISSING),
     ("nested.items.-1", MISSING), ("nested.items.x", MISSING), ("l.2.k", 1), ("n", None), ("n.a", MISSING),
     ("s.0", MISSING), ("absent", MISSING), ("x.y", MISSING)],
)
def test_get_path(path, expected):
    assert get_path(BODY, path) is expected or get_path(BODY, path) == expected


def test_get_path_digit_keys_of_objects():
    assert get_path({"a": {"0": "zero"}}, "a.0") == "zero"


def test_missing_sentinel():
    assert not MISSING and repr(MISSING) == "MISSING" and pickle.loads(pickle.dumps(MISSING)) is MISSING


# (op, value, actual, expected result); actual MISSING means the field is absent.
TABLE = [
    ("eq", 1, 1, True), ("eq", 1, 1.0, True), ("eq", 1, "1", False), ("eq", 1, True, False), ("eq", True, 1, False),
    ("eq", True, True, True), ("eq", False, 0, False), ("eq", None, None, True), ("eq", None, 0, False),
    ("eq", "a", "a", True), ("eq", [1, 2], [1, 2], True), ("eq", [1], [True], False), ("eq", {"a": 1}, {"a": 1.0}, True),
    ("eq", 1, MISSING, False),
    ("ne", 1, 2, True), ("ne", 1, 1, False), ("ne", 1, "1", True), ("ne", 1, MISSING, False),
    ("gt", 90, 91, True), ("gt", 90, 90, False), ("gt", 90, 90.5, True), ("gt", 90, "95", False), ("gt", 0, True, False),
    ("gt", "2024-01-01", "2024-02-01", True), ("gt", "b", 5, False), ("gt", 90, None, False), ("gt", 90, [100], False),
    ("gt", 90, MISSING, False),
    ("gte", 3, 3, True), ("gte", 3, 2.99, False), ("lt", 3, 2, True), ("lt", 3, 3, False), ("lte", 3, 3.0, True),
    ("lte", 3, "1", False),
    ("in", [1, "a"], 1, True), ("in", [1, "a"], 1.0, True), ("in", [1, "a"], "1", False), ("in", [1], True, False),
    ("in", [True], 1, False), ("in", [None], None, True), ("in", [[1, 2]], [1, 2], True), ("in", [], 1, False),
    ("in", ["a"], MISSING, False),
    ("not_in", ["a", "b"], "c", True), ("not_in", ["a", "b"], "a", False), ("not_in", [1], "1", True),
    ("not_in", ["a"], MISSING, False),
    ("contains", "err", "an error here", True), ("contains", "err", "fine", False), ("contains", "a", ["a", "b"], True),
    ("contains", 1, [1.0, 2], True), ("contains", 1, ["1"], False), ("contains", 1, "1", False),
    ("contains", "1", 1, False), ("contains", "a", {"a": 1}, False), ("contains", "a", MISSING, False),
    ("startswith", "web-", "web-1", True), ("startswith", "web-", "db-1", False), ("startswith", "1", 12, False),
    ("endswith", ".com", "a.com", True), ("endswith", ".com", ["a.com"], False),
    ("regex", "^web-[0-9]+$", "web-12", True), ("regex", "web", "my-web-1", True), ("regex", "^web$", "web-1", False),
    ("regex", "(?i)ERROR", "an error", True), ("regex", "1", 1, False), ("regex", "x", MISSING, False),
    ("exists", None, 0, True), ("exists", None, False, True), ("exists", None, None, False), ("exists", None, MISSING, False),
    ("missing", None, MISSING, True), ("missing", None, None, True), ("missing", None, "", False),
    ("between", [1, 3], 1, True), ("between", [1, 3], 3, True), ("between", [1, 3], 2.5, True), ("between", [1, 3], 4, False),
    ("between", [1, 3], "2", False), ("between", [1, 3], True, False), ("between", ["a", "c"], "b", True),
    ("between", ["a", "c"], 2, False), ("between", [1, 3], MISSING, False),
]


@pytest.mark.parametrize(("op", "value", "actual", "expected"), TABLE, ids=[f"{r[0]}-{r[1]!r}-{r[2]!r}" for r in TABLE])
def test_operator_semantics(op, value, actual, expected):
    body = {} if actual is MISSING else {"x": actual}
    compiled = cond(leaf(op, value))
    assert compiled(body) is expected
    [entry] = compiled.explain(body)
    assert entry["result"] is expected


@pytest.mark.parametrize(("op", "value", "actual", "expected"), [r for r in TABLE if r[0] not in ("regex", "between", "exists", "missing")])
def test_value_field_matches_literal_semantics(op, value, actual, expected):
    body = {"other": value} if actual is MISSING else {"x": actual, "other": value}
    assert cond({"field": "x", "op": op, "value_field": "other"})(body) is expected


def test_value_field_missing_is_false():
    compiled = cond({"field": "x", "op": "eq", "value_field": "y"})
    assert compiled({"x": 1}) is False
    assert compiled({"x": 1, "y": 1}) is True
    assert cond({"field": "x", "op": "ne", "value_field": "y"})({"x": 1}) is False
    assert cond({"field": "x", "op": "in", "value_field": "y"})({"x": 1, "y": "1"}) is False


def test_composites():
    a, b = leaf("eq", 1, "a"), leaf("eq", 1, "b")
    assert cond({"all": [a, b]})({"a": 1, "b": 1}) is True
    assert cond({"all": [a, b]})({"a": 1, "b": 2}) is False
    assert cond({"any": [a, b]})({"a": 2, "b": 1}) is True
    assert cond({"any": [a, b]})({}) is False
    assert cond({"not": a})({}) is True
    assert cond({"not": {"any": [a, {"all": [b, {"not": a}]}]}})({"b": 1}) is False
    assert cond({"logic": "OR", "conditions": [a, b]})({"b": 1}) is True
    assert compile_condition(None)({}) is True
    assert compile_condition(None).explain({}) == []


def test_explain_reports_every_leaf_with_notes():
    compiled = cond({"all": [
        leaf("gt", 90, "cpu"), leaf("eq", "web", "role"), leaf("contains", "x", "count"),
        {"not": leaf("regex", "^db", "host")}, {"field": "a", "op": "lt", "value_field": "limit"}, leaf("exists", field="n"),
    ]})
    body = {"cpu": "95", "count": 3, "host": "web-1", "a": 1, "n": None}
    entries = compiled.explain(body)
    assert compiled(body) is False
    assert [e["field"] for e in entries] == ["cpu", "role", "count", "host", "a", "n"]
    assert entries[0] == {"field": "cpu", "op": "gt", "expected": 90, "actual": "95", "result": False,
                          "note": "type mismatch: gt compares string with number"}
    assert entries[1] == {"field": "role", "op": "eq", "expected": "web", "actual": None, "result": False, "note": "field missing"}
    assert entries[2]["note"] == "type mismatch: contains compares number with string"
    assert entries[3] == {"field": "host", "op": "regex", "expected": "^db", "actual": "web-1", "result": False}
    assert entries[4]["note"] == "value_field limit missing" and entries[4]["value_field"] == "limit"
    assert entries[5] == {"field": "n", "op": "exists", "expected": None, "actual": None, "result": False, "note": "field is null"}


def test_explain_without_mismatch_has_no_note():
    [entry] = cond(leaf("gt", 90, "cpu")).explain({"cpu": 91})
    assert entry == {"field": "cpu", "op": "gt", "expected": 90, "actual": 91, "result": True}
    [entry] = cond(leaf("eq", 1)).explain({"x": "1"})
    assert entry["note"] == "type mismatch: eq compares string with number"


def test_cheap_equalities():
    compiled = cond({"all": [
        leaf("eq", "cpu", "type"), leaf("in", ["web-1", "web-2"], "host"), leaf("in", ["web-2", "web-3"], "host"),
        leaf("gt", 3, "v"), {"any": [leaf("eq", 1, "a"), leaf("eq", 2, "b")]}, {"not": leaf("eq", 1, "c")},
        leaf("eq", [1], "list"), {"field": "d", "op": "eq", "value_field": "e"}, {"all": [leaf("eq", 5, "deep")]},
    ]})
    assert compiled.cheap_equalities() == {"type": frozenset({"cpu"}), "host": frozenset({"web-2"}), "deep": frozenset({5})}
    assert cond(leaf("eq", "x")).cheap_equalities() == {"x": frozenset({"x"})}
    assert cond({"any": [leaf("eq", 1), leaf("eq", 2)]}).cheap_equalities() == {}
    assert compile_condition(None).cheap_equalities() == {}


def test_compiled_condition_pickles_by_spec():
    compiled = cond({"all": [leaf("regex", "^web"), leaf("in", [1, 2], "y")]})
    again = pickle.loads(pickle.dumps(compiled))
    assert again({"x": "web-1", "y": 2}) is True and again({"x": "db"}) is False


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.sampled_from(["x", "y", "0"]), children, max_size=3),
    max_leaves=10,
)
OPS = ["eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in", "contains", "startswith", "endswith", "regex", "exists", "missing", "between"]
VALUES = {"in": [1, "a", None], "not_in": [1, "a"], "between": [1, 5], "regex": "^a", "startswith": "a", "endswith": "a",
          "gt": 1, "gte": "a", "lt": 2.5, "lte": 0, "contains": "a", "eq": 1, "ne": "a"}


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(OPS), st.dictionaries(st.sampled_from(["x", "y"]), json_values, max_size=2))
def test_no_event_body_raises(op, body):
    compiled = cond(leaf(op, VALUES.get(op)))
    result = compiled(body)
    assert result in (True, False)
    [entry] = compiled.explain(body)
    assert entry["result"] is result


@settings(max_examples=200, deadline=None)
@given(json_values, json_values)
def test_json_equal_is_symmetric(a, b):
    assert json_equal(a, b) == json_equal(b, a)
