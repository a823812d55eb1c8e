"""Rule management, `produce` and `logs` through the real `cepflow` command and database."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cepflow.receiver import Receiver
from tests.integration.cli import cepflow
from tests.integration.harness import StackEnv, wait_until

pytestmark = pytest.mark.integration


def rule_file(tmp_path: Path, name: str, value: int, extra: str = "") -> Path:
    path = tmp_path / f"{name}-{value}.yaml"
    path.write_text(f"name: {name}\nwhere: {{field: v, op: gt, value: {value}}}\n{extra}")
    return path


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


def test_invalid_file_exits_2_naming_file_document_line_and_field_and_stores_nothing(stack, tmp_path, unique):
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"name: ok-{unique}\n---\nname: broken-{unique}\ndetect:\n  kind: threshold\n"
                   "  window: {type: sliding, size: 5x}\n")
    result = cepflow(stack, "rules", "apply", str(bad), check=False)
    assert result.returncode == 2 and result.stdout == ""
    assert f"{bad.as_posix()}: document 2 (line 6): detect.window.size:" in result.stderr
    assert cepflow(stack, "rules", "show", f"ok-{unique}", check=False).returncode == 2  # all or nothing


def test_a_name_taken_by_another_id_exits_2_and_applies_nothing(stack, tmp_path, unique):
    cepflow(stack, "rules", "apply", str(rule_file(tmp_path, f"taken-{unique}", 1)))
    other = rule_file(tmp_path, f"other-{unique}", 1)
    clash = tmp_path / "clash.yaml"
    clash.write_text(f"name: taken-{unique}\nid: 6f1c1a0e-7a7b-4a55-9f39-1d7e0b5b1c11\n")
    result = cepflow(stack, "rules", "apply", str(other), str(clash), check=False)
    assert result.returncode == 2 and result.stdout == ""
    assert f"{clash.as_posix()}: document 1 (line 1): rule name 'taken-{unique}' already belongs" in result.stderr
    assert cepflow(stack, "rules", "show", f"other-{unique}", check=False).returncode == 2


def test_versions_list_show_history_rollback_enable_disable_delete(stack, tmp_path, unique):
    name = f"cli-{unique}"
    before = datetime.now(UTC) - timedelta(seconds=5)
    created = cepflow(stack, "rules", "apply", "--by", "alice", str(rule_file(tmp_path, name, 1))).stdout
    assert created.startswith(f"{name}: v1 id=")
    assert cepflow(stack, "rules", "apply", str(rule_file(tmp_path, name, 1))).stdout.startswith(
        f"{name}: unchanged (v1)")
    assert cepflow(stack, "rules", "apply", "--by", "bob", str(rule_file(tmp_path, name, 2))).stdout.startswith(
        f"{name}: v2 ")

    shown = json.loads(cepflow(stack, "rules", "show", name).stdout)
    assert (shown["version"], shown["active"], shown["spec"]["where"]["value"]) == (2, True, 2)
    assert json.loads(cepflow(stack, "rules", "show", shown["id"]).stdout)["name"] == name
    assert f"{name}\tv2\tactive\t{shown['id']}" in cepflow(stack, "rules", "list").stdout.splitlines()
    listed = json_lines(cepflow(stack, "rules", "list", "--json").stdout)
    assert {"name": name, "version": 2, "active": True} in [
        {k: r[k] for k in ("name", "version", "active")} for r in listed]

    assert cepflow(stack, "rules", "disable", name).stdout == f"{name}: v3 inactive\n"
    assert f"{name}\tv3\tinactive" in cepflow(stack, "rules", "list").stdout
    assert cepflow(stack, "rules", "enable", shown["id"]).stdout == f"{name}: v4 active\n"
    assert cepflow(stack, "rules", "rollback", name, "--to", "1").stdout == f"{name}: v5 active\n"
    assert json.loads(cepflow(stack, "rules", "show", name).stdout)["spec"]["where"]["value"] == 1
    never = cepflow(stack, "rules", "rollback", name, "--to", "99", check=False)
    assert never.returncode == 2 and f"{name} v99" in never.stderr
    cepflow(stack, "rules", "delete", name)
    assert name not in cepflow(stack, "rules", "list").stdout
    assert cepflow(stack, "rules", "show", name, check=False).returncode == 2

    history = json_lines(cepflow(stack, "rules", "history", name).stdout)  # kept after delete
    assert [(h["version"], h["action"]) for h in history] == [
        (1, "create"), (2, "update"), (3, "disable"), (4, "enable"), (5, "rollback"), (6, "delete")]
    assert [h["by"] for h in history[:2]] == ["alice", "bob"]
    assert all(before <= datetime.fromisoformat(h["at"]) <= datetime.now(UTC) for h in history)
    update = next(c for c in history[1]["changes"] if c["field"] == "where")
    assert (update["old"]["value"], update["new"]["value"]) == (1, 2)
    assert {"field": "active", "old": True, "new": False} in history[2]["changes"]
    rollback = next(c for c in history[4]["changes"] if c["field"] == "where")
    assert (rollback["old"]["value"], rollback["new"]["value"]) == (2, 1)


def test_an_unknown_rule_exits_2_with_a_message(stack, unique):
    missing = f"missing-{unique}"
    for args in (["show"], ["history"], ["enable"], ["disable"], ["delete"], ["rollback", "--to", "1"]):
        result = cepflow(stack, "rules", args[0], missing, *args[1:], check=False)
        assert result.returncode == 2 and result.stdout == "", args
        assert result.stderr.startswith("error: ") and repr(missing) in result.stderr, (args, result.stderr)
    unknown = cepflow(stack, "logs", "--rule", missing, check=False)
    assert unknown.returncode == 2 and repr(missing) in unknown.stderr
    assert cepflow(stack, "logs", "--status", "nope", check=False).returncode == 2


def write_rules(tmp_path: Path, ok: str, failing: str, receiver: Receiver) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(
        f'name: {ok}\nmatch: {{type: x}}\naction: {{endpoint: "{receiver.url("/ok")}", body: {{n: "{{{{ event.n }}}}"}}}}\n'
        f'---\nname: {failing}\nmatch: {{type: x}}\naction: {{endpoint: "{receiver.url("/gone")}"}}\n'
    )
    return path


def logs(stack: StackEnv, *args: str) -> list[str]:
    return cepflow(stack, "logs", *args).stdout.splitlines()


def test_produce_then_logs_by_rule_and_status(stack, engine, tmp_path, unique):
    ok, failing = f"ok-{unique}", f"gone-{unique}"
    with Receiver() as receiver:
        receiver.always("/gone", 404)  # a 4xx fails at once, without retries
        cepflow(stack, "rules", "apply", str(write_rules(tmp_path, ok, failing, receiver)))
        events = tmp_path / "events.jsonl"
        events.write_text("".join(json.dumps({"id": f"x-{n}", "type": "x", "n": n, "ts": 1_700_000_000_000 + n})
                                  + "\n" for n in range(3)) + "not json\n")
        produced = cepflow(stack, "produce", str(events)).stdout
        assert produced == f"produced 4 message(s) to {stack.events_topic}\n"  # the bad line dead-letters
        engine.start()
        wait_until(lambda: len(logs(stack, "--rule", failing)) == 3 and len(logs(stack, "--rule", ok)) == 3,
                   60, "three executions of each rule in the log")

    for line in logs(stack, "--rule", ok):
        assert f"rule={ok} version=1 status=success executed_by=stream" in line
    gone = logs(stack, "--rule", failing, "--status", "fail")
    assert len(gone) == 3 and all(f"rule={failing} version=1 status=fail" in line and "404" in line for line in gone)
    assert logs(stack, "--rule", ok, "--status", "fail") == []
    assert logs(stack, "--rule", failing, "--status", "success") == []
    recent_fails = logs(stack, "--status", "fail", "--since", "10m", "--limit", "1000")
    assert set(gone) <= set(recent_fails) and all("status=fail" in line for line in recent_fails)
    rows = json_lines(cepflow(stack, "logs", "--rule", ok, "--json").stdout)
    assert sorted(r["references"]["actions"][0]["status_code"] for r in rows) == [200, 200, 200]
    assert sorted(r["references"]["event_id"] for r in rows) == ["x-0", "x-1", "x-2"]
