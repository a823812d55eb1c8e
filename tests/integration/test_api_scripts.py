"""Script APIs on the real stack: stored, run by the CLI, and run by the engine as actions."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from actions import api_script
from actions.script_runner import ScriptResult
from storage.models.exec_log import ExecLog
from storage.repositories.rules import RuleRepository
from tests.integration.cli import cepflow
from tests.integration.harness import wait_until

pytestmark = pytest.mark.integration


def rows_of(sessions, name: str) -> list[ExecLog]:
    with sessions() as session:
        rule = RuleRepository(session).get(name)
        if rule is None:
            return []
        return list(session.scalars(select(ExecLog).where(ExecLog.rule_id == rule.id).order_by(ExecLog.id)))


def write_apis(tmp_path: Path, unique: str) -> Path:
    path = tmp_path / "apis.yaml"
    path.write_text(f"""
name: incident-{unique}
timeout: 2s
source: |
  import logging
  def main(params, input, context):
      print("opening incident for", input["host"])
      logging.getLogger("inc").info("rule %s", context["match"]["rule"] if "match" in context else "-")
      return {{"ticket": "INC-" + input["host"], "priority": params["priority"]}}
---
name: spin-{unique}
timeout: 1s
source: |
  def main(params, input, context):
      while True:
          pass
---
name: rest-{unique}
type: rest
source: "unused"
""")
    return path


def test_cli_apply_list_show_run(stack, tmp_path, unique):
    assert f"incident-{unique}: v1" in cepflow(stack, "apis", "apply", str(write_apis(tmp_path, unique))).stdout
    assert f"incident-{unique}" in cepflow(stack, "apis", "list").stdout
    assert "opening incident" in json.loads(cepflow(stack, "apis", "show", f"incident-{unique}").stdout)["source"]
    run = json.loads(cepflow(stack, "apis", "run", f"incident-{unique}", "--params", '{"priority": "p1"}',
                             "--input", '{"host": "web-1"}').stdout)
    assert run["output"] == {"ticket": "INC-web-1", "priority": "p1"}
    assert run["logs"][0] == "opening incident for web-1"
    assert run["references"]["name"] == f"incident-{unique}" and run["references"]["exit_status"] == "ok"
    missing = cepflow(stack, "apis", "run", "nope-xyz", check=False)
    assert missing.returncode == 2 and "API definition not found" in missing.stderr
    wrong = cepflow(stack, "apis", "run", f"rest-{unique}", check=False)
    assert wrong.returncode == 2 and "API is not a script type" in wrong.stderr
    assert f"rest-{unique}: deleted" in cepflow(stack, "apis", "delete", f"rest-{unique}").stdout
    assert f"rest-{unique}" not in cepflow(stack, "apis", "list").stdout
    gone = cepflow(stack, "apis", "delete", f"rest-{unique}", check=False)
    assert gone.returncode == 2 and "API definition not found" in gone.stderr


def test_engine_runs_scripts_and_survives_failing_ones(stack, engine, sessions, tmp_path, unique):
    cepflow(stack, "apis", "apply", str(write_apis(tmp_path, unique)))
    rules = tmp_path / "rules.yaml"
    rules.write_text(f"""
