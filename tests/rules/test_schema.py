"""The JSON Schema is valid draft 2020-12 and agrees with the models on typical documents."""

import jsonschema
import pytest

from rules.schema import rule_json_schema, script_api_json_schema

VALIDATOR = jsonschema.Draft202012Validator(rule_json_schema())


def test_schemas_are_valid_draft_2020_12():
    jsonschema.Draft202012Validator.check_schema(rule_json_schema())
    jsonschema.Draft202012Validator.check_schema(script_api_json_schema())
    assert rule_json_schema()["title"] == "cepflow rule"


def test_schema_is_a_fresh_copy():
    rule_json_schema()["properties"].clear()
    assert "name" in rule_json_schema()["properties"]


@pytest.mark.parametrize("doc", [
    {"name": "a"},
    {"name": "a", "action": {"endpoint": "https://h/x", "method": "post"}},
    {"name": "a", "actions": [{"type": "api_script", "api_id": "x"}, {"type": "trigger_rule", "rule_id": "b"}]},
    {"name": "a", "where": {"logic": "OR", "conditions": [{"field": "a", "op": "exists"}, {"not": {"field": "b", "op": "in", "value": [1]}}]}},
    {"name": "a", "group_by": "host", "match": {"topic": "metrics", "type": ["cpu"]}, "cooldown": 1000},
    {"name": "a", "detect": {"kind": "absence", "for": "30s"}},
    {"name": "a", "detect": {"kind": "sequence", "within": "5m", "steps": [{"name": "x"}, {"name": "y", "absent": True}]}},
])
def test_schema_accepts_valid_documents(doc):
    assert list(VALIDATOR.iter_errors(doc)) == []


@pytest.mark.parametrize("doc", [
    {},
    {"name": "a b"},
    {"name": "a", "colour": 1},
    {"name": "a", "action": {"endpoint": "https://h/x"}, "actions": []},
    {"name": "a", "action": {"api_id": "x"}},
    {"name": "a", "where": {"field": "a", "op": "exists", "value": 1}},
    {"name": "a", "where": {"field": "a", "op": "eq"}},
    {"name": "a", "where": {"field": "a", "op": "in", "value": 1}},
    {"name": "a", "where": {"field": "a", "op": "between", "value": [1]}},
    {"name": "a", "where": {"field": "a", "op": "regex", "value_field": "b"}},
    {"name": "a", "where": {"logic": "XOR", "conditions": []}},
    {"name": "a", "detect": {"for": "1m"}},
    {"name": "a", "detect": {"kind": "absence"}},
    {"name": "a", "cooldown": "10 minutes"},
    {"name": "a", "detect": {"kind": "sequence", "within": "5m", "steps": [{"name": "a-b"}, {"name": "y"}]}},
])
def test_schema_rejects_invalid_documents(doc):
    assert list(VALIDATOR.iter_errors(doc)) != []
