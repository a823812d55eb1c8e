"""Manual trigger (RULES.md §8) on the real database and a real receiver: in-process, the way an
application calls `manual_trigger`, and through the `cepflow trigger` command.

`get_settings()` and `get_resources()` are cached per process, so the `rule` fixture points this
process at the test's stack and builds fresh resources, and disposes of them afterwards.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from cepflow import resources as process_resources
from cepflow.receiver import Receiver
from cepflow.settings import get_settings
from cepflow.triggers import manual_trigger
from storage.uow import unit_of_work
from tests.integration.cli import cepflow
from tests.integration.detections import AppliedRules

pytestmark = pytest.mark.integration

HOT = {"host": "web-1", "value": 95}
COLD = {"host": "web-1", "value": 10}


def _reset_process_resources() -> None:
    """Forget this process's settings and resources, closing what they started (relay, pool)."""
    get_settings.cache_clear()
    old, process_resources._resources = process_resources._resources, None
    if old is not None:
        old.close()


@pytest.fixture()
def receiver() -> Iterator[Receiver]:
    with Receiver() as receiver:
        yield receiver


@pytest.fixture()
def applied(stack, sessions, receiver, monkeypatch, unique) -> Iterator[AppliedRules]:
    """One rule `manual-<unique>`: value > 90, grouped by host, one webhook to the receiver."""
    for key, value in stack.env().items():
        monkeypatch.setenv(key, value)
    _reset_process_resources()
    doc = {"name": f"manual-{unique}", "where": {"field": "value", "op": "gt", "value": 90}, "group_by": ["host"],
           "action": {"endpoint": receiver.url("/m"), "body": {"host": "{{ event.host }}"}}}
    with AppliedRules(sessions).apply(doc) as rules:
        yield rules
    _reset_process_resources()


@pytest.fixture()
def rule(applied: AppliedRules) -> str:
    [name] = applied.ids
    return name


def logged(applied: AppliedRules) -> list[tuple[str, str | None, str]]:
    return [(r.status, r.reason, r.executed_by) for r in applied.rows()]


def test_condition_not_met_is_a_dry_run_with_the_explanation(rule, applied, receiver):
    result = manual_trigger(rule, COLD, executed_by="alice")
    assert (result["status"], result["condition_met"]) == ("dry_run", False)
    assert result["explain"][0] | {"actual": 10, "result": False} == result["explain"][0]
    assert receiver.requests == []
    assert logged(applied) == [("dry_run", "condition not met", "alice")]
    [row] = applied.rows()
    assert row.references["explain"] == result["explain"] and row.references["actions"] == []


def test_condition_met_runs_the_actions_in_a_session_of_its_own(rule, applied, receiver):
    result = manual_trigger(rule, HOT, executed_by="bob")
    assert (result["status"], result["condition_met"]) == ("success", True) and result["duration_ms"] > 0
    [request] = receiver.requests
    assert request.json == {"host": "web-1"}
    assert logged(applied) == [("success", None, "bob")]  # committed: another session sees it
    [row] = applied.rows()
    assert request.headers["webhook-id"] == row.idempotency_key
    pool = process_resources.get_resources().sessions.kw["bind"].pool
    assert pool.checkedout() == 0  # the session it opened gave its connection back


def test_dry_run_runs_nothing(rule, applied, receiver):
    result = manual_trigger(rule, HOT, executed_by="carol", dry_run=True)
    assert (result["status"], result["condition_met"]) == ("dry_run", True)
    assert receiver.requests == []
    assert logged(applied) == [("dry_run", "dry run requested", "carol")]


def test_in_the_callers_session_the_row_waits_for_the_callers_commit(rule, applied, sessions, receiver):
    with unit_of_work(sessions) as session:
        result = manual_trigger(rule, HOT, executed_by="app", session=session)
        assert result["status"] == "success" and len(receiver.requests) == 1
        assert applied.rows() == []  # not committed yet
    assert logged(applied) == [("success", None, "app")]

    with pytest.raises(RuntimeError), unit_of_work(sessions) as session:
        manual_trigger(rule, COLD, executed_by="app", session=session)
        raise RuntimeError("the caller fails")
    assert logged(applied) == [("success", None, "app")]  # rolled back with the caller


def test_concurrent_triggers_of_one_group_give_one_success_and_one_locked(rule, applied, receiver):
    receiver.delay_s = 1.0  # the first holds the (rule, group) lock while its webhook is answered
    start = threading.Barrier(2)
    results: list[dict[str, Any]] = []

    def trigger(name: str) -> None:
        start.wait()
        results.append(manual_trigger(rule, HOT, executed_by=name))

    threads = [threading.Thread(target=trigger, args=(name,)) for name in ("t1", "t2")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted((r["status"], r["reason"]) for r in results) == [("skipped", "locked"), ("success", None)]
    assert len(receiver.requests) == 1
    assert sorted((status, reason) for status, reason, _ in logged(applied)) == [("skipped", "locked"),
                                                                                  ("success", None)]


def test_the_trigger_command(stack, rule, applied, receiver):
    out = cepflow(stack, "trigger", rule, "--payload", orjson.dumps(HOT).decode(), "--by", "ops")
    assert orjson.loads(out.stdout)["status"] == "success" and len(receiver.requests) == 1
    dry = cepflow(stack, "trigger", rule, "--payload", orjson.dumps(HOT).decode(), "--dry-run")
    assert orjson.loads(dry.stdout) | {"status": "dry_run", "condition_met": True} == orjson.loads(dry.stdout)
    assert len(receiver.requests) == 1
    assert logged(applied) == [("success", None, "ops"), ("dry_run", "dry run requested", "cli")]
    bad = cepflow(stack, "trigger", rule, "--payload", "[1]", check=False)
    assert bad.returncode == 2 and "--payload: must be a JSON object" in bad.stderr
    missing = cepflow(stack, "trigger", f"no-such-rule-{rule}", check=False)
    assert missing.returncode == 2 and f"no-such-rule-{rule}" in missing.stderr

