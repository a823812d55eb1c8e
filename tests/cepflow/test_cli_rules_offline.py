"""`cepflow rules schema|check|test`: the commands that need no services."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import yaml
from click.testing import CliRunner

from cepflow.cli import main

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_schema_validates_every_example_rule() -> None:
    result = CliRunner().invoke(main, ["rules", "schema"])
    assert result.exit_code == 0
    schema = json.loads(result.output)
    for path in sorted((EXAMPLES / "rules").glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            jsonschema.validate(document, schema)


def test_check_fails_on_a_cycle_and_an_unknown_target(tmp_path: Path) -> None:
    rules = tmp_path / "chain.yaml"
    rules.write_text(
        "name: a\naction: {type: trigger_rule, rule_id: b}\n---\n"
        "name: b\naction: {type: trigger_rule, rule_id: a}\n---\n"
        "name: c\naction: {type: trigger_rule, rule_id: nowhere}\n"
    )
    result = CliRunner().invoke(main, ["rules", "check", str(rules)])
    assert result.exit_code == 2
    assert "can cycle" in result.output and "nowhere" in result.output


def test_check_passes_every_example_with_warnings_only() -> None:
    files = [str(p) for p in sorted((EXAMPLES / "rules").iterdir()) if p.suffix in (".yaml", ".json")]
    result = CliRunner().invoke(main, ["rules", "check", *files])
    assert result.exit_code == 0, result.output


def test_rules_test_prints_executions_and_exits_2_on_a_bad_rule(tmp_path: Path) -> None:
    ok = CliRunner().invoke(main, ["rules", "test", str(EXAMPLES / "rules" / "absence-heartbeat.yaml"),
                                   "--events", str(EXAMPLES / "events" / "absence-heartbeat.jsonl")])
    assert ok.exit_code == 0 and json.loads(ok.output.splitlines()[0])["rule"] == "heartbeat-lost"
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nwhere: {field: v, op: gt}\n")
    result = CliRunner().invoke(main, ["rules", "test", str(bad), "--events", str(bad)])
    assert result.exit_code == 2 and "bad.yaml" in result.output + (result.stderr if result.stderr_bytes else "")
