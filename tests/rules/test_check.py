"""`cepflow rules check`: cross-rule errors (targets, cycles) and warnings (unbounded group_by, no action)."""

from __future__ import annotations

from pathlib import Path

from rules.check import Finding, check_rule_files, check_rules
from rules.loader import LoadedRule
from rules.model import RuleSpec

HOOK = {"endpoint": "https://h/x"}


def loaded(*docs: dict) -> list[LoadedRule]:
    return [LoadedRule(RuleSpec.model_validate(doc), "rules.yaml", i, i * 10) for i, doc in enumerate(docs, start=1)]


def trigger(target: str) -> dict:
    return {"type": "trigger_rule", "rule_id": target}


def errors(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.level == "error"]


def test_unknown_trigger_target():
    findings = check_rules(loaded({"name": "a", "actions": [HOOK, trigger("ghost")]}))
    assert findings == [Finding("error", "a", "actions.1.rule_id",
                                "unknown trigger_rule target 'ghost': no loaded or known rule has this name or id",
                                "rules.yaml: document 1 (line 10)")]


def test_targets_known_elsewhere_or_by_id():
    uid = "0b7c6f1e-3a55-4c8e-9d7e-0d1a2b3c4d5e"
    rules = loaded({"name": "a", "action": trigger("stored")}, {"name": "b", "action": trigger(uid)},
                   {"name": "c", "id": uid, "action": HOOK})
    assert errors(check_rules(rules, known_rules=["stored"])) == []
    assert [f.rule for f in errors(check_rules(rules))] == ["a"]


def test_cycle_is_an_error():
    rules = loaded({"name": "a", "action": trigger("b")}, {"name": "b", "action": trigger("c")},
                   {"name": "c", "actions": [HOOK, trigger("a")]}, {"name": "d", "action": trigger("a")})
    [finding] = errors(check_rules(rules))
    assert finding.rule == "a" and finding.path == "actions.0.rule_id"
    assert finding.message.startswith("trigger_rule chain can cycle: a -> b -> c -> a")


def test_self_trigger_is_a_cycle():
    [finding] = errors(check_rules(loaded({"name": "loop", "action": trigger("loop")})))
    assert "loop -> loop" in finding.message


def test_two_separate_cycles_are_both_reported():
    rules = loaded({"name": "a", "action": trigger("b")}, {"name": "b", "action": trigger("a")},
                   {"name": "x", "action": trigger("y")}, {"name": "y", "action": trigger("x")})
    assert [f.rule for f in errors(check_rules(rules))] == ["a", "x"]


def test_chain_without_cycle_is_fine():
    rules = loaded({"name": "a", "action": trigger("b")}, {"name": "b", "match": {"chain_only": True}, "action": HOOK})
    assert check_rules(rules) == []


def test_inactive_target_warns():
    rules = loaded({"name": "a", "action": trigger("b")}, {"name": "b", "active": False, "action": HOOK})
    [finding] = check_rules(rules)
    assert finding.level == "warning" and "inactive" in finding.message


def test_unbounded_group_by_warns():
    rules = loaded({"name": "a", "group_by": ["host", "request_id", "meta.ts", "user.id", "traceId", "region"], "action": HOOK})
    warned = [(f.path, f.level) for f in check_rules(rules)]
    assert warned == [("group_by.1", "warning"), ("group_by.2", "warning"), ("group_by.3", "warning"), ("group_by.4", "warning")]
    sequence = {"kind": "sequence", "within": "10m", "steps": [{"name": "a"}, {"name": "b"}]}
    assert check_rules(loaded({"name": "s", "group_by": ["order_id"], "detect": sequence, "action": HOOK})) == []


def test_rule_without_actions_warns():
    [finding] = check_rules(loaded({"name": "quiet"}))
    assert (finding.level, finding.path, finding.message) == ("warning", "actions", "rule has no actions: its fires are only logged")


def test_check_files_reports_validation_problems(tmp_path: Path):
    path = tmp_path / "r.yaml"
    path.write_text(
        "name: seq\ndetect:\n  kind: sequence\n  steps: [{name: a}, {name: b}]\naction: {endpoint: 'https://h/x'}\n"
        "---\nname: re\nwhere: {field: a, op: regex, value: '(a)\\1'}\naction: {endpoint: 'https://h/x'}\n"
        "---\nname: ok\naction: {type: trigger_rule, rule_id: nowhere}\n"
    )
    findings = check_rule_files([path])
    assert [(f.level, f.rule, f.path) for f in findings] == [
        ("error", "seq", "detect.within"), ("error", "re", "where.value"), ("error", "ok", "actions.0.rule_id"),
    ]
    assert findings[0].source == f"{path.as_posix()}: document 1 (line 2)"
    assert "re2 cannot compile" in findings[1].message
    assert str(findings[2]).startswith(f"{path.as_posix()}: document 3 (line 11): error: rule ok: actions.0.rule_id: unknown")
