"""Two transactions changing one rule: the second waits for the first and builds on its version."""

from __future__ import annotations

import threading
import uuid

import pytest
from sqlalchemy import Engine, delete

from storage.db import make_session_factory
from storage.models import Rule, RuleRevision
from storage.repositories import RuleRepository

pytestmark = pytest.mark.integration


def test_concurrent_applies_of_one_rule_take_successive_versions(engine: Engine) -> None:
    name = f"concurrent-{uuid.uuid4()}"
    sessions = make_session_factory(engine)
    with sessions() as setup:
        rule, _ = RuleRepository(setup).apply({"name": name}, "setup")
        setup.commit()
    try:
        with sessions() as first, sessions() as second:
            RuleRepository(first).apply({"name": name, "cooldown": "1m"}, "first")
            result: dict[str, int] = {}

            def apply_second() -> None:
                updated, _ = RuleRepository(second).apply({"name": name, "cooldown": "2m"}, "2nd")
                result["version"] = updated.version
                second.commit()

            worker = threading.Thread(target=apply_second)
            worker.start()
            worker.join(timeout=0.3)
            assert worker.is_alive(), "the second apply should wait for the first transaction"
            first.commit()
            worker.join(timeout=5)
            assert result == {"version": 3}
        with sessions() as check:
            history = RuleRepository(check).history(rule.id)
            assert [(r.version, r.changed_by) for r in history][1:] == [(2, "first"), (3, "2nd")]
    finally:
        with sessions() as cleanup:
            cleanup.execute(delete(RuleRevision).where(RuleRevision.rule_id == rule.id))
            cleanup.execute(delete(Rule).where(Rule.id == rule.id))
            cleanup.commit()
