"""Rule management through the real `cepflow` command and database."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.cli import cepflow

pytestmark = pytest.mark.integration


def rule_file(tmp_path: Path, name: str, value: int, extra: str = "") -> Path:
    path = tmp_path / f"{name}-{value}.yaml"
    path.write_text(f"name: {name}\nwhere: {{field: v, op: gt, value: {value}}}\n{extra}")
    return path


def test_invalid_file_exits_2_naming_file_line_and_field(stack, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: ok-one\n---\nname: broken\ndetect:\n  kind: threshold\n  window: {type: sliding, size: 5x}\n")
    result = cepflow(stack, "rules", "apply", str(bad), check=False)
    assert result.returncode == 2
    assert "bad.yaml: document 2" in result.stderr and "detect.window.size" in result.stderr
    assert "line 6" in result.stderr


def test_versions_history_rollback_enable_disable_delete(stack, tmp_path, unique):
    name = f"cli-{unique}"
    assert "v1" in cepflow(stack, "rules", "apply", str(rule_file(tmp_path, name, 1))).stdout
    assert "unchanged" in cepflow(stack, "rules", "apply", str(rule_file(tmp_path, name, 1))).stdout
    assert "v2" in cepflow(stack, "rules", "apply", str(rule_file(tmp_path, name, 2))).stdout
    shown = json.loads(cepflow(stack, "rules", "show", name).stdout)
    assert shown["version"] == 2 and shown["spec"]["where"]["value"] == 2
    assert json.loads(cepflow(stack, "rules", "show", shown["id"]).stdout)["name"] == name
    assert "v3 inactive" in cepflow(stack, "rules", "disable", name).stdout
    assert "v4 active" in cepflow(stack, "rules", "enable", shown["id"]).stdout
    assert "v5" in cepflow(stack, "rules", "rollback", name, "--to", "1").stdout
    assert json.loads(cepflow(stack, "rules", "show", name).stdout)["spec"]["where"]["value"] == 1
    listed = cepflow(stack, "rules", "list").stdout
    assert f"{name}\tv5\tactive" in listed
    cepflow(stack, "rules", "delete", name)
    history = [json.loads(line) for line in cepflow(stack, "rules", "history", name).stdout.splitlines()]
    assert [h["action"] for h in history][-1] == "delete" and len(history) >= 6
    assert any(change["field"] == "where" for h in history for change in (h["changes"] or []))
    missing = cepflow(stack, "rules", "show", name, check=False)
    assert missing.returncode == 2 and name in missing.stderr


def test_produce_and_logs_filters(stack, tmp_path):
    events = tmp_path / "e.jsonl"
    events.write_text('{"type": "x", "ts": 1}\nnot json\n')
    assert "produced 2 message(s)" in cepflow(stack, "produce", str(events)).stdout
    bad = cepflow(stack, "logs", "--status", "nope", check=False)
    assert bad.returncode == 2
    unknown = cepflow(stack, "logs", "--rule", "no-such-rule-xyz", check=False)
    assert unknown.returncode == 2 and "no-such-rule-xyz" in unknown.stderr
