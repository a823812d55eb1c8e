"""Invalid documents are rejected with a precise message at the author's field path."""

import pytest
from pydantic import ValidationError

from rules.model import RuleSpec, ScriptApiSpec

from .helpers import assert_problem, problems, rule

THRESHOLD = {"kind": "threshold", "window": {"type": "sliding", "size": "5m"}, "aggregate": {"fn": "count"},
             "having": {"op": "gte", "value": 3}}
SEQ = {"kind": "sequence", "within": "10m", "steps": [{"name": "a"}, {"name": "b"}]}

CASES = [
    # rule fields
    ({}, "name", "required field is missing"),
    ({"name": ""}, "name", "a name must be 1 to 200 letters, digits or _ . : - (got '')"),
    ({"name": "web cpu"}, "name", "(got 'web cpu')"),
    ({"name": "a" * 201}, "name", "a name must be 1 to 200"),
    ({"name": 5}, "name", "expected a name of letters, digits and _ . : - (got int 5)"),
    (rule(colour="red"), "colour", "unknown field"),
    (rule(active="yes"), "active", "Input should be a valid boolean (got 'yes')"),
    (rule(id="not-a-uuid"), "id", "UUID"),
    (rule(cooldown="10 minutes"), "cooldown", "expected a duration like 500ms, 30s, 5m, 2h, 1d"),
    (rule(cooldown=-5), "cooldown", "cannot be negative"),
    (rule(time={"allowed_lateness": "5"}), "time.allowed_lateness", "expected a duration"),
    (rule(time={"lateness": "5s"}), "time.lateness", "unknown field"),
    (rule(group_by=["host", ""]), "group_by.1", "expected a dotted field path"),
    (rule(group_by=["a..b"]), "group_by.0", "(got 'a..b')"),
    (rule(group_by=["host", "host"]), "group_by", "group_by fields must be distinct (repeated: host)"),
    (rule(group_by=[5]), "group_by.0", "got int 5"),
    (rule(match={"topic": []}), "match.topic", "at least 1 item"),
    (rule(match={"type": [""]}), "match.type.0", "at least 1 character"),
    (rule(match={"chain_only": True, "type": "cpu"}), "match", "chain_only: true reads no ordinary events"),
    (rule(match={"kind": "cpu"}), "match.kind", "unknown field"),
    # leaves
    (rule(where={"field": "a", "op": "gt "}), "where.op", "Input should be 'eq', 'ne'"),
    (rule(where={"field": "a", "op": "gt "}), "where.op", "(got 'gt ')"),
    (rule(where={"field": "a", "op": "equals", "value": 1}), "where.op", "(got 'equals')"),
    (rule(where={"field": "", "op": "eq", "value": 1}), "where.field", "expected a dotted field path"),
    (rule(where={"field": "a.", "op": "eq", "value": 1}), "where.field", "(got 'a.')"),
    (rule(where={"op": "eq", "value": 1}), "where.field", "required field is missing"),
    (rule(where={"field": "a", "value": 1}), "where.op", "required field is missing"),
    (rule(where={"field": "a", "op": "eq"}), "where", "op 'eq' needs value (or value_field"),
    (rule(where={"field": "a", "op": "eq", "value": 1, "value_field": "b"}), "where", "either value or value_field, not both"),
    (rule(where={"field": "a", "op": "eq", "value_field": ""}), "where.value_field", "expected a dotted field path"),
    (rule(where={"field": "a", "op": "exists", "value": True}), "where.value", "op 'exists' takes no value"),
    (rule(where={"field": "a", "op": "missing", "value": None}), "where.value", "op 'missing' takes no value"),
    (rule(where={"field": "a", "op": "exists", "value_field": "b"}), "where", "op 'exists' takes no value_field"),
    (rule(where={"field": "a", "op": "in", "value": "x"}), "where.value", "op 'in' needs a list value like [a, b] (got str 'x')"),
    (rule(where={"field": "a", "op": "not_in", "value": 3}), "where.value", "op 'not_in' needs a list value"),
    (rule(where={"field": "a", "op": "between", "value": [3, 1]}), "where.value", "lo is greater than hi (got [3, 1])"),
    (rule(where={"field": "a", "op": "between", "value": [1]}), "where.value", "op 'between' needs value: [lo, hi]"),
    (rule(where={"field": "a", "op": "between", "value": [1, 2, 3]}), "where.value", "[lo, hi]"),
    (rule(where={"field": "a", "op": "between", "value": [1, "z"]}), "where.value", "two numbers or two strings"),
    (rule(where={"field": "a", "op": "between", "value": [False, True]}), "where.value", "two numbers or two strings"),
    (rule(where={"field": "a", "op": "between", "value": "1-3"}), "where.value", "[lo, hi]"),
    (rule(where={"field": "a", "op": "between", "value_field": "r"}), "where", "op 'between' needs a literal value, not value_field"),
    (rule(where={"field": "a", "op": "gt", "value": [1]}), "where.value", "op 'gt' needs a number or a string value (got list [1])"),
    (rule(where={"field": "a", "op": "lte", "value": True}), "where.value", "op 'lte' needs a number or a string value (got bool True)"),
    (rule(where={"field": "a", "op": "startswith", "value": 5}), "where.value", "op 'startswith' needs a string value (got int 5)"),
    (rule(where={"field": "a", "op": "endswith", "value": None}), "where.value", "op 'endswith' needs a string value"),
    (rule(where={"field": "a", "op": "regex", "value": 5}), "where.value", "op 'regex' needs a string value"),
    (rule(where={"field": "a", "op": "regex", "value": r"(a)\1"}), "where.value", "re2 cannot compile regex"),
    (rule(where={"field": "a", "op": "regex", "value": r"(a)\1"}), "where.value", "backreferences"),
    (rule(where={"field": "a", "op": "regex", "value": "(?=x)y"}), "where.value", "lookaround"),
    (rule(where={"field": "a", "op": "regex", "value": "("}), "where.value", "missing )"),
    (rule(where={"field": "a", "op": "regex", "value_field": "p"}), "where", "op 'regex' needs a literal value"),
    (rule(where={"field": "a", "op": "eq", "value": 1, "extra": 1}), "where.extra", "unknown field"),
    # composites
    (rule(where={"all": []}), "where.all", "at least 1 item"),
    (rule(where={"any": {"field": "a", "op": "exists"}}), "where.any", "valid list"),
    (rule(where={"not": [{"field": "a", "op": "exists"}]}), "where.not", "expected a condition"),
    (rule(where={"all": [{"field": "a", "op": "exists"}, {"field": "b", "op": "nope"}]}), "where.all.1.op", "(got 'nope')"),
    (rule(where={"all": [{"any": [{"not": {"field": "b", "op": "in", "value": 1}}]}]}), "where.all.0.any.0.not.value", "needs a list"),
    (rule(where={"foo": 1}), "where", "expected a condition: a leaf with field and op, or exactly one of all, any, not"),
    (rule(where="a > 1"), "where", "expected a condition"),
    (rule(where={"all": [{"field": "a", "op": "exists"}], "any": []}), "where.any", "unknown field"),
    (rule(where={"logic": "XOR", "conditions": []}), "where", "logic should be AND or OR (got 'XOR')"),
    (rule(where={"logic": "AND"}), "where", "the logic form needs conditions"),
    (rule(where={"logic": "AND", "conditions": [], "x": 1}), "where", "takes only logic and conditions"),
    (rule(where={"logic": "AND", "conditions": [{"field": "a", "op": "in", "value": 1}]}), "where.conditions.0.value", "needs a list"),
    (rule(where={"logic": "OR", "conditions": [{"logic": "AND", "conditions": [{"field": "a", "op": "??"}]}]}),
     "where.conditions.0.conditions.0.op", "(got '??')"),
    # detect
    (rule(detect={"kind": "foo"}), "detect", "detect needs kind: one of each, threshold, sequence, absence, change, new_value (got kind: 'foo')"),
    (rule(detect={"for": "1m"}), "detect", "detect needs kind"),
    (rule(detect="each"), "detect", "detect needs kind"),
    (rule(detect={"kind": "each", "for": "soon"}), "detect.for", "expected a duration"),
    (rule(detect={"kind": "each", "for": 0}), "detect.for", "greater than 0"),
    (rule(detect={"kind": "each", "window": {}}), "detect.window", "unknown field"),
    (rule(detect={**THRESHOLD, "window": {"type": "hopping", "size": "1m"}}), "detect.window.type", "Input should be 'sliding' or 'tumbling' (got 'hopping')"),
    (rule(detect={**THRESHOLD, "window": {"type": "sliding", "size": "0s"}}), "detect.window.size", "greater than 0"),
    (rule(detect={**THRESHOLD, "window": {"type": "sliding", "size": "5 min"}}), "detect.window.size", "expected a duration"),
    (rule(detect={**THRESHOLD, "window": {"type": "sliding"}}), "detect.window.size", "required field is missing"),
    (rule(detect={k: v for k, v in THRESHOLD.items() if k != "window"}), "detect.window", "required field is missing"),
    (rule(detect={k: v for k, v in THRESHOLD.items() if k != "having"}), "detect.having", "required field is missing"),
    (rule(detect={**THRESHOLD, "aggregate": {"fn": "median"}}), "detect.aggregate.fn", "(got 'median')"),
    (rule(detect={**THRESHOLD, "aggregate": {"fn": "sum"}}), "detect.aggregate", "aggregate fn 'sum' needs field"),
    (rule(detect={**THRESHOLD, "aggregate": {"fn": "avg", "field": ""}}), "detect.aggregate.field", "dotted field path"),
    (rule(detect={**THRESHOLD, "aggregate": {"fn": "count", "field": "x"}}), "detect.aggregate", "takes no field"),
    (rule(detect={**THRESHOLD, "having": {"op": "gt ", "value": 3}}), "detect.having.op", "Input should be 'gt', 'gte', 'lt', 'lte', 'eq' or 'ne' (got 'gt ')"),
    (rule(detect={**THRESHOLD, "having": {"op": "gt", "value": "3"}}), "detect.having.value", "valid number (got '3')"),
    (rule(detect={**THRESHOLD, "having": {"op": "gt", "value": True}}), "detect.having.value", "valid number"),
    (rule(detect={**THRESHOLD, "having": {"op": "gt", "value": float("nan")}}), "", "nan at detect.having.value is not a JSON number"),
    (rule(action={"endpoint": "https://h/x", "body": [float("inf")]}), "", "inf at action.body.0 is not a JSON number"),
    (rule(detect={**THRESHOLD, "having": {"op": "lt", "value": 3}}), "detect", "use a tumbling window or kind: absence"),
    (rule(detect={**THRESHOLD, "having": {"op": "lte", "value": 3}}), "detect", "a sliding window cannot test count lte"),
    (rule(detect={**THRESHOLD, "aggregate": {"fn": "distinct", "field": "ip"}, "having": {"op": "lt", "value": 3}}),
     "detect", "cannot test distinct lt"),
    (rule(detect={**SEQ, "steps": [{"name": "a"}]}), "detect.steps", "a sequence needs at least 2 steps (got 1)"),
    (rule(detect={**SEQ, "steps": []}), "detect.steps", "at least 2 steps (got 0)"),
    (rule(detect={**SEQ, "steps": [{"name": "a"}, {"name": "a"}]}), "detect.steps", "step names must be unique (repeated: a)"),
    (rule(detect={**SEQ, "steps": [{"name": "a", "absent": True}, {"name": "b"}]}), "detect.steps", "only the last step may be absent: true"),
    (rule(detect={**SEQ, "steps": [{"name": "a"}, {"name": "b", "absent": "yes"}]}), "detect.steps.1.absent", "valid boolean"),
    (rule(detect={**SEQ, "steps": [{"name": "a-1"}, {"name": "b"}]}), "detect.steps.0.name", "events.NAME in templates"),
    (rule(detect={**SEQ, "steps": [{"where": {}}, {"name": "b"}]}), "detect.steps.0.name", "required field is missing"),
    (rule(detect={**SEQ, "steps": [{"name": "a", "where": {"field": "t", "op": "eq"}}, {"name": "b"}]}),
     "detect.steps.0.where", "op 'eq' needs value"),
    (rule(detect={k: v for k, v in SEQ.items() if k != "within"}), "detect.within", "required field is missing"),
    (rule(detect={**SEQ, "within": 0}), "detect.within", "greater than 0"),
    (rule(detect={**SEQ, "contiguity": "loose"}), "detect.contiguity", "Input should be 'relaxed' or 'strict' (got 'loose')"),
    (rule(detect={**SEQ, "for": "1m"}), "detect", "'for' applies only to kind each or threshold, not sequence"),
    (rule(detect={"kind": "absence"}), "detect.for", "required field is missing"),
    (rule(detect={"kind": "absence", "for": "0ms"}), "detect.for", "greater than 0"),
    (rule(detect={"kind": "change"}), "detect.field", "required field is missing"),
    (rule(detect={"kind": "change", "field": "v", "for": "1m"}), "detect", "not change"),
    (rule(detect={"kind": "new_value", "field": "v", "for": "1m"}), "detect", "not new_value"),
    (rule(detect={"kind": "new_value", "field": "v", "max_values": 0}), "detect.max_values", "greater than or equal to 1"),
    (rule(detect={"kind": "new_value", "field": "v", "max_values": "10"}), "detect.max_values", "valid integer"),
    # actions
    (rule(action={"endpoint": "https://h/x"}, actions=[]), "", "give either action (one) or actions (a list), not both"),
    (rule(action={"type": "api_script"}), "action", "api_id is required"),
    (rule(action={"type": "api_script", "api_id": ""}), "action", "api_id is required"),
    (rule(actions=[{"type": "trigger_rule"}]), "actions.0", "rule_id is required"),
    (rule(actions=[{"type": "trigger_rule", "rule_id": None}]), "actions.0", "rule_id is required"),
    (rule(action={"type": "email", "to": "x"}), "action", "an action is a mapping whose type is webhook, api_script or trigger_rule (got type: 'email')"),
    (rule(action="https://h/x"), "action", "an action is a mapping"),
    (rule(action={}), "action.endpoint", "required field is missing"),
    (rule(action={"endpoint": "ftp://h/x"}), "action.endpoint", "endpoint must be an http:// or https:// URL (got 'ftp://h/x')"),
    (rule(action={"endpoint": "https://h/x", "method": "FETCH"}), "action.method", "(got 'FETCH')"),
    (rule(action={"endpoint": "https://h/x", "headers": {"X-A": 1}}), "action.headers.X-A", "valid string"),
    (rule(action={"endpoint": "https://h/x", "timeout": "0s"}), "action.timeout", "greater than 0"),
    (rule(action={"endpoint": "https://h/x", "retry": {"max_attempts": 0}}), "action.retry.max_attempts", "greater than or equal to 1"),
    (rule(action={"endpoint": "https://h/x", "retry": {"backoff": "2m", "max_backoff": "1m"}}), "action.retry", "max_backoff (60000 ms) is below backoff (120000 ms)"),
    (rule(action={"endpoint": "https://h/x", "url": "x"}), "action.url", "unknown field"),
    (rule(actions=[{"endpoint": "https://h/x"}, {"type": "api_script", "api_id": "x", "payload": {}}]), "actions.1.payload", "unknown field"),
    (rule(action={"type": "trigger_rule", "rule_id": "x", "payload": [1]}), "action.payload", "valid dictionary"),
    (rule(actions={"endpoint": "https://h/x"}), "actions", "valid list"),
]


