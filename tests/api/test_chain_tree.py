"""The chain tree on its own (pure): what no root reaches is kept, not dropped."""

from __future__ import annotations

from cepflow.api.chain_tree import chain_tree


def test_rows_reached_from_no_root_are_unlinked():
    orphan = {"id": 1, "references": {"event_id": "x", "chain": {"depth": 2}, "actions": []}}
    assert chain_tree([orphan]) == {"events": [], "unlinked": [orphan]}


def test_a_trigger_action_holds_the_executions_it_caused():
    root = {"id": 1, "references": {"event_id": "e", "chain": {"depth": 0},
                                    "actions": [{"type": "trigger_rule", "event_id": "c1"}, {"type": "webhook"}]}}
    child = {"id": 2, "references": {"event_id": "c1", "chain": {"depth": 1}, "actions": []}}
    tree = chain_tree([root, child])
    [event] = tree["events"]
    [node] = event["executions"]
    trigger, webhook = node["actions"]
    assert [e["id"] for e in trigger["executions"]] == [2] and "executions" not in webhook
    assert tree["unlinked"] == []
