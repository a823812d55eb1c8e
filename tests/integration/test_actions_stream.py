"""Actions fired by the running engine: retries, failures, dead letters, signatures, chains."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import orjson
import pytest
from sqlalchemy import select

from actions.signing import verify
from cepflow.receiver import Receiver
from storage.models.exec_log import ExecLog
from storage.repositories.rules import RuleRepository
from tests.integration.cli import cepflow
from tests.integration.harness import wait_until

pytestmark = pytest.mark.integration

SECRET = "whsec_" + "c2VjcmV0LWZvci10ZXN0cw=="  # base64("secret-for-tests")


def apply(stack, tmp_path: Path, text: str) -> None:  # noqa: ANN001
    path = tmp_path / f"rules-{time.monotonic_ns()}.yaml"
    path.write_text(text)
    cepflow(stack, "rules", "apply", str(path))


def rows_of(sessions, name: str) -> list[ExecLog]:  # noqa: ANN001
    with sessions() as session:
        rule = RuleRepository(session).get(name)
        if rule is None:
            return []
        return list(session.scalars(select(ExecLog).where(ExecLog.rule_id == rule.id).order_by(ExecLog.id)))


def event(eid: str, kind: str = "alert", **fields) -> dict:  # noqa: ANN003
    return {"id": eid, "type": kind, "ts": int(time.time() * 1000), **fields}


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_retries_failures_and_dead_letters(stack, engine, sessions, tmp_path, unique):
    stack.extra["CEPFLOW_WEBHOOK_SIGNING_SECRET"] = SECRET
    with Receiver() as receiver:
        receiver.script("/flaky", [500, 500, 200])
        receiver.always("/gone", 404)
        down_port = closed_port()
        down = f"http://127.0.0.1:{down_port}/down"
        retry = "retry: {max_attempts: 3, backoff: 50ms, max_backoff: 200ms}"
        apply(stack, tmp_path, f"""
name: flaky-{unique}
match: {{type: flaky}}
action: {{endpoint: "{receiver.url('/flaky')}", body: {{id: "{{{{ event.id }}}}"}}, {retry}}}
---
name: gone-{unique}
match: {{type: gone}}
action: {{endpoint: "{receiver.url('/gone')}", {retry}}}
---
name: down-{unique}
match: {{type: down}}
action: {{endpoint: "{down}", {retry}}}
""")
        engine.start()
        stack.produce([event("f1", "flaky"), event("g1", "gone"), event("d1", "down")])

        flaky = wait_until(lambda: [r for r in receiver.requests if r.path == "/flaky"][2:] and
                           [r for r in receiver.requests if r.path == "/flaky"], 60, "three attempts")
        assert len({r.headers["webhook-id"] for r in flaky}) == 1
        assert all(verify(SECRET, r.headers, r.body) for r in flaky)
        [ok] = wait_until(lambda: rows_of(sessions, f"flaky-{unique}"), 30, "flaky row")
        assert ok.status == "success" and ok.references["actions"][0]["attempts"] == 3

        [gone] = wait_until(lambda: rows_of(sessions, f"gone-{unique}"), 30, "gone row")
        assert gone.status == "fail" and "404" in gone.error_message
        assert len([r for r in receiver.requests if r.path == "/gone"]) == 1

        [dead] = wait_until(lambda: rows_of(sessions, f"down-{unique}"), 30, "down row")
        assert dead.status == "fail" and dead.references["actions"][0]["attempts"] == 3
        letters = wait_until(lambda: stack.read_topic(f"{stack.prefix}.actions.deadletter"), 30, "action dead letter")
        record = orjson.loads(letters[0].value())
        assert record["rule"] == f"down-{unique}" and record["action"]["endpoint"] == down
        assert len(letters) == 1, [orjson.loads(m.value()) | {"context": None} for m in letters]  # 404: final

    with Receiver(port=down_port) as back_up:  # the target is up again: redrive delivers, once
        out = cepflow(stack, "actions", "redrive", "--rule", f"down-{unique}", "--since", "1h")
        assert orjson.loads(out.stdout.splitlines()[0])["status"] == "success"
        [delivered] = back_up.requests
        assert delivered.headers["webhook-id"] == dead.idempotency_key
        again = cepflow(stack, "actions", "redrive", "--rule", f"down-{unique}")
        assert orjson.loads(again.stdout.splitlines()[0])["status"] == "already delivered"
        assert len(back_up.requests) == 1
    redriven = [r for r in rows_of(sessions, f"down-{unique}") if r.executed_by == "redrive"]
    assert [(r.status, r.idempotency_key) for r in redriven] == [("success", f"{dead.idempotency_key}:redrive:1")]


def test_private_targets_are_refused_unless_allow_listed(stack, engine, sessions, tmp_path, unique):
    stack.extra["CEPFLOW_WEBHOOK_ALLOW_HOSTS"] = "[]"
    with Receiver() as receiver:
        apply(stack, tmp_path, f"""
