"""`POST /test` (the offline runner) and `POST /rules/{ref}/trigger` (the manual trigger)."""

from __future__ import annotations

import pytest

from cepflow.receiver import Receiver
from tests.api.conftest import Api, hot_rule

pytestmark = pytest.mark.integration

EVENTS = [{"id": "e1", "ts": 1_700_000_000_000, "host": "web-1", "value": 95},
          {"id": "e2", "ts": 1_700_000_001_000, "host": "web-1", "value": 10}]


def test_a_posted_rule_runs_over_posted_events_with_explain(api: Api, receiver: Receiver, unique: str):
    body = {"rules": [hot_rule(f"t-{unique}", receiver)], "events": EVENTS, "explain": True}
    answer = api.post("/test", as_="author", json=body)
    assert answer.status_code == 200, answer.text
    [line] = answer.json()["executions"]
    assert (line["rule"], line["group"], line["status"], line["action"]) == (
        f"t-{unique}", {"host": "web-1"}, "fired", "webhook")
    assert line["explain"][0]["result"] is True and line["explain"][0]["actual"] == 95
    assert receiver.requests == []  # no side effects


def test_a_stored_rule_is_named_by_id_or_name(api: Api, receiver: Receiver, unique: str):
    stored = api.put("/rules", as_="author", json=hot_rule(f"s-{unique}", receiver)).json()
    for ref in (stored["name"], stored["id"]):
        lines = api.post("/test", as_="author", json={"rules": [ref], "events": EVENTS}).json()["executions"]
        assert [line["status"] for line in lines] == ["fired"]
    missing = api.post("/test", as_="author", json={"rules": ["no-such-rule"], "events": EVENTS})
    assert missing.status_code == 404 and "rules.0" in missing.json()["detail"]


def test_bad_rules_and_events_are_400s_naming_the_field(api: Api, receiver: Receiver, unique: str):
    rule = hot_rule(f"b-{unique}", receiver)
    no_ts = api.post("/test", as_="author", json={"rules": [rule], "events": [EVENTS[0], {"value": 1}]})
    assert no_ts.status_code == 400 and no_ts.json()["errors"] == [
        {"field": "events.1.ts", "message": no_ts.json()["errors"][0]["message"]}]
    not_object = api.post("/test", as_="author", json={"rules": [rule], "events": [[1, 2]]})
    assert not_object.status_code == 400 and not_object.json()["errors"][0]["field"] == "events.0"
    bad_rule = api.post("/test", as_="author", json={"rules": [{"name": "x", "where": {"op": "gt"}}], "events": []})
    assert bad_rule.status_code == 400 and bad_rule.json()["errors"][0]["field"].startswith("where")
    assert "rules.0" in bad_rule.json()["detail"]
    twice = api.post("/test", as_="author", json={"rules": [rule, rule], "events": []})
    assert twice.status_code == 400 and twice.json()["errors"][0]["field"] == "rules"
    none = api.post("/test", as_="author", json={"rules": [], "events": []})
    assert none.status_code == 400 and none.json()["errors"][0]["field"] == "rules"


def test_trigger_logs_the_callers_name_and_runs_the_actions(api: Api, receiver: Receiver, unique: str):
    name = f"trg-{unique}"
    api.put("/rules", as_="author", json=hot_rule(name, receiver))
    cold = api.post(f"/rules/{name}/trigger", as_="operator", json={"payload": {"host": "web-1", "value": 1}})
    assert cold.status_code == 200, cold.text
    assert (cold.json()["status"], cold.json()["condition_met"]) == ("dry_run", False)
    dry = api.post(f"/rules/{name}/trigger", as_="operator", json={"payload": {"host": "web-1", "value": 99},
                                                                   "dry_run": True})
    assert dry.json()["status"] == "dry_run" and receiver.requests == []
    hot = api.post(f"/rules/{name}/trigger", as_="operator", json={"payload": {"host": "web-1", "value": 99}})
    assert hot.json()["status"] == "success", hot.text
    [request] = receiver.wait_for(1)
    assert request.json == {"host": "web-1"}
    rows = api.get("/executions", params={"rule": name}).json()
    assert [(r["status"], r["executed_by"]) for r in rows] == [("success", api.names["operator"])] + [
        ("dry_run", api.names["operator"])] * 2


def test_trigger_errors(api: Api, receiver: Receiver, unique: str):
    missing = api.post("/rules/no-such-rule/trigger", as_="operator", json={})
    assert missing.status_code == 404 and "not found" in missing.json()["detail"]
    api.put("/rules", as_="author", json=hot_rule(f"e-{unique}", receiver))
    bad = api.post(f"/rules/e-{unique}/trigger", as_="operator", json={"payload": [1]})
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "payload"
    flag = api.post(f"/rules/e-{unique}/trigger", as_="operator", json={"dry_run": "perhaps"})
    assert flag.status_code == 400 and flag.json()["errors"][0]["field"] == "dry_run"
