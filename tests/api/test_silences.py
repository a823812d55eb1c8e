"""Silences: created and expired over HTTP, honoured by the action pipeline (`skipped`,
reason `silenced`, the silence's id in references), and refused when malformed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cepflow.receiver import Receiver
from tests.api.conftest import Api, hot_rule

pytestmark = pytest.mark.integration

HOT = {"host": "web-1", "value": 99}


def _later(minutes: int = 10) -> str:
    return (datetime.now(UTC) + timedelta(minutes=minutes)).isoformat()


def test_a_silenced_rule_is_skipped_then_runs_again_once_expired(api: Api, receiver: Receiver, unique: str):
    name = f"sil-{unique}"
    api.put("/rules", as_="author", json=hot_rule(name, receiver))
    created = api.post("/silences", as_="author", json={"rule": name, "ends_at": _later(), "comment": "maintenance"})
    assert created.status_code == 201, created.text
    silence = created.json()
    assert (silence["rule"], silence["created_by"], silence["comment"]) == (name, api.names["author"], "maintenance")
    muted = api.post(f"/rules/{name}/trigger", as_="operator", json={"payload": HOT}).json()
    assert (muted["status"], muted["reason"]) == ("skipped", "silenced")
    assert muted["references"]["silence_id"] == silence["id"]
    assert receiver.requests == []
    [row] = api.get("/executions", params={"rule": name, "status": "skipped"}).json()
    assert (row["reason"], row["references"]["silence_id"]) == ("silenced", silence["id"])
    expired = api.delete(f"/silences/{silence['id']}", as_="author").json()
    assert expired["expired_by"] == api.names["author"]
    assert silence["id"] not in [s["id"] for s in api.get("/silences").json()]
    assert silence["id"] in [s["id"] for s in api.get("/silences", params={"expired": True}).json()]
    assert api.post(f"/rules/{name}/trigger", as_="operator", json={"payload": HOT}).json()["status"] == "success"
    assert len(receiver.wait_for(1)) == 1


def test_a_group_silence_mutes_only_matching_groups(api: Api, receiver: Receiver, unique: str):
    name = f"grp-{unique}"
    api.put("/rules", as_="author", json=hot_rule(name, receiver))
    api.post("/silences", as_="author", json={"group": {"host": "web-1"}, "ends_at": _later(), "comment": "web-1 down"})
    first = api.post(f"/rules/{name}/trigger", as_="operator", json={"payload": HOT}).json()
    other = api.post(f"/rules/{name}/trigger", as_="operator", json={"payload": {**HOT, "host": "web-2"}}).json()
    assert (first["status"], first["reason"]) == ("skipped", "silenced")
    assert other["status"] == "success"


def test_a_future_silence_does_not_mute_yet(api: Api, receiver: Receiver, unique: str):
    name = f"fut-{unique}"
    api.put("/rules", as_="author", json=hot_rule(name, receiver))
    api.post("/silences", as_="author", json={"rule": name, "starts_at": _later(5), "ends_at": _later(10),
                                               "comment": "tonight"})
    assert api.post(f"/rules/{name}/trigger", as_="operator", json={"payload": HOT}).json()["status"] == "success"


def test_bad_silences_are_400s_naming_the_field_and_nothing_is_stored(api: Api, receiver: Receiver, unique: str):
    name = f"bad-{unique}"
    api.put("/rules", as_="author", json=hot_rule(name, receiver))
    before = api.get("/silences", params={"expired": True}).json()
    cases = [
        ({"rule": name, "comment": "x"}, "ends_at"),
        ({"rule": name, "ends_at": "2026-13-01T00:00:00+00:00", "comment": "x"}, "ends_at"),
        ({"rule": name, "ends_at": "2030-01-01T00:00:00", "comment": "x"}, "ends_at"),
        ({"rule": name, "ends_at": _later(), "comment": ""}, "comment"),
        ({"rule": "no-such-rule", "ends_at": _later(), "comment": "x"}, "rule"),
        ({"rule": name, "group": ["web-1"], "ends_at": _later(), "comment": "x"}, "group"),
    ]
    for body, field in cases:
        answer = api.post("/silences", as_="author", json=body)
        assert answer.status_code == 400, (body, answer.text)
        assert answer.json()["errors"][0]["field"] == field, (body, answer.json())
    everything = api.post("/silences", as_="author", json={"ends_at": _later(), "comment": "x"})
    assert everything.status_code == 400 and "`rule` or `group`" in everything.json()["detail"]
    backwards = api.post("/silences", as_="author", json={"rule": name, "starts_at": _later(10),
                                                           "ends_at": _later(5), "comment": "x"})
    assert backwards.status_code == 400 and "ends_at" in backwards.json()["detail"]
    assert api.get("/silences", params={"expired": True}).json() == before
    assert api.get("/silences/not-a-uuid").status_code == 404
    assert api.delete("/silences/00000000-0000-0000-0000-000000000000", as_="author").status_code == 404
