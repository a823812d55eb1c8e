"""Event in, webhook out, execution logged — on the real Kafka and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from sqlalchemy import select

from cepflow.receiver import Receiver
from storage.models.exec_log import ExecLog
from storage.repositories.rules import RuleRepository
from tests.integration.cli import cepflow
from tests.integration.harness import wait_until

pytestmark = pytest.mark.integration


def logged(sessions, name: str, count: int):
    """(rule, its exec_logs rows) once there are at least `count` rows."""
    with sessions() as session:
        rule = RuleRepository(session).get(name)
        rows = session.scalars(select(ExecLog).where(ExecLog.rule_id == rule.id)).all()
        return (rule, rows) if len(rows) >= count else None


def write_rule(tmp_path: Path, name: str, url: str) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(f"""
name: {name}
description: CPU over 90 on a web host
match: {{type: cpu}}
where:
  all:
    - {{field: value, op: gt, value: 90}}
    - {{field: host, op: startswith, value: web-}}
action:
  type: webhook
  endpoint: {url}
  body: {{host: "{{{{ event.host }}}}", value: "{{{{ event.value }}}}", rule: "{{{{ match.rule }}}}"}}
""")
    return path


def test_matching_events_fire_templated_webhooks_and_are_logged(stack, engine, sessions, tmp_path, unique):
    name = f"web-cpu-hot-{unique}"
    with Receiver() as receiver:
        cepflow(stack, "rules", "apply", str(write_rule(tmp_path, name, receiver.url("/cpu"))))
        engine.start()
        events = [
            {"id": "e1", "type": "cpu", "host": "web-1", "value": 95, "ts": 1_700_000_000_000},
            {"id": "e2", "type": "cpu", "host": "db-1", "value": 99, "ts": 1_700_000_001_000},
            b"this is not json",
            b"[1, 2, 3]",
            {"id": "e3", "type": "cpu", "host": "web-2", "value": 50, "ts": 1_700_000_002_000},
            {"id": "e4", "type": "mem", "host": "web-3", "value": 99, "ts": 1_700_000_003_000},
            b'{"deep": ' * 40 + b"1" + b"}" * 40,
            {"id": "e5", "type": "cpu", "host": "web-3", "value": 91.5, "ts": "2023-11-14T22:13:24+00:00"},
        ]
        stack.produce(events)
        got = receiver.wait_for(2, timeout=60)
        assert engine.alive(), engine.log()[-3000:]
        bodies = sorted((r.json["host"], r.json["value"], r.json["rule"]) for r in got)
        assert bodies == [("web-1", "95", name), ("web-3", "91.5", name)]
        assert all(r.headers["webhook-id"] for r in got)

        rule, rows = wait_until(lambda: logged(sessions, name, 2), 30, "two exec_logs rows")
        assert len(rows) == 2
        for row in rows:
            assert row.status == "success"
            assert row.executed_by == "stream"
            assert row.rule_version == rule.version
            assert row.duration_ms > 0
            assert row.references["actions"][0]["type"] == "webhook"
            assert row.references["actions"][0]["status_code"] == 200
        assert {r.references["event_id"] for r in rows} == {"e1", "e5"}

        dead = wait_until(lambda: stack.read_topic(f"{stack.prefix}.deadletter"), 30, "dead letters")
        reasons = sorted(orjson.loads(m.value())["reason"].split(":")[0] for m in dead)
        assert reasons == ["JSON nested deeper than 32", "invalid JSON", "not a JSON object"]
        assert all(orjson.loads(m.value())["topic"] == stack.events_topic for m in dead)
        # Nothing more arrives: the non-matching events really did not fire.
        assert len(receiver.requests) == 2