@pytest.mark.parametrize(("doc", "field", "message"), CASES, ids=[f"{c[1]}:{c[2][:40]}" for c in CASES])
def test_invalid_documents_are_rejected_precisely(doc, field, message):
    assert_problem(doc, field, message)


def test_every_problem_is_reported():
    found = problems(rule(where={"field": "a", "op": "in", "value": 1}, cooldown="x", colour=1))
    assert {path for path, _ in found} == {"where.value", "cooldown", "colour"}


def test_raw_model_errors_are_validation_errors():
    with pytest.raises(ValidationError):
        RuleSpec.model_validate({"name": "x", "action": {"type": "api_script"}})


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"name": "x"}, "Field required"),
        ({"name": "x", "source": "def main(:\n"}, "source is not valid Python: line 1"),
        ({"name": "x", "source": "def handler(params, input, context):\n    return 1\n"}, "must define a top-level function main"),
        ({"name": "x", "source": "def main(p, i, c): pass", "language": "ruby"}, "Input should be 'python'"),
        ({"name": "x", "source": "def main(p, i, c): pass", "memory_mb": 0}, "greater than or equal to 16"),
        ({"name": "x", "source": "def main(p, i, c): pass", "timeout": "0s"}, "greater than 0"),
        ({"name": "x", "source": "def main(p, i, c): pass", "timeout": "61s"},
         "timeout must be at most 60s (got 61000 ms)"),
        ({"name": "x", "source": "def main(p, i, c): pass", "timeout": "1d"}, "timeout must be at most 60s"),
        ({"name": "x", "source": "def main(p, i, c): pass", "memory_mb": 2049}, "less than or equal to 2048"),
        ({"name": "x", "source": "def main(p, i, c): pass", "memory_mb": 65536}, "less than or equal to 2048"),
        ({"name": "x", "source": "def main(p, i, c): pass", "network": "yes"}, "Input should be a valid boolean"),
        ({"name": "x y", "source": "def main(p, i, c): pass"}, "a name must be"),
        ({"name": "x", "source": ""}, "at least 1 character"),
    ],
)
def test_script_api_errors(doc, message):
    with pytest.raises(ValidationError) as caught:
        ScriptApiSpec.model_validate(doc)
    assert message in str(caught.value)
