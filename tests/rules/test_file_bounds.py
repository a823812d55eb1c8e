"""Rule files with no resource bounds: alias bombs, huge files, templates checked only at fire time.

The CLI tests run `cepflow rules check` / `rules test` in a subprocess with a timeout, so a
loader without bounds fails the test instead of hanging the suite.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from rules import loader
from rules.check import check_rule_files
from rules.errors import RuleFileError
from rules.loader import load_rule_files, parse_rule_document, scan_rule_files


def billion_laughs(levels: int = 9) -> str:
    """The classic alias bomb, as a rule file: ~570 bytes, 10**9 strings once expanded."""
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for level in range(1, levels + 1):
        refs = ",".join([f"*a{level - 1}"] * 10)
        lines.append(f"a{level}: &a{level} [{refs}]")
    return "name: bomb\nwhere: {field: x, op: eq, value: 1}\nextra:\n" + textwrap.indent("\n".join(lines), "  ") + "\n"


def cli(*args: str, timeout_s: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cepflow", *args], capture_output=True, text=True, timeout=timeout_s,
                          check=False)


def test_an_alias_bomb_is_refused_with_its_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(billion_laughs())
    assert path.stat().st_size < 700
    _, problems = scan_rule_files([path])
    [problem] = problems
    assert problem.source == path.as_posix() and problem.line is not None and problem.line > 3
    assert "aliases expanded" in problem.message


def test_rules_check_refuses_an_alias_bomb_quickly(tmp_path: Path) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(billion_laughs())
    result = cli("rules", "check", str(path), timeout_s=30)
    assert result.returncode == 2
    assert "bomb.yaml" in result.stderr and "aliases expanded" in result.stderr


def test_a_recursive_alias_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "loop.yaml"
    path.write_text("name: loop\nwhere: &w {all: [*w]}\n")
    [problem] = scan_rule_files([path])[1]
    assert "alias" in problem.message and problem.line == 2


def test_ordinary_aliases_still_work(tmp_path: Path) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text("name: a\nwhere: {all: [&c {field: x, op: eq, value: 1}, *c]}\n---\nname: b\n")
    [first, _] = load_rule_files([path])
    assert first.spec.where is not None


def test_the_alias_bound_counts_the_whole_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loader, "MAX_YAML_NODES", 50)
    path = tmp_path / "many.yaml"
    path.write_text("---\n".join(f"name: r{i}\nwhere: {{field: x, op: eq, value: {i}}}\n" for i in range(20)))
    [problem] = scan_rule_files([path])[1]
    assert "more than 50 nodes" in problem.message and problem.document is not None


def test_a_file_past_the_size_bound_is_refused_unread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loader, "MAX_FILE_BYTES", 100)
    path = tmp_path / "big.yaml"
    path.write_text("name: big\n# " + "x" * 200 + "\nwhere: {field: x, op: eq, value: 1}\n")
    [problem] = scan_rule_files([path])[1]
    assert "file too large" in problem.message


HOOK = """
name: hook
where: {{field: x, op: eq, value: 1}}
actions:
  - type: webhook
    endpoint: http://127.0.0.1:9/
    body:
      ok: "{{{{ event.x }}}}"
      text: "{bad}"
  - type: trigger_rule
    rule_id: other
    payload: {{n: "{{{{ event.x }}}}"}}
"""


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ("{% if %}", "syntax error"),
        ("{{ event.__class__ }}", "__class__"),
        ("{% macro m() %}{% endmacro %}", "macros"),
        ("{% set s %}x{% endset %}", "block assignments"),
        ("{% for x in event.l recursive %}{% endfor %}", "recursive loops"),
    ],
)
def test_templates_are_checked_when_rules_are_loaded_with_file_line_and_field(tmp_path: Path, bad: str,
                                                                              reason: str) -> None:
    path = tmp_path / "hook.yaml"
    path.write_text(textwrap.dedent(HOOK.format(bad=bad)).lstrip())
    with pytest.raises(RuleFileError) as caught:
        load_rule_files([path])
    [problem] = caught.value.problems
    assert problem.field == "actions.0.body.text" and problem.line == 8 and problem.document == 1
    assert reason in problem.message and problem.rule == "hook"
    [finding] = [f for f in check_rule_files([path], ["other"]) if f.level == "error"]
    assert finding.path == "actions.0.body.text" and reason in finding.message and "line 8" in finding.source


def test_templates_are_checked_in_rules_given_as_documents() -> None:
    doc = {"name": "r", "actions": [{"type": "trigger_rule", "rule_id": "t", "payload": {"a": ["ok", "{{ x"]}}]}
    with pytest.raises(RuleFileError) as caught:
        parse_rule_document(doc, "api")
    assert caught.value.problems[0].field == "actions.0.payload.a.1"


def test_valid_templates_pass(tmp_path: Path) -> None:
    path = tmp_path / "hook.yaml"
    path.write_text(textwrap.dedent(HOOK.format(bad="plain {text}")).lstrip())
    assert [item.spec.name for item in load_rule_files([path])] == ["hook"]


def test_rules_test_refuses_a_template_that_would_hang_the_offline_runner(tmp_path: Path) -> None:
    rules = tmp_path / "loop.yaml"
    loops = "{% for a in range(1000) %}{% for b in range(1000) %}{% for c in range(1000) %}{% endfor %}{% endfor %}{% endfor %}"
    rules.write_text(textwrap.dedent(f"""
        name: loop
        where: {{field: type, op: eq, value: go}}
        actions:
          - type: trigger_rule
            rule_id: sink
            payload: {{x: "{loops}"}}
        ---
        name: sink
        where: {{field: type, op: eq, value: never}}
    """).lstrip())
    events = tmp_path / "events.jsonl"
    events.write_text('{"type": "go", "ts": 1000}\n')
    result = cli("rules", "test", str(rules), "--events", str(events), timeout_s=60)
    assert "loop iterations" in result.stdout + result.stderr