name: private-{unique}
match: {{type: private}}
action: {{endpoint: "{receiver.url('/p')}"}}
""")
        engine.start()
        stack.produce([event("p1", "private")])
        [row] = wait_until(lambda: rows_of(sessions, f"private-{unique}"), 60, "refused row")
        assert row.status == "fail" and "target refused" in row.error_message
        assert receiver.requests == []


def test_chains_carry_lineage_and_stop_at_cycles_depth_and_bad_targets(stack, engine, sessions, tmp_path, unique):
    u = unique
    chain_rules = "\n---\n".join(
        f"name: d{i}-{u}\nmatch: {{{'type: deep' if i == 0 else 'chain_only: true'}}}\n"
        f"action: {{type: trigger_rule, rule_id: d{i + 1}-{u}}}"
        for i in range(6)
    ) + f"\n---\nname: d6-{u}\nmatch: {{chain_only: true}}\n"
    with Receiver() as receiver:
        apply(stack, tmp_path, f"""
name: a-{u}
match: {{type: start}}
action: {{type: trigger_rule, rule_id: b-{u}, payload: {{host: "{{{{ event.host }}}}", type: escalated}}}}
---
name: b-{u}
match: {{chain_only: true}}
where: {{field: type, op: eq, value: escalated}}
action: {{type: trigger_rule, rule_id: c-{u}, payload: {{host: "{{{{ event.host }}}}"}}}}
---
name: c-{u}
match: {{chain_only: true}}
action: {{endpoint: "{receiver.url('/c')}", body: {{host: "{{{{ event.host }}}}", depth: "{{{{ chain.depth }}}}"}}}}
---
name: x-{u}
match: {{type: loop}}
action: {{type: trigger_rule, rule_id: y-{u}}}
---
name: y-{u}
match: {{chain_only: true}}
action: {{type: trigger_rule, rule_id: x-{u}}}
---
name: m-{u}
match: {{type: missing}}
action: {{type: trigger_rule, rule_id: nobody-{u}}}
---
name: i-{u}
match: {{type: inactive}}
action: {{type: trigger_rule, rule_id: off-{u}}}
---
name: off-{u}
active: false
match: {{chain_only: true}}
---
name: dry-{u}
match: {{type: dry}}
action: {{type: trigger_rule, rule_id: b-{u}, payload: {{type: other}}}}
---
{chain_rules}
""")
        engine.start()
        stack.produce([event("s1", "start", host="web-9"), event("l1", "loop"), event("m1", "missing"),
                       event("i1", "inactive"), event("dr1", "dry"), event("deep1", "deep")])

        [hook] = receiver.wait_for(1, timeout=60)
        assert hook.json == {"host": "web-9", "depth": "2"}
        a, b, c = (wait_until(lambda n=n: rows_of(sessions, f"{n}-{u}"), 30, n)[0] for n in "abc")
        assert a.chain_id == b.chain_id == c.chain_id
        assert [a.executed_by, b.executed_by, c.executed_by] == ["stream", f"chain:a-{u}", f"chain:b-{u}"]
        assert c.references["chain"]["depth"] == 2
        assert c.references["chain"]["path"] == [str(a.rule_id), str(b.rule_id), str(c.rule_id)]
        listed = cepflow(stack, "logs", "--chain", a.chain_id, "--json").stdout.splitlines()
        assert [orjson.loads(line)["rule"] for line in listed] == [f"a-{u}", f"b-{u}", f"c-{u}"]

        cycle = wait_until(lambda: [r for r in rows_of(sessions, f"x-{u}") if r.status == "skipped"], 30, "cycle")
        assert cycle[0].reason == "cycle"

        [missing] = wait_until(lambda: rows_of(sessions, f"m-{u}"), 30, "missing target")
        assert missing.status == "fail" and missing.error_message == "trigger_rule: Target rule not found"
        assert missing.references["actions"][0]["status_code"] == 404
        [inactive] = wait_until(lambda: rows_of(sessions, f"i-{u}"), 30, "inactive target")
        assert inactive.error_message == "trigger_rule: Target rule is not active"
        assert inactive.references["actions"][0]["status_code"] == 400

        dry = wait_until(lambda: [r for r in rows_of(sessions, f"b-{u}") if r.status == "dry_run"], 30, "dry run")
        assert dry[0].executed_by == f"chain:dry-{u}"

        depth = wait_until(lambda: [r for r in rows_of(sessions, f"d6-{u}") if r.status == "skipped"], 30, "depth")
        assert depth[0].reason == "chain_depth"
        assert all(rows_of(sessions, f"d{i}-{u}")[0].status == "success" for i in range(6))