name: script-ok-{unique}
match: {{type: incident}}
action: {{type: api_script, api_id: incident-{unique}, params: {{priority: p2}}, input: {{host: "{{{{ event.host }}}}"}}}}
---
name: script-spin-{unique}
match: {{type: spin}}
action: {{type: api_script, api_id: spin-{unique}}}
---
name: script-missing-{unique}
match: {{type: missing}}
action: {{type: api_script, api_id: nope-{unique}}}
---
name: script-rest-{unique}
match: {{type: rest}}
action: {{type: api_script, api_id: rest-{unique}}}
""")
    cepflow(stack, "rules", "apply", str(rules))
    engine.start()
    now = int(time.time() * 1000)
    stack.produce([{"id": "s1", "type": "spin", "ts": now}, {"id": "m1", "type": "missing", "ts": now},
                   {"id": "r1", "type": "rest", "ts": now}, {"id": "i1", "type": "incident", "host": "db-2", "ts": now}])

    [ok] = wait_until(lambda: rows_of(sessions, f"script-ok-{unique}"), 60, "script success row")
    assert ok.status == "success"
    action = ok.references["actions"][0]
    assert action["output"] == {"ticket": "INC-db-2", "priority": "p2"}
    assert action["logs"] == ["opening incident for db-2", f"INFO inc: rule script-ok-{unique}"]
    assert action["references"]["exit_status"] == "ok" and action["references"]["duration_ms"] > 0

    [spin] = wait_until(lambda: rows_of(sessions, f"script-spin-{unique}"), 30, "timeout row")
    assert spin.status == "fail" and spin.references["actions"][0]["status_code"] == 500
    assert spin.references["actions"][0]["references"]["exit_status"] == "timeout"
    [missing] = wait_until(lambda: rows_of(sessions, f"script-missing-{unique}"), 30, "missing row")
    assert missing.error_message == "api_script: API definition not found"
    assert missing.references["actions"][0]["status_code"] == 404
    [rest] = wait_until(lambda: rows_of(sessions, f"script-rest-{unique}"), 30, "wrong type row")
    assert rest.error_message == "api_script: API is not a script type"
    assert engine.alive()


class RecordingRunner:
    """Stands in for the script runner: records the source it was asked to run."""

    def __init__(self) -> None:
        self.sources: list[str] = []

    def run(self, source, params, input, context, limits):
        self.sources.append(source)
        return ScriptResult(ok=True, output={})


def test_engine_keeps_api_definitions_and_refreshes_them_in_the_background(stack, sessions, tmp_path, unique,
                                                                             monkeypatch):
    """Runs read the definition from memory; a background thread picks up edits within `fresh_s`;
    a missing API is looked up every time."""
    monkeypatch.setattr(api_script, "template_context", lambda execution: {})
    name, path = f"cached-{unique}", tmp_path / "api.yaml"
    callers: list[int] = []

    def counted():
        callers.append(threading.get_ident())
        return sessions()

    def apply(returns: str) -> None:
        path.write_text(f"name: {name}\nsource: |\n  def main(params, input, context):\n      return {returns!r}\n")
        cepflow(stack, "apis", "apply", str(path))

    runner = RecordingRunner()
    executor = api_script.ApiScriptExecutor(counted, lambda: runner, fresh_s=0.2)
    action, run = SimpleNamespace(api_id=name, params={}, input={}), SimpleNamespace(execution=None)
    try:
        assert executor(action, run).status_code == 404  # not there yet: not remembered as missing
        apply("v1")
        assert executor(action, run).ok and "v1" in runner.sources[-1]
        mine = callers.count(threading.get_ident())
        for _ in range(5):
            assert executor(action, run).ok
        assert callers.count(threading.get_ident()) == mine, "a known API is not read again by the caller"
        apply("v2")
        wait_until(lambda: executor(action, run).ok and "v2" in runner.sources[-1], 10, "the edited API")
    finally:
        executor.close()


def test_a_script_in_the_engine_reaches_neither_its_secrets_nor_kafka_nor_postgresql(stack, engine, sessions,
                                                                                     tmp_path, unique):
    """Issue 11: a script run by the engine (as whatever user the engine runs as) finds no
    `CEPFLOW_DATABASE_URL` anywhere in /proc, cannot signal the engine, and cannot connect to the
    stack's Kafka or PostgreSQL; an API asking for `network: true` is refused, not run."""
    engine.start()
    assert engine.proc is not None
    kafka_host, kafka_port = stack.brokers.split(",")[0].rsplit(":", 1)
    database = make_url(stack.database_url)
    apis = tmp_path / "apis.yaml"
    apis.write_text(f"""
name: snoop-{unique}
source: |
  import os, signal, socket
  def main(params, input, context):
      found = []
      for pid in [{engine.proc.pid}] + [p for p in os.listdir("/proc") if p.isdigit()]:
          try:
              if b"CEPFLOW_DATABASE_URL" in open(f"/proc/{{pid}}/environ", "rb").read():
                  found.append(pid)
          except OSError:
              pass
      try:
          os.kill({engine.proc.pid}, signal.SIGKILL)
          killed = "sent"
      except OSError as exc:
          killed = exc.errno
      reached = {{}}
      for name, host, port in (("kafka", "{kafka_host}", {kafka_port}),
                               ("postgresql", "{database.host}", {database.port})):
          try:
              socket.create_connection((host, port), timeout=2).close()
              reached[name] = True
          except OSError:
              reached[name] = False
      return {{"found": found, "killed": killed, "reached": reached}}
---
name: online-{unique}
network: true
source: |
  def main(params, input, context):
      return 1
""")
    cepflow(stack, "apis", "apply", str(apis))
    rules = tmp_path / "rules.yaml"
    rules.write_text(f"""
name: snoop-{unique}
match: {{type: snoop}}
action: {{type: api_script, api_id: snoop-{unique}}}
---
name: online-{unique}
match: {{type: online}}
action: {{type: api_script, api_id: online-{unique}}}
""")
    cepflow(stack, "rules", "apply", str(rules))
    now = int(time.time() * 1000)
    stack.produce([{"id": "n1", "type": "snoop", "ts": now}, {"id": "o1", "type": "online", "ts": now}])
    [snoop] = wait_until(lambda: rows_of(sessions, f"snoop-{unique}"), 60, "snoop row")
    assert snoop.status == "success", snoop.error_message
    assert snoop.references["actions"][0]["output"] == {"found": [], "killed": 3,
                                                        "reached": {"kafka": False, "postgresql": False}}
    [online] = wait_until(lambda: rows_of(sessions, f"online-{unique}"), 30, "network row")
    assert online.status == "fail" and online.references["actions"][0]["status_code"] == 403
    assert online.error_message == f"api_script: {api_script.NETWORK_REFUSED}"
    assert engine.alive()
