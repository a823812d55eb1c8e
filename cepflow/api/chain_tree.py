"""A chain of executions as a tree: event -> rule execution -> action -> chained rule execution.

Pure: built from execution-log rows (as dicts). The link between a `trigger_rule` action and
the execution it caused is the chain event's id: the action's summary holds it as `event_id`,
and the target's execution (or its `skipped` row) has it as `references.event_id`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any


def _event_id(row: dict[str, Any]) -> str | None:
    return (row.get("references") or {}).get("event_id")


def _depth(row: dict[str, Any]) -> int:
    return int(((row.get("references") or {}).get("chain") or {}).get("depth", 0))


def chain_tree(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """`{"events": [{"event_id", "executions": [node]}], "unlinked": [row]}` for rows of one chain.

    A node is the row plus `actions`, each `trigger_rule` action with the `executions` it caused.
    Rows reached from no root (a redrive, or a parent outside the rows given) are `unlinked`.
    """
    by_event: dict[str | None, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_event[_event_id(row)].append(row)
    reached: set[int] = set()

    def node(row: dict[str, Any]) -> dict[str, Any]:
        reached.add(id(row))
        actions = []
        for action in (row.get("references") or {}).get("actions") or []:
            item = dict(action)
            if action.get("type") == "trigger_rule":
                caused = by_event.get(action.get("event_id"), [])
                item["executions"] = [node(child) for child in caused if id(child) not in reached]
            actions.append(item)
        return {**row, "actions": actions}

    events = []
    for event_id, group in by_event.items():
        roots = [row for row in group if _depth(row) == 0 and id(row) not in reached]
        if roots:
            events.append({"event_id": event_id, "executions": [node(row) for row in roots]})
    unlinked = [row for row in rows if id(row) not in reached]
    return {"events": events, "unlinked": unlinked}
