"""Dead letters over HTTP on the real Kafka topic: listed, redriven one at a time, never twice."""

from __future__ import annotations

import time

import pytest

from actions.pipeline import DEAD_LETTER_PURPOSE
from cepflow.receiver import Receiver
from dataflow.kafka_out import OutMessage, ReliableProducer
from tests.api.conftest import Api

pytestmark = pytest.mark.integration


def _letter(api: Api, action_id: str, rule: dict) -> bytes:
    """A dead letter as the pipeline writes it: sealed with the deployment's key, naming the
    stored rule revision whose action a redrive runs."""
    context = {"event": {"id": "e1", "host": "web-1"}, "events": {},
               "match": {"group": {"host": "web-1"}, "fired_at": 5, "value": None, "window_start": None,
                         "window_end": None, "rule": rule["name"], "rule_id": rule["id"]},
               "chain": {"id": action_id, "depth": 0, "path": [rule["id"]]}}
    letter = {"action_id": action_id, "idempotency_key": action_id, "rule_id": rule["id"], "rule": rule["name"],
              "rule_version": rule["version"], "action_index": 0, "action": {"type": "webhook"},
              "context": context, "error": "HTTP 503", "executed_by": "stream", "failed_at_ms": int(time.time() * 1000)}
    return api.resources.sealer.seal(DEAD_LETTER_PURPOSE, letter)


def test_list_and_redrive_one_then_never_twice(api: Api, receiver: Receiver, unique: str):
    topic = api.resources.settings.action_dead_letter_topic
    producer = ReliableProducer(api.resources.settings.brokers)
    rule = api.put("/rules", as_="author", json={"name": f"dl-{unique}", "action": {
        "endpoint": receiver.url("/dl"), "body": {"host": "{{ event.host }}"}}}).json()
    for key in ("a", "b"):
        producer.send(OutMessage(topic, _letter(api, f"{unique}-{key}", rule)))
    producer.flush()
    listed = api.get("/dead-letters", params={"rule": f"dl-{unique}"}).json()
    assert [(d["action_id"], d["delivered"], d["redrives"]) for d in listed] == [
        (f"{unique}-a", False, 0), (f"{unique}-b", False, 0)]
    assert listed[0]["error"] == "HTTP 503"
    done = api.post("/dead-letters/redrive", as_="operator", json={"action_ids": [f"{unique}-a"]})
    assert done.status_code == 200, done.text
    assert done.json() == [{"action_id": f"{unique}-a", "status": "success", "error": None}]
    [request] = receiver.wait_for(1)
    assert request.json == {"host": "web-1"} and request.headers["webhook-id"] == f"{unique}-a"
    again = api.post("/dead-letters/redrive", as_="operator", json={"action_ids": [f"{unique}-a"]}).json()
    assert again == [{"action_id": f"{unique}-a", "status": "already delivered"}]
    state = {d["action_id"]: d["delivered"] for d in api.get("/dead-letters", params={"rule": f"dl-{unique}"}).json()}
    assert state == {f"{unique}-a": True, f"{unique}-b": False}
    rows = [r for r in api.get("/executions", params={"since": "5m", "limit": 1000}).json()
            if r["references"].get("redrive_of") == f"{unique}-a"]
    assert [(r["executed_by"], r["references"]["redriven_by"]) for r in rows] == [("redrive", api.names["operator"])]


def test_redrive_needs_a_selector_and_checks_it(api: Api):
    none = api.post("/dead-letters/redrive", as_="operator", json={})
    assert none.status_code == 400 and none.json()["errors"][0]["field"] == "action_ids"
    empty = api.post("/dead-letters/redrive", as_="operator", json={"action_ids": []})
    assert empty.status_code == 400 and empty.json()["errors"][0]["field"] == "action_ids"
    since = api.post("/dead-letters/redrive", as_="operator", json={"since": "last week"})
    assert since.status_code == 400 and since.json()["errors"][0]["field"] == "since"
    assert api.get("/dead-letters", params={"since": "soon"}).status_code == 400
