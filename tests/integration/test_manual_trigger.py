"""Manual trigger (RULES.md §8) on the real database and a real receiver, in-process and via the CLI."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import orjson
import pytest
from sqlalchemy import select

from cepflow import resources as process_resources
from actions.manual import manual_trigger
from cepflow.receiver import Receiver
from cepflow.settings import get_settings
from storage.models.exec_log import ExecLog
from storage.repositories.rules import RuleRepository
from storage.uow import unit_of_work
from tests.integration.cli import cepflow

pytestmark = pytest.mark.integration


@pytest.fixture()
def receiver() -> Iterator[Receiver]:
    with Receiver(delay_s=0.5) as receiver:
        yield receiver


@pytest.fixture()
def rule(stack, receiver, monkeypatch, tmp_path, unique) -> Iterator[str]:  # noqa: ANN001
    for key, value in stack.env().items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    process_resources._resources = None  # noqa: SLF001 - a fresh process's resources for this test
    name = f"manual-{unique}"
    path = tmp_path / "rule.yaml"
    path.write_text(f"""
name: {name}
where: {{field: value, op: gt, value: 90}}
group_by: [host]
action: {{endpoint: "{receiver.url('/m')}", body: {{host: "{{{{ event.host }}}}"}}}}
""")
    cepflow(stack, "rules", "apply", str(path))
    yield name
    get_settings.cache_clear()
    process_resources._resources = None  # noqa: SLF001


def rows(sessions, name: str) -> list[ExecLog]:  # noqa: ANN001
    with sessions() as session:
        rule_id = RuleRepository(session).get(name).id
        return list(session.scalars(select(ExecLog).where(ExecLog.rule_id == rule_id).order_by(ExecLog.id)))


def test_condition_not_met_is_a_dry_run_with_explanation(rule, receiver, sessions):
    result = manual_trigger(rule, {"host": "web-1", "value": 10}, executed_by="alice")
    assert result["status"] == "dry_run" and result["condition_met"] is False
    assert result["explain"][0] | {"actual": 10, "result": False} == result["explain"][0]
    assert receiver.requests == []
    [row] = rows(sessions, rule)
    assert (row.status, row.reason, row.executed_by) == ("dry_run", "condition not met", "alice")


def test_condition_met_runs_the_actions(rule, receiver, sessions):
    result = manual_trigger(rule, {"host": "web-1", "value": 95}, executed_by="bob")
    assert result["status"] == "success" and result["condition_met"] is True and result["duration_ms"] > 0
    assert [r.json for r in receiver.requests] == [{"host": "web-1"}]
    [row] = rows(sessions, rule)
    assert (row.status, row.executed_by) == ("success", "bob")


def test_dry_run_flag_runs_nothing(rule, receiver, sessions):
    result = manual_trigger(rule, {"host": "web-1", "value": 95}, dry_run=True)
    assert result["status"] == "dry_run" and result["condition_met"] is True
    assert receiver.requests == []
    assert [(r.status, r.reason) for r in rows(sessions, rule)] == [("dry_run", "dry run requested")]


def test_with_a_session_the_row_waits_for_the_callers_commit(rule, receiver, sessions):
    with unit_of_work(sessions) as session:
        manual_trigger(rule, {"host": "web-2", "value": 10}, session=session)
        assert rows(sessions, rule) == []  # not committed yet
    assert [r.status for r in rows(sessions, rule)] == ["dry_run"]


def test_concurrent_triggers_of_one_group_give_one_success_and_one_locked(rule, receiver, sessions):
    results: list[dict] = []
    threads = [threading.Thread(target=lambda: results.append(manual_trigger(rule, {"host": "web-3", "value": 99})))
               for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted((r["status"], r["reason"]) for r in results) == [("skipped", "locked"), ("success", None)]
    assert len(receiver.requests) == 1
    assert sorted(r.status for r in rows(sessions, rule)) == ["skipped", "success"]


def test_cli_trigger(stack, rule, receiver):
    out = cepflow(stack, "trigger", rule, "--payload", '{"host": "web-4", "value": 97}', "--by", "ops-cli")
    assert orjson.loads(out.stdout)["status"] == "success"
    dry = cepflow(stack, "trigger", rule, "--payload", '{"value": 1}', "--dry-run")
    assert orjson.loads(dry.stdout)["status"] == "dry_run"
    bad = cepflow(stack, "trigger", rule, "--payload", "[1]", check=False)
    assert bad.returncode == 2 and "--payload: must be a JSON object" in bad.stderr
    missing = cepflow(stack, "trigger", "no-such-rule-anywhere", check=False)
    assert missing.returncode == 2 and "no-such-rule-anywhere" in missing.stderr
