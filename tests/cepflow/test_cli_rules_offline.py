"""`cepflow rules schema|check|test`: the rule commands that need no services, through click."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import yaml
from click.testing import CliRunner, Result

from cepflow.cli import main

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
RULE_FILES = sorted(p for p in (EXAMPLES / "rules").iterdir() if p.suffix in (".yaml", ".json"))


def cepflow(*args: str | Path) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args])


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_schema_output_validates_every_example_document() -> None:
    result = cepflow("rules", "schema")
    assert result.exit_code == 0
    validator = jsonschema.Draft202012Validator(json.loads(result.stdout))
    documents = 0
    for path in RULE_FILES:
        text = path.read_text()
        for document in [json.loads(text)] if path.suffix == ".json" else yaml.safe_load_all(text):
            assert list(validator.iter_errors(document)) == [], path.name
            documents += 1
    assert documents == 13 and any(p.suffix == ".json" for p in RULE_FILES)
    assert list(validator.iter_errors({"name": "x", "detect": {"kind": "nope"}}))  # it does reject


CYCLE = ("name: a\nmatch: {type: t}\naction: {type: trigger_rule, rule_id: b}\n---\n"
         "name: b\nmatch: {chain_only: true}\naction: {type: trigger_rule, rule_id: a}\n")


def test_check_exits_2_on_a_cycle(tmp_path: Path) -> None:
    result = cepflow("rules", "check", write(tmp_path, "cycle.yaml", CYCLE))
    assert result.exit_code == 2
    assert "cycle.yaml: document 1 (line 1): error: rule a: actions.0.rule_id: trigger_rule chain can cycle: a -> b -> a" \
        in result.stderr


def test_check_exits_2_on_an_unknown_target_unless_it_is_known_elsewhere(tmp_path: Path) -> None:
    rules = write(tmp_path, "unknown.yaml", "name: c\naction: {type: trigger_rule, rule_id: nowhere}\n")
    result = cepflow("rules", "check", rules)
    assert result.exit_code == 2
    assert "error: rule c: actions.0.rule_id: unknown trigger_rule target 'nowhere'" in result.stderr
    assert cepflow("rules", "check", rules, "--known", "nowhere").exit_code == 0


def test_check_exits_0_with_warnings(tmp_path: Path) -> None:
    rules = write(tmp_path, "warn.yaml", "name: w\ngroup_by: [request_id]\n")
    result = cepflow("rules", "check", rules)
    assert result.exit_code == 0, result.output
    assert "warning: rule w: group_by.0: group_by field 'request_id' looks unbounded" in result.stdout
    assert "warning: rule w: actions: rule has no actions" in result.stdout
    assert result.stdout.endswith("1 file(s) checked: 2 warning(s)\n")


def test_check_passes_every_example_file_and_the_folder() -> None:
    for args in (RULE_FILES, [EXAMPLES / "rules"]):
        result = cepflow("rules", "check", *args)
        assert result.exit_code == 0, result.output
        assert result.stdout.endswith(f"{len(RULE_FILES)} file(s) checked: 0 warning(s)\n")


def test_rules_test_prints_the_expected_executions() -> None:
    result = cepflow("rules", "test", EXAMPLES / "rules" / "chain-incident.yaml",
                     "--events", EXAMPLES / "events" / "chain-incident.jsonl")
    assert result.exit_code == 0, result.output
    assert result.stdout == (EXAMPLES / "expected" / "chain-incident.jsonl").read_text()


def test_rules_test_explain_gives_every_leaf_its_verdict_and_actual_value() -> None:
    result = cepflow("rules", "test", EXAMPLES / "rules" / "each-payment-failed.yaml",
                     "--events", EXAMPLES / "events" / "each-payment-failed.jsonl", "--explain")
    assert result.exit_code == 0, result.output
    first, second = (json.loads(line) for line in result.stdout.splitlines())
    leaves = [("status", "eq", "failed"), ("amount", "gt", 100), ("currency", "in", ["EUR", "USD"]),
              ("customer.tier", "eq", "test")]  # the last one under `not`: its own verdict is shown
    assert [(e["field"], e["op"], e["expected"]) for e in first["explain"]] == leaves
    assert [(e["actual"], e["result"]) for e in first["explain"]] == [
        ("failed", True), (250.0, True), ("EUR", True), ("gold", False)]
    assert [(e["actual"], e["result"]) for e in second["explain"]] == [
        ("failed", True), (120, True), ("USD", True), (None, False)]
    assert second["explain"][3]["note"] == "field missing"


def test_rules_test_exits_2_on_an_invalid_rule_file(tmp_path: Path) -> None:
    rules = write(tmp_path, "bad.yaml", "name: ok\n---\nname: x\nmatch: {type: cpu}\nwhere: {field: v, op: gt}\n")
    result = cepflow("rules", "test", rules, "--events", EXAMPLES / "events" / "threshold-web-cpu-hot.jsonl")
    assert result.exit_code == 2 and result.stdout == ""
    assert f"{rules.as_posix()}: document 2 (line 5): where: op 'gt' needs value" in result.stderr


def test_rules_test_exits_2_on_an_invalid_events_file(tmp_path: Path) -> None:
    events = write(tmp_path, "bad.jsonl", '{"type": "cpu", "ts": 1}\n\n{"type": "cpu", "ts": "soon"}\n')
    result = cepflow("rules", "test", EXAMPLES / "rules" / "threshold-web-cpu-hot.yaml", "--events", events)
    assert result.exit_code == 2 and result.stdout == ""
    assert f"{events.as_posix()}: line 3: ts: cannot read 'soon' as a time" in result.stderr
