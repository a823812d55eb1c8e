"""Every operator, composite form, detect kind/parameter and action type is accepted when valid."""

from uuid import UUID

import pytest

from rules.model import (
    AbsenceDetect,
    AllOf,
    AnyOf,
    ApiScriptAction,
    ChangeDetect,
    EachDetect,
    Leaf,
    NewValueDetect,
    NotOf,
    RuleSpec,
    ScriptApiSpec,
    SequenceDetect,
    ThresholdDetect,
    TriggerRuleAction,
    WebhookAction,
)

from .helpers import parse, rule

VALID_LEAVES = [
    {"field": "a", "op": "eq", "value": 1},
    {"field": "a", "op": "eq", "value": None},
    {"field": "a", "op": "eq", "value": {"x": [1]}},
    {"field": "a", "op": "ne", "value": "x"},
    {"field": "a", "op": "gt", "value": 1.5},
    {"field": "a", "op": "gte", "value": 0},
    {"field": "a", "op": "lt", "value": "2024-01-01"},
    {"field": "a", "op": "lte", "value": -3},
    {"field": "a", "op": "in", "value": [1, "1", None]},
    {"field": "a", "op": "in", "value": []},
    {"field": "a", "op": "not_in", "value": ["x"]},
    {"field": "a", "op": "contains", "value": "err"},
    {"field": "a", "op": "contains", "value": 3},
    {"field": "a", "op": "startswith", "value": "web-"},
    {"field": "a", "op": "endswith", "value": ".com"},
    {"field": "a", "op": "regex", "value": "^web-[0-9]+$"},
    {"field": "a", "op": "regex", "value": "(?i)error"},
    {"field": "a", "op": "exists"},
    {"field": "a", "op": "missing"},
    {"field": "a", "op": "between", "value": [1, 2]},
    {"field": "a", "op": "between", "value": [2, 2.0]},
    {"field": "a", "op": "between", "value": ["a", "m"]},
    {"field": "a.b.0.c", "op": "eq", "value_field": "x.y"},
    {"field": "a", "op": "gt", "value_field": "limit"},
    {"field": "a", "op": "in", "value_field": "allowed"},
    {"field": "a", "op": "contains", "value_field": "needle"},
]


@pytest.mark.parametrize("leaf", VALID_LEAVES, ids=lambda leaf: f"{leaf['op']}-{leaf.get('value', leaf.get('value_field'))}")
def test_every_operator_is_accepted(leaf):
    spec = parse(rule(where=leaf))
    assert isinstance(spec.where, Leaf)
    assert spec.where.op == leaf["op"]


def test_composite_forms():
    leaf = {"field": "a", "op": "exists"}
    assert isinstance(parse(rule(where={"all": [leaf]})).where, AllOf)
    assert isinstance(parse(rule(where={"any": [leaf, leaf]})).where, AnyOf)
    not_of = parse(rule(where={"not": leaf})).where
    assert isinstance(not_of, NotOf) and isinstance(not_of.not_, Leaf)
    nested = parse(rule(where={"all": [{"any": [{"not": {"all": [leaf]}}, leaf]}, leaf]})).where
    assert isinstance(nested.all[0].any[0].not_.all[0], Leaf)


@pytest.mark.parametrize(("logic", "model"), [("AND", AllOf), ("OR", AnyOf), ("and", AllOf), ("or", AnyOf)])
def test_seed_logic_form(logic, model):
    spec = parse(rule(where={"logic": logic, "conditions": [{"field": "a", "op": "exists"}, {
        "logic": "OR", "conditions": [{"field": "b", "op": "eq", "value": 1}]}]}))
    assert isinstance(spec.where, model)
    children = spec.where.all if model is AllOf else spec.where.any
    assert isinstance(children[1], AnyOf)


def test_defaults():
    spec = parse({"name": "minimal"})
    assert spec.active is True and spec.description == "" and spec.owner is None and spec.id is None
    assert spec.match.topic is None and spec.match.type is None and spec.match.chain_only is False
    assert spec.where is None and spec.group_by == [] and spec.cooldown is None
    assert spec.detect == EachDetect() and spec.time.allowed_lateness == 5000 and spec.actions == []


@pytest.mark.parametrize("name", ["a", "web-cpu-hot", "team.rule:v2_1", "A" * 200])
def test_names(name):
    assert parse({"name": name}).name == name


