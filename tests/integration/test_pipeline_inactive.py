"""An execution whose rule was disabled or deleted before its actions ran: logged `skipped` with
reason `rule_inactive`, its actions not run (on the real database)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from actions.pipeline import ActionPipeline, PipelineConfig
from actions.registry import ActionRegistry
from dataflow.kafka_out import ReliableProducer
from dataflow.rule_cache import build_rule_set
from dataflow.types import ChainInfo, Execution
from storage.models.exec_log import ExecLog
from tests.integration.harness import SEALER, StackEnv

pytestmark = pytest.mark.integration


def test_execution_of_a_rule_gone_meanwhile_is_skipped(stack: StackEnv, sessions, unique) -> None:
    ran: list[object] = []
    registry = ActionRegistry({"webhook": lambda action, run: ran.append(action)})
    pipeline = ActionPipeline(sessions, registry, lambda: ReliableProducer([stack.brokers]),
                              lambda: build_rule_set(()),  # the rule is no longer among the active ones
                              PipelineConfig(f"{stack.prefix}.actions-dlq", 2, 10.0, SEALER))
    key = f"inactive-{unique}"
    execution = Execution(
        rule_id="6f0c1d52-0000-4000-8000-000000000001", rule_name=f"gone-{unique}", rule_version=3, group={},
        status="fired", reason=None, at_ms=1, value=None, window_start=None, window_end=None, event={},
        event_id="e1", idempotency_key=key, chain=ChainInfo(key, 0, ("6f0c1d52-0000-4000-8000-000000000001",)))
    rows = pipeline.run_batch([execution])
    assert [(r.status, r.reason) for r in rows] == [("skipped", "rule_inactive")]
    assert ran == []
    with sessions() as session:
        logged = session.scalars(select(ExecLog).where(ExecLog.idempotency_key == key)).one()
    assert (logged.status, logged.reason, logged.rule_version) == ("skipped", "rule_inactive", 3)
