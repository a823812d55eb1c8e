"""The chaos table: a scenario passes only with a clean history, no unplanned exit and a recovery."""

from __future__ import annotations

from chaos.history import check
from chaos.report import row, table

A = ("big-order", "shop=s1", 1)


def result(verdict, exits=0, recovery=(2.0,)):
    return {"title": "t", "verdict": verdict.as_dict(), "unplanned_exits": exits, "recovery_s": list(recovery)}


def test_a_clean_scenario_passes():
    line = row(result(check([], [], [], [])))
    assert line[-1] == "PASS"


def test_losses_exits_and_no_recovery_each_fail_a_scenario():
    lost = check([A], [], [], [])
    clean = check([], [], [], [])
    assert row(result(lost))[-1] == "FAIL"
    assert row(result(clean, exits=1))[-1] == "FAIL"
    assert row(result(clean, recovery=(2.0, None)))[-1] == "FAIL"
    assert row(result(clean, recovery=(2.0, None)))[-2] == "never"


def test_the_table_has_a_line_per_scenario_and_errors_show():
    text = table([result(check([], [], [], [])), {"title": "broken", "error": "RuntimeError: x"}])
    lines = text.splitlines()
    assert len(lines) == 4
    assert "ERROR: RuntimeError: x" in lines[-1]
