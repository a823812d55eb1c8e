"""Loading rule and script API files: every problem names file, document, line and field."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from rules.errors import RuleFileError
from rules.loader import (
    Loaded,
    load_rule_files,
    load_script_api_files,
    parse_rule_document,
    parse_script_api_document,
    scan_rule_files,
)
from rules.model import RuleSpec


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def error_lines(*paths: Path) -> list[str]:
    with pytest.raises(RuleFileError) as caught:
        load_rule_files(paths)
    return str(caught.value).splitlines()


MULTI = """
# first rule
name: cpu-ok
where: {field: value, op: gt, value: 90}
---
name: cpu-bad
detect:
  kind: threshold
  window: {type: sliding, size: 5m}
  aggregate: {fn: count}
  having: {op: "gt ", value: 3}
action:
  endpoint: ftp://example.com
---
name: seed-bad
where:
  logic: AND
  conditions:
    - {field: x, op: in, value: 3}
"""


def test_multi_document_errors_name_file_document_line_and_field(tmp_path):
    path = write(tmp_path, "cpu.yaml", MULTI)
    lines = error_lines(path)
    source = path.as_posix()
    assert lines == [
        f"{source}: document 2 (line 10): detect.having.op: Input should be 'gt', 'gte', 'lt', 'lte', 'eq' or 'ne' (got 'gt ')",
        f"{source}: document 2 (line 12): action.endpoint: endpoint must be an http:// or https:// URL (got 'ftp://example.com')",
        f"{source}: document 3 (line 18): where.conditions.0.value: op 'in' needs a list value like [a, b] (got int 3)",
    ]


def test_problem_objects_carry_the_parts(tmp_path):
    path = write(tmp_path, "cpu.yaml", MULTI)
    with pytest.raises(RuleFileError) as caught:
        load_rule_files([path])
    first = caught.value.problems[0]
    assert (first.source, first.document, first.line, first.field, first.rule) == (path.as_posix(), 2, 10, "detect.having.op", "cpu-bad")


def test_missing_field_points_at_the_enclosing_mapping(tmp_path):
    path = write(tmp_path, "a.yaml", """
        name: seq
        detect:
          kind: sequence
          steps: [{name: a}, {name: b}]
    """)
    assert error_lines(path) == [f"{path.as_posix()}: document 1 (line 2): detect.within: required field is missing"]


def test_valid_files_load_in_order(tmp_path):
    path = write(tmp_path, "ok.yaml", """
        name: one
        ---
        ---
        name: two
        match: {type: cpu}
    """)
    loaded = load_rule_files([path])
    assert [(item.spec.name, item.document, item.line) for item in loaded] == [("one", 1, 1), ("two", 3, 4)]
    assert isinstance(loaded[0], Loaded) and isinstance(loaded[0].spec, RuleSpec)
    assert loaded[1].location == f"{path.as_posix()}: document 3 (line 4)"


def test_yaml_dates_stay_strings_and_yaml_booleans(tmp_path):
    path = write(tmp_path, "d.yaml", """
        name: dates
        where: {field: day, op: eq, value: 2024-01-01}
        active: true
    """)
    [item] = load_rule_files([path])
    assert item.spec.where.value == "2024-01-01"


def test_duplicate_key_is_an_error(tmp_path):
    path = write(tmp_path, "dup.yaml", """
        name: a
        where: {field: x, op: exists}
        where: {field: y, op: exists}
    """)
    [line] = error_lines(path)
    assert line.startswith(f"{path.as_posix()}: document 1 (line 3): invalid YAML: found duplicate key 'where'")


def test_yaml_syntax_error(tmp_path):
    path = write(tmp_path, "bad.yaml", """
        name: ok
        ---
        name: [unclosed
    """)
    [line] = error_lines(path)
    assert line.startswith(f"{path.as_posix()}: document 2 (line ") and "invalid YAML" in line


def test_document_must_be_a_mapping(tmp_path):
    path = write(tmp_path, "list.yaml", "- name: a\n")
    assert error_lines(path) == [f"{path.as_posix()}: document 1 (line 1): a document must be a mapping of fields (got list)"]


def test_duplicate_names_across_files(tmp_path):
    first = write(tmp_path, "a.yaml", "name: same\n")
    second = write(tmp_path, "b.yaml", "description: x\nname: same\n")
    assert error_lines(first, second) == [
        f"{second.as_posix()}: document 1 (line 2): name: duplicate name 'same' (first in {first.as_posix()}: document 1 (line 1))"
    ]


def test_duplicate_ids(tmp_path):
    uid = "0b7c6f1e-3a55-4c8e-9d7e-0d1a2b3c4d5e"
    path = write(tmp_path, "a.yaml", f"name: a\nid: {uid}\n---\nname: b\nid: {uid}\n")
    [line] = error_lines(path)
    assert f"document 2 (line 5): id: duplicate id '{uid}'" in line


def test_json_files_object_and_list(tmp_path):
    one = write(tmp_path, "one.json", '{"name": "j1", "where": {"field": "a", "op": "exists"}}')
    many = write(tmp_path, "many.json", '[\n  {"name": "j2"},\n  {"name": "j3",\n   "cooldown": "5m"}\n]')
    loaded = load_rule_files([one, many])
    assert [(i.spec.name, i.document, i.line) for i in loaded] == [("j1", 1, 1), ("j2", 1, 2), ("j3", 2, 3)]


def test_json_errors_have_lines(tmp_path):
    bad = write(tmp_path, "bad.json", '[\n  {"name": "ok"},\n  {"name": "x",\n   "cooldown": "5 min"}\n]')
    assert error_lines(bad) == [f"{bad.as_posix()}: document 2 (line 4): cooldown: expected a duration like 500ms, 30s, 5m, 2h, 1d or an integer of milliseconds (got '5 min')"]
    broken = write(tmp_path, "broken.json", '{"name": "x",\n "where": }')
    [line] = error_lines(broken)
    assert line.startswith(f"{broken.as_posix()}: line 2: invalid JSON")
    dup = write(tmp_path, "dup.json", '{"name": "x", "name": "y"}')
    assert "duplicate key 'name'" in error_lines(dup)[0]


def test_unreadable_file(tmp_path):
    missing = tmp_path / "nope.yaml"
    [line] = error_lines(missing)
    assert line.startswith(f"{missing.as_posix()}: cannot read file")


def test_directory_stands_for_its_rule_files(tmp_path):
    write(tmp_path, "b.yaml", "name: b\n")
    write(tmp_path, "a.yml", "name: a\n")
    write(tmp_path, "c.json", '{"name": "c"}')
    write(tmp_path, "notes.txt", "not a rule")
    (tmp_path / "sub").mkdir()
    write(tmp_path, "sub/d.yaml", "name: d\n")
    assert [item.spec.name for item in load_rule_files([tmp_path])] == ["a", "b", "c"]


def test_all_files_are_reported_at_once(tmp_path):
    first = write(tmp_path, "a.yaml", "name: a\ncooldown: soon\n")
    second = write(tmp_path, "b.yaml", "name: b\nactive: maybe\n")
    lines = error_lines(first, second)
    assert len(lines) == 2 and lines[0].startswith(first.as_posix()) and lines[1].startswith(second.as_posix())


def test_scan_returns_valid_rules_and_problems(tmp_path):
    path = write(tmp_path, "mixed.yaml", "name: good\n---\nname: bad\ncooldown: x\n")
    loaded, problems = scan_rule_files([path])
    assert [item.spec.name for item in loaded] == ["good"]
    assert [(p.field, p.document, p.rule) for p in problems] == [("cooldown", 2, "bad")]


def test_parse_rule_document_labels_with_source():
    assert parse_rule_document({"name": "x"}, "api").name == "x"
    with pytest.raises(RuleFileError) as caught:
        parse_rule_document({"name": "x", "action": {"type": "api_script"}}, "POST /rules")
    assert str(caught.value) == "POST /rules: action: api_id is required"
    with pytest.raises(RuleFileError) as caught:
        parse_rule_document(["x"], "api")
    assert str(caught.value) == "api: a document must be a mapping of fields (got list)"


def test_script_api_files(tmp_path):
    path = write(tmp_path, "apis.yaml", """
        name: open-incident
        source: |
          def main(params, input, context):
              return {"ok": True}
        ---
        name: slow
        timeout: 5 s
        source: "def main(params, input, context): pass"
        ---
        name: broken
        source: |
          def main(params, input, context) return 1
    """)
    with pytest.raises(RuleFileError) as caught:
        load_script_api_files([path])
    lines = str(caught.value).splitlines()
    assert lines[0] == f"{path.as_posix()}: document 2 (line 7): timeout: expected a duration like 500ms, 30s, 5m, 2h, 1d or an integer of milliseconds (got '5 s')"
    assert lines[1].startswith(f"{path.as_posix()}: document 3 (line 10): source is not valid Python: line 1")
    assert parse_script_api_document({"name": "a", "source": "def main(p, i, c): pass"}, "api").name == "a"


def test_yaml_merge_keys_may_be_overridden(tmp_path):
    path = write(tmp_path, "merge.yaml", """
        name: merged2
        action:
          <<: {endpoint: "https://h/x", timeout: 5s}
          timeout: 1s
    """)
    assert load_rule_files([path])[0].spec.actions[0].timeout == 1000
