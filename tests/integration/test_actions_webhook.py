"""Webhooks fired by the running engine (RULES.md §5): retries, failures, signatures, the target
guard, the action dead-letter topic and `cepflow actions redrive`.

Every rule reads only this test's events topic, so engines of other tests never fire it.
"""

from __future__ import annotations

import socket
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from actions.signing import verify
from cepflow.receiver import Receiver
from tests.integration.cli import cepflow
from tests.integration.detections import AppliedRules
from tests.integration.harness import StackEnv, wait_until

pytestmark = pytest.mark.integration

SECRET = "whsec_c2VjcmV0LWZvci10ZXN0cw=="  # base64("secret-for-tests")
QUICK_RETRY = {"max_attempts": 3, "backoff": "50ms", "max_backoff": "200ms"}


def webhook_rule(stack: StackEnv, name: str, kind: str, endpoint: str, **action: Any) -> dict[str, Any]:
    """A rule firing one webhook for each event of type `kind` on this test's topic."""
    return {"name": name, "match": {"topic": stack.events_topic, "type": kind},
            "action": {"endpoint": endpoint, "body": {"id": "{{ event.id }}"}, **action}}


def event(eid: str, kind: str) -> dict[str, Any]:
    return {"id": eid, "type": kind, "ts": int(time.time() * 1000)}


def closed_port() -> int:
    """A loopback port nothing listens on: connections to it are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def dead_letters(stack: StackEnv) -> list[dict[str, Any]]:
    return [orjson.loads(m.value()) for m in stack.read_topic(f"{stack.prefix}.actions.deadletter")]


def redrive(stack: StackEnv, *args: str) -> list[dict[str, Any]]:
    """`cepflow actions redrive ARGS`: one summary per dead letter it considered."""
    out = cepflow(stack, "actions", "redrive", *args)
    return [orjson.loads(line) for line in out.stdout.splitlines()]


def test_retryable_failures_are_retried_with_one_webhook_id_and_4xx_fail_at_once(stack, engine, sessions, unique):
    stack.extra["CEPFLOW_WEBHOOK_SIGNING_SECRET"] = SECRET
    with Receiver() as receiver:
        receiver.script("/flaky", [500, 500, 200])
        receiver.always("/gone", 404)
        flaky = webhook_rule(stack, f"flaky-{unique}", "flaky", receiver.url("/flaky"), retry=QUICK_RETRY)
        gone = webhook_rule(stack, f"gone-{unique}", "gone", receiver.url("/gone"), retry=QUICK_RETRY)
        with AppliedRules(sessions).apply(flaky, gone) as rules:
            stack.produce([event("f1", "flaky"), event("g1", "gone")])
            engine.start()
            rows = {row.rule_name: row for row in rules.wait_rows(2, engine)}
            requests = receiver.requests

    ok, failed = rows[f"flaky-{unique}"], rows[f"gone-{unique}"]
    attempts = [r for r in requests if r.path == "/flaky"]
    assert len(attempts) == 3
    assert {r.headers["webhook-id"] for r in attempts} == {ok.idempotency_key}
    assert all(verify(SECRET, r.headers, r.body) for r in attempts)
    assert not verify("whsec_b3RoZXItc2VjcmV0", attempts[0].headers, attempts[0].body)  # a wrong secret fails
    assert all(r.json == {"id": "f1"} for r in attempts)
    assert (ok.status, ok.error_message) == ("success", None)
    assert ok.references["actions"][0] | {"attempts": 3, "status_code": 200} == ok.references["actions"][0]

    assert len([r for r in requests if r.path == "/gone"]) == 1
    assert failed.status == "fail" and "404" in failed.error_message
    assert failed.references["actions"][0] | {"attempts": 1, "status_code": 404} == failed.references["actions"][0]
    assert dead_letters(stack) == []  # a 4xx is final: nothing to redrive


def test_an_unreachable_target_is_dead_lettered_then_redriven_once(stack, engine, sessions, unique):
    stack.extra["CEPFLOW_WEBHOOK_SIGNING_SECRET"] = SECRET
    port = closed_port()
    down = webhook_rule(stack, f"down-{unique}", "down", f"http://127.0.0.1:{port}/down", retry=QUICK_RETRY)
    with AppliedRules(sessions).apply(down) as rules:
        stack.produce([event("d1", "down")])
        engine.start()
        [failed] = rules.wait_rows(1, engine)
        assert failed.status == "fail" and "connection error" in failed.error_message
        assert failed.references["actions"][0]["attempts"] == 3
        [letter] = wait_until(lambda: dead_letters(stack), 30, "the action dead letter")
        assert (letter["rule"], letter["action_id"]) == (f"down-{unique}", failed.idempotency_key)
        assert letter["action"] == {"type": "webhook"}  # what to run comes from the stored revision: no URL kept
        engine.stop()  # from here on only the command acts

        still_down = redrive(stack, "--rule", f"down-{unique}")
        assert [s["status"] for s in still_down] == ["fail"]
        later = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()
        assert redrive(stack, "--since", later) == []  # --since filters
        assert redrive(stack, "--rule", f"other-{unique}") == []  # --rule filters

        with Receiver(port=port) as back_up:
            delivered = redrive(stack, "--rule", f"down-{unique}", "--since", "1h")
            assert [s["status"] for s in delivered] == ["success"]
            again = redrive(stack, "--rule", f"down-{unique}")
            assert [s["status"] for s in again] == ["already delivered"]
            [request] = back_up.requests

        assert request.headers["webhook-id"] == failed.idempotency_key
        assert verify(SECRET, request.headers, request.body) and request.json == {"id": "d1"}
        redriven = [(r.status, r.executed_by, r.idempotency_key) for r in rules.rows()[1:]]
        key = failed.idempotency_key
        assert redriven == [("fail", "redrive", f"{key}:redrive:1"), ("success", "redrive", f"{key}:redrive:2")]
        delivered_row = rules.rows()[-1]
        assert delivered_row.references["redrive_of"] == key
        assert delivered_row.references["actions"][0] | {"status_code": 200, "attempts": 1, "method": "POST"} == \
            delivered_row.references["actions"][0]


def test_private_targets_are_refused_unless_allow_listed(stack, engine, sessions, unique):
    stack.extra["CEPFLOW_WEBHOOK_ALLOW_HOSTS"] = "[]"
    with Receiver() as receiver:
        private = webhook_rule(stack, f"private-{unique}", "private", receiver.url("/p"), retry=QUICK_RETRY)
        with AppliedRules(sessions).apply(private) as rules:
            stack.produce([event("p1", "private")])
            engine.start()
            [row] = rules.wait_rows(1, engine)
        assert row.status == "fail" and "target refused" in row.error_message
        assert row.references["actions"][0]["attempts"] == 1  # refusing is final, not retried
        assert receiver.requests == []
    assert dead_letters(stack) == []
