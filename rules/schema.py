"""JSON Schema of rule and script API documents, for `cepflow rules schema` and editors.

The schema is generated from the pydantic models, then amended where the models accept more
than their annotations say (a single `action`, the seed `logic` form, one string for a list,
lowercase methods) or check more in code (kind/type tags, operands per op). The models stay the
authority: the schema is a close approximation for editor completion and CI linting.
"""

from __future__ import annotations

import copy
from functools import cache
from typing import Any

from rules.model import DETECT_KINDS, RuleSpec, ScriptApiSpec

DIALECT = "https://json-schema.org/draft/2020-12/schema"

_CONDITION_MEMBERS = ["Leaf", "AllOf", "AnyOf", "NotOf"]
_CONDITION_REF = {"$ref": "#/$defs/Condition"}
_ACTION_KINDS = {"WebhookAction": False, "ApiScriptAction": True, "TriggerRuleAction": True}
_DETECT_DEFS = ["EachDetect", "ThresholdDetect", "SequenceDetect", "AbsenceDetect", "ChangeDetect", "NewValueDetect"]


def _one_or_list(item: dict[str, Any], min_items: int) -> dict[str, Any]:
    return {"anyOf": [item, {"type": "array", "items": item, "minItems": min_items}]}


def _is_condition_union(node: Any) -> bool:
    refs = node.get("oneOf") if isinstance(node, dict) else None
    return isinstance(refs, list) and [ref.get("$ref", "").rsplit("/", 1)[-1] for ref in refs] == _CONDITION_MEMBERS


def _use_condition_ref(node: Any) -> Any:
    """Replace every inline Leaf|AllOf|AnyOf|NotOf union by a reference to one `Condition` def."""
    if _is_condition_union(node):
        return dict(_CONDITION_REF)
    if isinstance(node, dict):
        return {key: _use_condition_ref(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_use_condition_ref(value) for value in node]
    return node


def _leaf_rules() -> list[dict[str, Any]]:
    """What `Leaf` checks in code: the operand each op needs."""

    def when(ops: list[str], then: dict[str, Any]) -> dict[str, Any]:
        return {"if": {"properties": {"op": {"enum": ops}}, "required": ["op"]}, "then": then}

    value_or_field = {"oneOf": [{"required": ["value"]}, {"required": ["value_field"]}]}
    return [
        when(["exists", "missing"], {"not": {"anyOf": [{"required": ["value"]}, {"required": ["value_field"]}]}}),
        when(["eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in", "contains", "startswith", "endswith"], value_or_field),
        when(["regex", "between"], {"required": ["value"], "not": {"required": ["value_field"]}}),
        when(["in", "not_in"], {"properties": {"value": {"type": "array"}}}),
        when(["gt", "gte", "lt", "lte"], {"properties": {"value": {"type": ["number", "string"]}}}),
        when(["startswith", "endswith", "regex"], {"properties": {"value": {"type": "string"}}}),
        when(
            ["between"],
            {"properties": {"value": {"type": "array", "minItems": 2, "maxItems": 2, "items": {"type": ["number", "string"]}}}},
        ),
    ]


def _amend_rule_schema(schema: dict[str, Any]) -> dict[str, Any]:
    schema = _use_condition_ref(schema)
    defs = schema["$defs"]
    defs["SeedCondition"] = {
        "description": "Seed compatibility: {logic: AND|OR, conditions: [...]} is all/any.",
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "logic": {"enum": ["AND", "OR", "and", "or"]},
            "conditions": {"type": "array", "minItems": 1, "items": dict(_CONDITION_REF)},
        },
        "required": ["logic", "conditions"],
    }
    defs["Condition"] = {"oneOf": [{"$ref": f"#/$defs/{name}"} for name in [*_CONDITION_MEMBERS, "SeedCondition"]]}
    defs["Leaf"]["allOf"] = _leaf_rules()
    defs["SequenceStep"]["properties"]["name"]["pattern"] = "^[A-Za-z_][A-Za-z0-9_]*$"
    for name in _DETECT_DEFS:
        defs[name]["required"] = sorted({*defs[name].get("required", []), "kind"})
    for name, type_required in _ACTION_KINDS.items():
        if type_required:
            defs[name]["required"] = sorted({*defs[name].get("required", []), "type"})
    methods = defs["WebhookAction"]["properties"]["method"]
    methods["enum"] = methods["enum"] + [method.lower() for method in methods["enum"]]
    text = {"type": "string", "minLength": 1}
    for key in ("topic", "type"):
        defs["MatchSpec"]["properties"][key] = {"anyOf": [*_one_or_list(text, 1)["anyOf"], {"type": "null"}]}
    properties = schema["properties"]
    properties["group_by"] = _one_or_list(text, 0)
    properties["action"] = copy.deepcopy(properties["actions"]["items"])
    schema["not"] = {"required": ["action", "actions"]}
    schema["properties"]["detect"]["description"] = f"kind: one of {', '.join(DETECT_KINDS)}; default each"
    return schema


def _with_header(schema: dict[str, Any], title: str) -> dict[str, Any]:
    return {"$schema": DIALECT, **schema, "title": title}


@cache
def _rule_schema() -> dict[str, Any]:
    schema = RuleSpec.model_json_schema(mode="validation", by_alias=True)
    return _with_header(_amend_rule_schema(schema), "cepflow rule")


def rule_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of one rule document."""
    return copy.deepcopy(_rule_schema())


def script_api_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of one script API document."""
    schema = ScriptApiSpec.model_json_schema(mode="validation", by_alias=True)
    return _with_header(schema, "cepflow script API")
