"""Every example rule file, run over its sample events by `cepflow rules test`, gives exactly the
executions in `examples/expected/` — worked out by hand from RULES.md §4 (e.g. web-cpu-hot: web-1
is over 90 at 40 s, 130 s and 190 s, so the third reading fires with count 3; orders-too-few: the
epoch-aligned minute [100 s, 160 s) holds 3 orders and closes at 160 s, the next window is still
open at the last event), then checked against the runner."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from dataflow.offline import run_files

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
RULE_FILES = sorted(p for p in (EXAMPLES / "rules").iterdir() if p.suffix in (".yaml", ".json"))


@pytest.mark.parametrize("rule_file", RULE_FILES, ids=lambda p: p.stem)
def test_example_matches_its_expected_executions(rule_file: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    assert run_files([rule_file], EXAMPLES / "events" / f"{rule_file.stem}.jsonl", out=out, err=err) == 0, err.getvalue()
    got = [json.loads(line) for line in out.getvalue().splitlines()]
    expected = [json.loads(line) for line in (EXAMPLES / "expected" / f"{rule_file.stem}.jsonl").read_text().splitlines()]
    assert got == expected
    assert got, "every example fires at least once"


def test_explain_shows_each_leaf_with_its_actual_value() -> None:
    out = io.StringIO()
    rule = EXAMPLES / "rules" / "threshold-web-cpu-hot.yaml"
    assert run_files([rule], EXAMPLES / "events" / "threshold-web-cpu-hot.jsonl", explain=True, out=out) == 0
    fired = json.loads(out.getvalue().splitlines()[0])
    leaves = json.dumps(fired)
    assert '"actual": 91.5' in leaves and '"startswith"' in leaves


def test_invalid_events_file_exits_2_naming_line_and_field(tmp_path: Path) -> None:
    events = tmp_path / "bad.jsonl"
    events.write_text('{"type": "cpu", "ts": 1}\n{"type": "cpu"}\n')
    err = io.StringIO()
    assert run_files([RULE_FILES[0]], events, out=io.StringIO(), err=err) == 2
    assert "bad.jsonl" in err.getvalue() and "2" in err.getvalue() and "ts" in err.getvalue()
