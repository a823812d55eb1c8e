"""`examples/offline/*`: the runner's output is exactly the committed `expected.jsonl`."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from dataflow.offline import run_files

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "offline"


@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES.iterdir() if p.is_dir()))
def test_example_output(name: str) -> None:
    folder = EXAMPLES / name
    out, err = io.StringIO(), io.StringIO()
    assert run_files([folder / "rules.yaml"], folder / "events.jsonl", out=out, err=err) == 0, err.getvalue()
    assert out.getvalue() == (folder / "expected.jsonl").read_text()
