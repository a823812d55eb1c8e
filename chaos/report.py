"""The chaos table: one line per scenario, the columns of issue 12."""

from __future__ import annotations

from typing import Any

COLUMNS = ("scenario", "executions expected/logged", "lost", "duplicated", "unexpected",
           "webhooks lost/dup", "re-delivered same id", "late events", "engine exits", "recovery s", "verdict")


def _recovery(values: list[float | None]) -> str:
    if not values:
        return "-"
    if any(v is None for v in values):
        return "never"
    return f"{max(v for v in values if v is not None):.1f}" + (f" (max of {len(values)})" if len(values) > 1 else "")


def row(result: dict[str, Any]) -> list[str]:
    """One scenario as a row of the table."""
    if "error" in result:
        return [result["title"], *["-"] * (len(COLUMNS) - 2), f"ERROR: {result['error']}"]
    v = result["verdict"]
    return [
        result["title"],
        f"{v['executions_expected']}/{v['executions_logged']}",
        str(v["executions_lost"]),
        str(v["executions_duplicated"]),
        str(v["executions_unexpected"]),
        f"{v['webhooks_lost']}/{v['webhooks_duplicated']}",
        str(v["redelivered_same_id"]),
        str(result.get("late_events", "-")),
        str(result["unplanned_exits"]),
        _recovery(result["recovery_s"]),
        "PASS" if v["ok"] and result["unplanned_exits"] == 0 and "never" != _recovery(result["recovery_s"])
        else "FAIL",
    ]


def table(results: list[dict[str, Any]]) -> str:
    """A Markdown table of the scenarios (the README shows it)."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(row(result)) + " |" for result in results]
    return "\n".join(lines)
