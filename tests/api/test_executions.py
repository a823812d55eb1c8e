"""The execution log over HTTP: every filter, bad filters as 400s, and a chain as a tree."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from storage.records import ExecLogRecord
from storage.repositories.exec_logs import ExecLogRepository
from storage.uow import unit_of_work
from tests.api.conftest import Api

pytestmark = pytest.mark.integration


def _row(unique: str, key: str, rule_id: str, rule: str, status: str, group: dict, event_id: str,
         depth: int, path: list[str], actions: list[dict] | None = None, reason: str | None = None) -> dict:
    return {"rule_id": rule_id, "rule_name": rule, "status": status, "reason": reason, "executed_by": "stream",
            "idempotency_key": f"{unique}-{key}", "group_key": group, "chain_id": f"chain-{unique}",
            "references": {"event_id": event_id, "actions": actions or [],
                           "chain": {"id": f"chain-{unique}", "depth": depth, "path": path}}}


def _chain(api: Api, unique: str) -> tuple[str, str]:
    """Rule A (webhook + trigger B) -> B (success); and B again, skipped for depth."""
    a = api.put("/rules", as_="author", json={"name": f"a-{unique}", "action": {"endpoint": "https://x.example"}}).json()
    b = api.put("/rules", as_="author", json={"name": f"b-{unique}", "action": {"endpoint": "https://y.example"}}).json()
    trigger = {"type": "trigger_rule", "ok": True, "target_rule_id": b["id"], "event_id": f"{unique}-ev2"}
    depth = {"type": "trigger_rule", "ok": True, "target_rule_id": b["id"], "event_id": f"{unique}-ev3",
             "skipped": "chain_depth"}
    rows = [
        _row(unique, "1", a["id"], a["name"], "success", {"host": "web-1"}, f"{unique}-ev1", 0, [a["id"]],
             [{"type": "webhook", "ok": True}, trigger, depth]),
        _row(unique, "2", b["id"], b["name"], "success", {}, f"{unique}-ev2", 1, [a["id"], b["id"]]),
        _row(unique, "3", b["id"], b["name"], "skipped", {}, f"{unique}-ev3", 0, [a["id"]], reason="chain_depth"),
    ]
    with unit_of_work(api.resources.sessions) as session:
        ExecLogRepository(session).insert([ExecLogRecord(**row) for row in rows])
    return a["name"], b["name"]


def test_filters(api: Api, unique: str):
    a, b = _chain(api, unique)
    assert [r["rule"] for r in api.get("/executions", params={"rule": a}).json()] == [a]
    assert len(api.get("/executions", params={"rule": b}).json()) == 2
    assert [r["reason"] for r in api.get("/executions", params={"rule": b, "status": "skipped"}).json()] == [
        "chain_depth"]
    by_group = api.get("/executions", params={"group": '{"host": "web-1"}', "chain": f"chain-{unique}"}).json()
    assert [r["rule"] for r in by_group] == [a]
    assert len(api.get("/executions", params={"chain": f"chain-{unique}", "since": "10m"}).json()) == 3
    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    assert api.get("/executions", params={"chain": f"chain-{unique}", "until": past}).json() == []
    assert len(api.get("/executions", params={"chain": f"chain-{unique}", "limit": 1}).json()) == 1


def test_bad_filters_are_400s_naming_the_field(api: Api):
    cases = [({"status": "done"}, "status"), ({"since": "yesterday"}, "since"), ({"until": "2026-01-01T00:00"}, "until"),
             ({"group": "{bad"}, "group"), ({"group": "[1]"}, "group"), ({"limit": 0}, "limit")]
    for params, field in cases:
        answer = api.get("/executions", params=params)
        assert answer.status_code == 400, (params, answer.text)
        assert answer.json()["errors"][0]["field"] == field
    assert api.get("/executions", params={"rule": "no-such-rule"}).status_code == 404


def test_a_chain_is_a_tree_event_rule_action_chained_rule(api: Api, unique: str):
    a, b = _chain(api, unique)
    tree = api.get(f"/chains/chain-{unique}").json()
    [event] = tree["events"]
    assert event["event_id"] == f"{unique}-ev1"
    [root] = event["executions"]
    assert root["rule"] == a
    webhook, trigger, depth = root["actions"]
    assert "executions" not in webhook
    assert [(e["rule"], e["status"]) for e in trigger["executions"]] == [(b, "success")]
    assert [(e["rule"], e["reason"]) for e in depth["executions"]] == [(b, "chain_depth")]
    assert tree["unlinked"] == []
    assert api.get("/chains/no-such-chain").status_code == 404
