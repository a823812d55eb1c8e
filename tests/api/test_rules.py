"""Rules over HTTP: validation errors with field paths and nothing stored, list with state,
history with who changed what, rollback, enable/disable, delete."""

from __future__ import annotations

import pytest

from storage.records import ExecLogRecord
from storage.repositories.exec_logs import ExecLogRepository
from storage.uow import unit_of_work
from tests.api.conftest import Api

pytestmark = pytest.mark.integration


def _rule(name: str, **extra) -> dict:
    return {"name": name, "where": {"field": "value", "op": "gt", "value": 90}, "group_by": ["host"],
            "action": {"endpoint": "https://hooks.example.com/x"}, **extra}


def test_apply_stores_a_version_recorded_with_the_callers_name(api: Api, unique: str):
    name = f"r-{unique}"
    created = api.put("/rules", as_="author", json=_rule(name))
    assert created.status_code == 200, created.text
    assert (created.json()["version"], created.json()["changed"]) == (1, True)
    same = api.put("/rules", as_="author", json=_rule(name))
    assert (same.json()["version"], same.json()["changed"]) == (1, False)
    api.put("/rules", as_="admin", json=_rule(name, description="hot"))
    history = api.get(f"/rules/{name}/history").json()
    assert [(h["version"], h["action"], h["changed_by"]) for h in history] == [
        (1, "create", api.names["author"]), (2, "update", api.names["admin"])]
    assert history[1]["changes"] == [{"field": "description", "old": "", "new": "hot"}]
    got = api.get(f"/rules/{created.json()['id']}").json()
    assert got["name"] == name and got["spec"]["description"] == "hot"


def test_an_invalid_rule_is_a_400_naming_each_field_and_nothing_is_stored(api: Api, unique: str):
    name = f"bad-{unique}"
    doc = {"name": name, "detect": {"kind": "threshold", "window": {"type": "sliding", "size": "5m"},
                                    "aggregate": {"fn": "count"}, "having": {"op": "gt ", "value": 3}},
           "action": {"type": "webhook"}}
    answer = api.put("/rules", as_="author", json=doc)
    assert answer.status_code == 400
    fields = {e["field"] for e in answer.json()["errors"]}
    assert {"detect.having.op", "action.endpoint"} <= fields, answer.json()
    assert "request body" in answer.json()["detail"]
    assert api.get(f"/rules/{name}").status_code == 404
    assert api.get(f"/rules/{name}/history").status_code == 404


def test_validate_checks_without_storing(api: Api, unique: str):
    ok = api.post("/rules/validate", as_="viewer", json=_rule(f"v-{unique}"))
    assert ok.json() == {"valid": True, "name": f"v-{unique}"}
    bad = api.post("/rules/validate", as_="viewer", json={"name": f"v-{unique}", "where": {"field": "a", "op": "nope"}})
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"].startswith("where")
    assert api.get(f"/rules/v-{unique}").status_code == 404
    assert api.get("/rules/schema").json()["type"] == "object"


def test_bodies_that_are_not_objects_name_the_body(api: Api):
    answer = api.put("/rules", as_="author", json=["not", "a", "rule"])
    assert answer.status_code == 400 and answer.json()["errors"][0]["field"] == "body"
    answer = api.put("/rules", as_="author", content=b"{not json", headers={"Content-Type": "application/json"})
    assert answer.status_code == 400 and answer.json()["errors"][0]["field"] == "body"
    deep = b"[" * 100_000 + b"]" * 100_000  # the JSON parser's recursion limit, not a crash
    answer = api.put("/rules", as_="author", content=deep, headers={"Content-Type": "application/json"})
    assert answer.status_code == 400 and answer.json()["errors"][0]["field"] == "body"


def test_a_name_taken_by_another_rule_is_a_409(api: Api, unique: str):
    first = api.put("/rules", as_="author", json=_rule(f"a-{unique}")).json()
    api.put("/rules", as_="author", json=_rule(f"b-{unique}"))
    renamed = api.put("/rules", as_="author", json={**_rule(f"b-{unique}"), "id": first["id"]})
    assert renamed.status_code == 409 and "already belongs" in renamed.json()["detail"]


def test_list_shows_state_last_fire_and_fires_in_the_last_hour(api: Api, unique: str):
    rule = api.put("/rules", as_="author", json=_rule(f"l-{unique}")).json()
    rows = [{"rule_id": rule["id"], "rule_name": rule["name"], "status": status, "executed_by": "stream",
             "idempotency_key": f"{unique}-{i}"} for i, status in enumerate(["success", "fail", "skipped"])]
    with unit_of_work(api.resources.sessions) as session:
        ExecLogRepository(session).insert([ExecLogRecord(**row) for row in rows])
    api.post(f"/rules/{rule['name']}/disable", as_="author")
    [listed] = [r for r in api.get("/rules").json() if r["name"] == rule["name"]]
    assert (listed["active"], listed["version"], listed["fires_last_hour"]) == (False, 2, 2)
    assert listed["last_fire"] is not None


def test_enable_disable_rollback_delete(api: Api, unique: str):
    name = f"m-{unique}"
    api.put("/rules", as_="author", json=_rule(name))
    api.put("/rules", as_="author", json=_rule(name, description="v2"))
    assert api.post(f"/rules/{name}/disable", as_="author").json()["active"] is False
    assert api.post(f"/rules/{name}/enable", as_="author").json()["active"] is True
    back = api.post(f"/rules/{name}/rollback", as_="author", json={"to_version": 1}).json()
    assert back["version"] == 5 and api.get(f"/rules/{name}").json()["spec"]["description"] == ""
    missing = api.post(f"/rules/{name}/rollback", as_="author", json={"to_version": 99})
    assert missing.status_code == 404 and "v99" in missing.json()["detail"]
    bad = api.post(f"/rules/{name}/rollback", as_="author", json={"to_version": "one"})
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "to_version"
    assert api.delete(f"/rules/{name}", as_="author").status_code == 200
    assert api.get(f"/rules/{name}").status_code == 404
    actions = [(h["action"], h["changed_by"]) for h in api.get(f"/rules/{name}/history").json()]
    assert actions[-1] == ("delete", api.names["author"])
    assert api.delete(f"/rules/{name}", as_="author").status_code == 404
    assert api.post(f"/rules/{name}/enable", as_="author").status_code == 404
