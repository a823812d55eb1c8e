"""SIGKILL mid-stream, restart with the recovery folder: every webhook at least once, no duplicate row."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from cepflow.receiver import Receiver
from storage.models.exec_log import ExecLog
from storage.repositories.rules import RuleRepository
from tests.integration.cli import cepflow
from tests.integration.harness import wait_until

pytestmark = pytest.mark.integration

EVENTS = 300


def test_engine_killed_mid_stream_resumes_without_loss_or_duplicate_rows(stack, engine, sessions, tmp_path, unique):
    name = f"every-order-{unique}"
    stack.extra["CEPFLOW_ACTION_CONCURRENCY"] = "2"
    with Receiver(delay_s=0.02) as receiver:
        rule = tmp_path / "rule.yaml"
        rule.write_text(f"""
name: {name}
match: {{type: order}}
action: {{endpoint: "{receiver.url('/orders')}", body: {{id: "{{{{ event.id }}}}"}}}}
""")
        cepflow(stack, "rules", "apply", str(rule))
        stack.produce([{"id": f"o{i}", "type": "order", "ts": 1_700_000_000_000 + i} for i in range(EVENTS)])
        engine.start()
        receiver.wait_for(EVENTS // 5, timeout=90)
        engine.kill()
        assert len({r.json["id"] for r in receiver.requests}) < EVENTS, "crash came too late to test anything"

        engine.start()
        wait_until(lambda: len({r.json["id"] for r in receiver.requests}) >= EVENTS, 120,
                   f"all {EVENTS} distinct webhooks")
        assert {r.json["id"] for r in receiver.requests} == {f"o{i}" for i in range(EVENTS)}

        def rows() -> tuple[int, int] | None:
            with sessions() as session:
                rule_id = RuleRepository(session).get(name).id
                total, distinct = session.execute(
                    select(func.count(), func.count(func.distinct(ExecLog.references["event_id"].astext)))
                    .where(ExecLog.rule_id == rule_id)
                ).one()
            return (total, distinct) if total >= EVENTS else None

        total, distinct = wait_until(rows, 60, f"{EVENTS} exec_logs rows")
        assert total == distinct == EVENTS
        # Redelivered webhooks carry the same webhook-id as the first attempt (idempotent receivers).
        ids: dict[str, set[str]] = {}
        for request in receiver.requests:
            ids.setdefault(request.json["id"], set()).add(request.headers["webhook-id"])
        assert all(len(v) == 1 for v in ids.values())
