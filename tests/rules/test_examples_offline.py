"""Every example rule file, run over its sample events by the offline runner (`cepflow rules test`),
gives exactly the executions in `examples/expected/`. Those files were worked out by hand from
RULES.md §4 before they were compared with the runner; `examples/expected/README.md` shows the
reasoning for each. (`examples/offline/*`, with chains, a cycle and the depth limit, are checked
the same way by `tests/dataflow/test_examples.py`.)"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from dataflow.offline import run_files

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
RULE_FILES = sorted(p for p in (EXAMPLES / "rules").iterdir() if p.suffix in (".yaml", ".json"))


def run(rule_file: Path, explain: bool = False) -> list[dict[str, Any]]:
    out, err = io.StringIO(), io.StringIO()
    events = EXAMPLES / "events" / f"{rule_file.stem}.jsonl"
    assert run_files([rule_file], events, explain, out=out, err=err) == 0, err.getvalue()
    assert err.getvalue() == "", "no example event is late or invalid"
    return [json.loads(line) for line in out.getvalue().splitlines()]


def leaves(condition: Any) -> int:
    """How many leaves a `where` has, in any of its forms (all/any/not, seed logic/conditions)."""
    if condition is None:
        return 0
    if "field" in condition:
        return 1
    if "not" in condition:
        return leaves(condition["not"])
    children = condition.get("all") or condition.get("any") or condition.get("conditions")
    return sum(leaves(child) for child in children)


def where_leaves(rule_file: Path) -> dict[str, int]:
    text = rule_file.read_text()
    documents = [json.loads(text)] if rule_file.suffix == ".json" else list(yaml.safe_load_all(text))
    return {doc["name"]: leaves(doc.get("where")) for doc in documents}


@pytest.mark.parametrize("rule_file", RULE_FILES, ids=lambda p: p.stem)
def test_example_gives_its_hand_computed_executions(rule_file: Path) -> None:
    expected = (EXAMPLES / "expected" / f"{rule_file.stem}.jsonl").read_text().splitlines()
    assert expected, "every example fires at least once"
    assert run(rule_file) == [json.loads(line) for line in expected]


@pytest.mark.parametrize("rule_file", RULE_FILES, ids=lambda p: p.stem)
def test_explain_adds_every_leaf_with_its_verdict_and_actual_value(rule_file: Path) -> None:
    plain, explained = run(rule_file), run(rule_file, explain=True)
    assert [{k: v for k, v in line.items() if k != "explain"} for line in explained] == plain
    counts = where_leaves(rule_file)
    for line in explained:
        assert len(line["explain"]) == counts[line["rule"]], line
        for leaf in line["explain"]:
            assert {"field", "op", "actual", "result"} <= leaf.keys() and isinstance(leaf["result"], bool)


def test_explain_of_the_cpu_example_by_hand() -> None:
    (fired,) = run(EXAMPLES / "rules" / "threshold-web-cpu-hot.yaml", explain=True)
    assert fired["explain"] == [
        {"field": "value", "op": "gt", "expected": 90, "actual": 91.5, "result": True},
        {"field": "host", "op": "startswith", "expected": "web-", "actual": "web-1", "result": True},
    ]
