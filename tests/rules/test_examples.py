"""The example rules load, validate against the JSON Schema, pass `rules check`, cover every kind and
action type, and their sample events contain what makes each rule fire (checked by a tiny oracle)."""

from __future__ import annotations

import itertools
import json
import operator
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from dataflow.conditions import compile_condition, get_path
from rules.check import check_rule_files
from rules.loader import load_rule_files, load_script_api_files
from rules.model import ACTION_TYPES, DETECT_KINDS, RuleSpec
from rules.schema import rule_json_schema, script_api_json_schema

ROOT = Path(__file__).parents[2] / "examples"
RULE_FILES = sorted(p for p in (ROOT / "rules").iterdir() if p.suffix in (".yaml", ".json"))
API_FILES = sorted((ROOT / "rules" / "apis").glob("*.yaml"))
LOADED = load_rule_files(RULE_FILES)


def raw_documents(path: Path) -> list[dict[str, Any]]:
    text = path.read_text()
    return [json.loads(text)] if path.suffix == ".json" else [d for d in yaml.safe_load_all(text) if d is not None]


def events_of(path: Path) -> list[dict[str, Any]]:
    lines = (ROOT / "events" / f"{path.stem}.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def ts(event: dict[str, Any]) -> int:
    value = event["ts"]
    return value if isinstance(value, int) else int(datetime.fromisoformat(value).timestamp() * 1000)


def test_examples_load_without_duplicates():
    assert len(LOADED) == len({item.spec.name for item in LOADED}) >= 12
    assert [api.spec.name for api in load_script_api_files(API_FILES)] == ["open-incident"]


def test_examples_cover_every_kind_and_action_type():
    specs = [item.spec for item in LOADED]
    assert {s.detect.kind for s in specs} == set(DETECT_KINDS)
    assert {a.type for s in specs for a in s.actions} == set(ACTION_TYPES)
    thresholds = [s.detect for s in specs if s.detect.kind == "threshold"]
    assert {d.window.type for d in thresholds} == {"sliding", "tumbling"}
    assert any(d.having.op == "lt" for d in thresholds)
    assert any(s.detect.kind == "each" and s.detect.for_ for s in specs)
    assert any(s.detect.kind == "sequence" and s.detect.steps[-1].absent for s in specs)


@pytest.mark.parametrize("path", RULE_FILES, ids=lambda p: p.name)
def test_examples_validate_against_the_json_schema(path):
    validator = jsonschema.Draft202012Validator(rule_json_schema())
    for document in raw_documents(path):
        assert list(validator.iter_errors(document)) == []
        stored = RuleSpec.model_validate(document).to_document()
        assert list(validator.iter_errors(stored)) == []


def test_script_api_examples_validate_against_the_json_schema():
    validator = jsonschema.Draft202012Validator(script_api_json_schema())
    for path in API_FILES:
        assert list(validator.iter_errors(yaml.safe_load(path.read_text()))) == []


def test_examples_pass_rules_check():
    assert check_rule_files(RULE_FILES, known_rules=["open-incident"]) == []


# --- a tiny oracle: does the sample contain a firing for each rule? ------------------------------


def read_by(spec: RuleSpec, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    types = spec.match.type
    return sorted((e for e in events if types is None or e.get("type") in types), key=ts)


def groups(spec: RuleSpec, events: list[dict[str, Any]]) -> dict[tuple, list[dict[str, Any]]]:
    by_group: dict[tuple, list[dict[str, Any]]] = defaultdict(list)
    for event in events:
        by_group[tuple(get_path(event, path) for path in spec.group_by)].append(event)
    return by_group


HAVING = {"gt": operator.gt, "gte": operator.ge, "lt": operator.lt, "lte": operator.le, "eq": operator.eq, "ne": operator.ne}


def aggregate(fn: str, field: str | None, events: list[dict[str, Any]]) -> float | None:
    values = [get_path(e, field) for e in events] if field else []
    return {"count": lambda: len(events), "sum": lambda: sum(values), "distinct": lambda: len(set(values)),
            "avg": lambda: sum(values) / len(values) if values else None,
            "min": lambda: min(values, default=None), "max": lambda: max(values, default=None)}[fn]()


def fires(spec: RuleSpec, events: list[dict[str, Any]]) -> bool:
    where = compile_condition(spec.where)
    read = read_by(spec, events)
    passed = [e for e in read if where(e)]
    end = max(ts(e) for e in events)
    detect = spec.detect
    if detect.kind == "each" and detect.for_ is None:
        return bool(passed)
    if detect.kind == "each":
        for members in groups(spec, read).values():
            start = None
            for event in members:
                if not where(event):
                    start = None
                elif start is None:
                    start = ts(event)
                if start is not None and ts(event) >= start + detect.for_:
                    return True
            if start is not None and start + detect.for_ <= end:
                return True
        return False
    if detect.kind == "threshold":
        check = HAVING[detect.having.op]
        for members in groups(spec, passed).values():
            if detect.window.type == "sliding":
                for event in members:
                    window = [e for e in members if ts(event) - detect.window.size < ts(e) <= ts(event)]
                    value = aggregate(detect.aggregate.fn, detect.aggregate.field, window)
                    if value is not None and check(value, detect.having.value):
                        return True
            else:
                size = detect.window.size
                start = ts(members[0]) // size * size
                while start + size <= end:
                    window = [e for e in members if start <= ts(e) < start + size]
                    value = aggregate(detect.aggregate.fn, detect.aggregate.field, window)
                    if value is not None and check(value, detect.having.value):
                        return True
                    start += size
        return False
    if detect.kind == "sequence":
        steps = [compile_condition(step.where) for step in detect.steps]
        for members in groups(spec, passed).values():
            for i, first in enumerate(members):
                if not steps[0](first):
                    continue
                position, later = 1, [e for e in members[i + 1:] if ts(e) <= ts(first) + detect.within]
                for event in later:
                    if position < len(steps) and steps[position](event):
                        position += 1
                if detect.steps[-1].absent:
                    if position == len(steps) - 1 and ts(first) + detect.within <= end:
                        return True
                elif position == len(steps):
                    return True
        return False
    if detect.kind == "absence":
        return any(ts(m[-1]) + detect.for_ <= end for m in groups(spec, passed).values())
    values = {key: [get_path(e, detect.field) for e in m] for key, m in groups(spec, passed).items()}
    if detect.kind == "change":
        return any(a != b for vs in values.values() for a, b in itertools.pairwise(vs))
    return any(len(set(vs)) > 1 for vs in values.values())  # new_value


@pytest.mark.parametrize("item", LOADED, ids=lambda item: item.spec.name)
def test_sample_events_make_each_rule_fire(item):
    spec = item.spec
    events = events_of(Path(item.path))
    assert all(isinstance(e.get("id"), str) and "type" in e and "ts" in e for e in events)
    if spec.match.chain_only:
        triggers = [a for other in LOADED for a in other.spec.actions if getattr(a, "rule_id", None) == spec.name]
        assert triggers, "a chain-only example must be triggered by another example"
        payload = {key: "x" for key in triggers[0].payload}
        assert compile_condition(spec.where)(payload)
    else:
        assert fires(spec, events)