def test_match_value_or_list():
    spec = parse(rule(match={"topic": "metrics", "type": ["cpu", "mem"]}))
    assert spec.match.topic == ["metrics"] and spec.match.type == ["cpu", "mem"]
    assert parse(rule(match={"chain_only": True})).match.chain_only is True


def test_group_by_string_is_one_field():
    assert parse(rule(group_by="host")).group_by == ["host"]
    assert parse(rule(group_by=["host", "labels.region"])).group_by == ["host", "labels.region"]


def test_id_cooldown_time():
    spec = parse(rule(id="0b7c6f1e-3a55-4c8e-9d7e-0d1a2b3c4d5e", cooldown="10m", time={"allowed_lateness": "2s"}))
    assert spec.id == UUID("0b7c6f1e-3a55-4c8e-9d7e-0d1a2b3c4d5e")
    assert spec.cooldown == 600_000 and spec.time.allowed_lateness == 2000
    assert parse(rule(cooldown=0)).cooldown == 0


THRESHOLD = {"kind": "threshold", "window": {"type": "sliding", "size": "5m"}, "aggregate": {"fn": "count"},
             "having": {"op": "gte", "value": 3}}


@pytest.mark.parametrize(
    ("detect", "model"),
    [
        ({"kind": "each"}, EachDetect),
        ({"kind": "each", "for": "2m"}, EachDetect),
        (THRESHOLD, ThresholdDetect),
        ({**THRESHOLD, "for": "1m"}, ThresholdDetect),
        ({**THRESHOLD, "window": {"type": "tumbling", "size": "1m"}, "having": {"op": "lt", "value": 10}}, ThresholdDetect),
        ({**THRESHOLD, "window": {"type": "tumbling", "size": 60000}, "having": {"op": "lte", "value": 0}}, ThresholdDetect),
        ({**THRESHOLD, "aggregate": {"fn": "sum", "field": "bytes"}, "having": {"op": "gt", "value": 1e9}}, ThresholdDetect),
        ({**THRESHOLD, "aggregate": {"fn": "avg", "field": "latency"}, "having": {"op": "lt", "value": 5}}, ThresholdDetect),
        ({**THRESHOLD, "aggregate": {"fn": "min", "field": "v"}, "having": {"op": "eq", "value": 0}}, ThresholdDetect),
        ({**THRESHOLD, "aggregate": {"fn": "max", "field": "v"}, "having": {"op": "ne", "value": 0}}, ThresholdDetect),
        ({**THRESHOLD, "aggregate": {"fn": "distinct", "field": "ip"}, "having": {"op": "gt", "value": 10}}, ThresholdDetect),
        ({"kind": "sequence", "within": "10m", "steps": [{"name": "a"}, {"name": "b"}]}, SequenceDetect),
        ({"kind": "sequence", "within": "1h", "contiguity": "strict", "steps": [
            {"name": "created", "where": {"field": "type", "op": "eq", "value": "order"}},
            {"name": "paid", "where": {"field": "type", "op": "eq", "value": "payment"}},
            {"name": "shipped", "where": {"field": "type", "op": "eq", "value": "ship"}, "absent": True}]}, SequenceDetect),
        ({"kind": "absence", "for": "30s"}, AbsenceDetect),
        ({"kind": "change", "field": "version"}, ChangeDetect),
        ({"kind": "new_value", "field": "geo.country"}, NewValueDetect),
        ({"kind": "new_value", "field": "geo.country", "max_values": 1}, NewValueDetect),
    ],
)
def test_every_detect_kind_is_accepted(detect, model):
    spec = parse(rule(detect=detect))
    assert isinstance(spec.detect, model)


def test_detect_parameters_are_milliseconds():
    spec = parse(rule(detect={**THRESHOLD, "for": "1m"}))
    assert spec.detect.window.size == 300_000 and spec.detect.for_ == 60_000
    assert spec.detect.having.value == 3.0
    assert parse(rule(detect={"kind": "absence", "for": "30s"})).detect.for_ == 30_000
    assert parse(rule(detect={"kind": "new_value", "field": "x"})).detect.max_values == 10000
    seq = parse(rule(detect={"kind": "sequence", "within": "10m", "steps": [{"name": "a"}, {"name": "b"}]})).detect
    assert seq.within == 600_000 and seq.contiguity == "relaxed" and seq.steps[0].where is None


