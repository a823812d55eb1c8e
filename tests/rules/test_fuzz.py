"""Property-based fuzzing: no document, however odd, makes validation raise anything unexpected."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from dataflow.conditions import compile_condition
from rules.errors import RuleFileError
from rules.loader import load_rule_files, parse_rule_document
from rules.model import RuleSpec

EXAMPLES = sorted((Path(__file__).parents[2] / "examples" / "rules").glob("*.*"))

VOCABULARY = [
    "name", "id", "description", "active", "owner", "match", "topic", "type", "chain_only", "where", "all",
    "any", "not", "logic", "conditions", "field", "op", "value", "value_field", "group_by", "detect", "kind",
    "window", "size", "aggregate", "fn", "having", "for", "steps", "within", "contiguity", "absent",
    "max_values", "cooldown", "time", "allowed_lateness", "action", "actions", "endpoint", "method",
    "headers", "params", "body", "timeout", "retry", "max_attempts", "backoff", "max_backoff", "api_id",
    "rule_id", "payload", "input",
]
WORDS = [
    "eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in", "contains", "startswith", "endswith", "regex",
    "exists", "missing", "between", "each", "threshold", "sequence", "absence", "change", "new_value",
    "sliding", "tumbling", "count", "sum", "avg", "min", "max", "distinct", "relaxed", "strict", "webhook",
    "api_script", "trigger_rule", "AND", "OR", "5m", "500ms", "0s", "1d", "https://h/x", "(a)\\1", "a.b.0",
    "", ".", "a..b", "POST", "get", "r1",
]

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(st.characters(codec=None), max_size=12)
    | st.sampled_from(WORDS)
)
keys = st.sampled_from(VOCABULARY) | st.text(max_size=6)
json_like = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=6),
    max_leaves=40,
)
documents = st.dictionaries(keys, json_like, max_size=10).map(lambda d: {"name": "fuzz", **d} if "name" not in d else d)


EXAMPLE_DOCUMENTS = [item.spec.to_document() for item in load_rule_files(EXAMPLES)]


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    found = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            found.extend(_paths(value, (*prefix, key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found.extend(_paths(value, (*prefix, index)))
    return found


@st.composite
def mutated_examples(draw: st.DrawFn) -> dict[str, Any]:
    """A valid example with one node replaced by arbitrary JSON: exercises deep validators."""
    doc = copy.deepcopy(draw(st.sampled_from(EXAMPLE_DOCUMENTS)))
    path = draw(st.sampled_from([p for p in _paths(doc) if p]))
    parent = doc
    for segment in path[:-1]:
        parent = parent[segment]
    parent[path[-1]] = draw(json_like)
    return doc


def _check(doc: dict[str, Any]) -> None:
    try:
        spec = RuleSpec.model_validate(doc)
    except ValidationError:
        pass
    else:
        stored = spec.to_document()
        assert RuleSpec.model_validate(json.loads(json.dumps(stored))) == spec
        condition = compile_condition(spec.where)
        for body in ({}, {"a": 1, "value": "x"}, doc):
            assert condition(body) in (True, False)
            condition.explain(body)
    try:
        parse_rule_document(doc, "fuzz")
    except RuleFileError as exc:
        assert str(exc)
        assert all(p.message for p in exc.problems)


FUZZ = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(documents)
def test_arbitrary_documents_only_raise_validation_errors(doc):
    _check(doc)


@FUZZ
@given(mutated_examples())
def test_mutated_examples_only_raise_validation_errors(doc):
    _check(doc)


@FUZZ
@given(json_like)
def test_anything_as_a_document(value):
    try:
        parse_rule_document(value, "fuzz")
    except RuleFileError as exc:
        assert str(exc)