@pytest.mark.parametrize(
    ("action", "model"),
    [
        ({"type": "webhook", "endpoint": "https://hooks.example.com/x"}, WebhookAction),
        ({"endpoint": "http://hooks.example.com/x"}, WebhookAction),
        ({"endpoint": "{{ event.callback }}", "method": "put"}, WebhookAction),
        ({"type": "webhook", "endpoint": "https://h/x", "method": "GET", "headers": {"X-A": "1"},
          "params": {"q": "{{ event.host }}"}, "body": [1, 2], "timeout": "2s",
          "retry": {"max_attempts": 1, "backoff": "100ms", "max_backoff": "1s"}}, WebhookAction),
        ({"type": "api_script", "api_id": "open-incident"}, ApiScriptAction),
        ({"type": "api_script", "api_id": "0b7c6f1e-3a55-4c8e-9d7e-0d1a2b3c4d5e", "params": {"p": 1},
          "input": {"host": "{{ event.host }}"}}, ApiScriptAction),
        ({"type": "trigger_rule", "rule_id": "other-rule"}, TriggerRuleAction),
        ({"type": "trigger_rule", "rule_id": "other-rule", "payload": {"x": "{{ event.x }}"}}, TriggerRuleAction),
    ],
)
def test_every_action_type_is_accepted(action, model):
    single = parse(rule(action=action))
    several = parse(rule(actions=[action, action]))
    assert isinstance(single.actions[0], model) and len(single.actions) == 1
    assert len(several.actions) == 2


def test_webhook_defaults():
    action = parse(rule(action={"endpoint": "https://h/x", "method": "patch"})).actions[0]
    assert action.method == "PATCH" and action.headers == {} and action.params == {} and action.body is None
    assert action.timeout == 5000 and action.retry.max_attempts == 5
    assert action.retry.backoff == 1000 and action.retry.max_backoff == 60000


def test_script_api_spec():
    spec = ScriptApiSpec.model_validate({"name": "open-incident", "source": "def main(params, input, context):\n    return 1\n"})
    assert spec.type == "script" and spec.language == "python" and spec.timeout == 5000 and spec.memory_mb == 256
    assert spec.network is False
    bounds = ScriptApiSpec.model_validate({"name": "x", "source": "def main(p, i, c): pass", "timeout": "60s",
                                          "memory_mb": 2048, "network": True})
    assert (bounds.timeout, bounds.memory_mb, bounds.network) == (60_000, 2048, True)
    other = ScriptApiSpec.model_validate({"name": "x", "type": "http", "source": "not python at all"})
    assert other.type == "http"
    assert ScriptApiSpec.model_validate(spec.to_document()) == spec


def test_python_construction_by_field_name():
    spec = RuleSpec(name="py", where=NotOf(not_=Leaf(field="a", op="exists")), detect=AbsenceDetect(for_="30s"),
                    actions=[WebhookAction(endpoint="https://h/x")])
    assert spec.detect.for_ == 30_000
    assert spec.to_document()["where"] == {"not": {"field": "a", "op": "exists"}}


def test_to_document_round_trips():
    doc = rule(
        id="0b7c6f1e-3a55-4c8e-9d7e-0d1a2b3c4d5e", match={"type": "cpu"}, group_by=["host"], cooldown="10m",
        where={"all": [{"field": "a", "op": "exists"}, {"not": {"field": "b", "op": "eq", "value": None}},
                       {"field": "c", "op": "gt", "value_field": "d"}]},
        detect={**THRESHOLD, "for": "1m"},
        actions=[{"endpoint": "https://h/x"}, {"type": "api_script", "api_id": "x"},
                 {"type": "trigger_rule", "rule_id": "y"}],
    )
    spec = parse(doc)
    stored = spec.to_document()
    assert stored["detect"]["window"]["size"] == 300_000 and stored["detect"]["for"] == 60_000
    assert stored["where"]["all"][1] == {"not": {"field": "b", "op": "eq", "value": None}}
    assert stored["where"]["all"][0] == {"field": "a", "op": "exists"}
    assert RuleSpec.model_validate(stored) == spec
    import json
    assert json.loads(json.dumps(stored)) == stored


@pytest.mark.parametrize("detect", [
    {"kind": "sequence", "within": "10m", "steps": [{"name": "a"}, {"name": "b", "absent": True}]},
    {"kind": "absence", "for": "30s"}, {"kind": "change", "field": "v"}, {"kind": "new_value", "field": "v"},
    {"kind": "each"},
])
def test_every_kind_round_trips(detect):
    spec = parse(rule(detect=detect))
    assert RuleSpec.model_validate(spec.to_document()) == spec
