"""The webhook executor (one attempt, classified) and Standard Webhooks signing."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from actions.outcome import action_summary
from actions.signing import sign, verify
from actions.ssrf import TargetGuard
from actions.webhook import WebhookExecutor
from cepflow.receiver import Receiver, Reply
from rules.model import WebhookAction

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
LOCAL = TargetGuard(allow_hosts=["127.0.0.1"])


@pytest.fixture
def receiver():
    with Receiver() as receiver:
        yield receiver


@pytest.fixture
def executor():
    executor = WebhookExecutor(LOCAL, signing_secret=SECRET)
    yield executor
    executor.close()


def action(url: str, **fields) -> WebhookAction:
    return WebhookAction(endpoint=url, **fields)


# Signing ------------------------------------------------------------------------------------


def test_signature_matches_the_standard_webhooks_test_vector():
    body = b'{"test": 2432232314}'
    signature = sign(SECRET, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body)
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    headers = {
        "Webhook-Id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "Webhook-Timestamp": "1614265330",
        "Webhook-Signature": f"v1,bm9wZQ== {signature}",
    }
    assert verify(SECRET, headers, body, now=1614265330 + 10)
    assert not verify(SECRET, headers, body + b" ", now=1614265330)
    assert not verify(SECRET, headers, body)  # five years late: outside the replay window
    assert verify(SECRET, headers, body, tolerance_s=None)


def test_raw_text_secrets_are_used_as_utf8_bytes():
    raw = sign("not-base64 secret", "id", 1, b"{}")
    assert raw == sign("whsec_bm90LWJhc2U2NCBzZWNyZXQ=", "id", 1, b"{}")
    assert not verify(
        "another secret",
        {"webhook-id": "id", "webhook-timestamp": "1", "webhook-signature": raw},
        b"{}",
        tolerance_s=None,
    )


def test_a_bad_secret_fails_at_construction():
    with pytest.raises(ValueError, match="base64"):
        WebhookExecutor(LOCAL, signing_secret="whsec_%%%")


# One attempt --------------------------------------------------------------------------------


def test_success_sends_json_with_standard_webhooks_headers_and_a_verifiable_signature(receiver, executor):
    spec = action(
        receiver.url("/cpu"),
        headers={"X-Team": "ops"},
        params={"source": "cep", "n": 2, "on": True},
        body={"host": "web-1", "values": [1, 2]},
    )
    outcome = executor.attempt(spec, "key-1", int(time.time()))
    assert outcome.ok and not outcome.retryable and outcome.status_code == 200
    (got,) = receiver.wait_for(1)
    assert got.method == "POST" and got.path == "/cpu"
    assert got.json == {"host": "web-1", "values": [1, 2]}
    assert got.query == {"source": ["cep"], "n": ["2"], "on": ["true"]}
    assert got.headers["content-type"] == "application/json"
    assert got.headers["x-team"] == "ops"
    assert got.headers["webhook-id"] == "key-1"
    assert verify(SECRET, got.headers, got.body)
    assert outcome.summary["method"] == "POST"
    assert outcome.summary["url"] == receiver.url("/cpu")  # no query string in the log
    assert outcome.summary["status"] == 200
    assert outcome.summary["response"] == '{"ok": true}'
    assert outcome.summary["duration_ms"] > 0 and outcome.duration_ms > 0


def test_get_without_body_sends_no_body(receiver, executor):
    outcome = executor.attempt(action(receiver.url("/ping"), method="GET"), "key-2", 1700000000)
    assert outcome.ok
    (got,) = receiver.wait_for(1)
    assert got.method == "GET" and got.body == b"" and "content-type" not in got.headers


def test_unsigned_without_a_secret(receiver):
    plain = WebhookExecutor(LOCAL)
    try:
        assert plain.attempt(action(receiver.url()), "key-3", 1700000000).ok
    finally:
        plain.close()
    assert "webhook-signature" not in receiver.wait_for(1)[0].headers


@pytest.mark.parametrize(
    ("status", "ok", "retryable"),
    [
        (200, True, False),
        (201, True, False),
        (204, True, False),
        (400, False, False),
        (401, False, False),
        (404, False, False),
        (302, False, False),
        (429, False, True),
        (500, False, True),
        (502, False, True),
        (503, False, True),
    ],
)
def test_status_classification(receiver, executor, status, ok, retryable):
    receiver.always("/hook", Reply(status, {"location": "http://127.0.0.1/elsewhere"}, b""))
    outcome = executor.attempt(action(receiver.url()), "key", 1700000000)
    assert (outcome.ok, outcome.retryable, outcome.status_code) == (ok, retryable, status)
    assert (outcome.error is None) == ok
    assert len(receiver.requests) == 1  # redirects are not followed


def test_retry_after_is_reported_for_the_retry_stage(receiver, executor):
    receiver.always("/hook", Reply(429, {"retry-after": "7"}))
    outcome = executor.attempt(action(receiver.url()), "key", 1700000000)
    assert outcome.retryable and outcome.retry_after_s == 7.0
    assert action_summary("webhook", outcome)["retry_after_s"] == 7.0  # and the log keeps it


def test_long_responses_are_cut_in_the_summary(receiver, executor):
    receiver.always("/hook", Reply(500, body=("é" * 5000).encode()))
    outcome = executor.attempt(action(receiver.url()), "key", 1700000000)
    assert outcome.summary["response"] == "é" * 512


def test_connection_refused_is_retryable(executor):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    outcome = executor.attempt(action(f"http://127.0.0.1:{port}/hook"), "key", 1700000000)
    assert not outcome.ok and outcome.retryable and outcome.status_code is None
    assert outcome.error.startswith("connection error")


def test_timeout_is_retryable():
    with Receiver(delay_s=1.0) as slow:
        executor = WebhookExecutor(LOCAL)
        started = time.monotonic()
        outcome = executor.attempt(action(slow.url(), timeout=100), "key", 1700000000)
        executor.close()
    assert time.monotonic() - started < 0.9
    assert not outcome.ok and outcome.retryable and outcome.error == "timed out after 100 ms"


def test_refused_target_is_not_retryable_and_nothing_is_sent(receiver):
    executor = WebhookExecutor(TargetGuard())
    outcome = executor.attempt(action(receiver.url()), "key", 1700000000)
    executor.close()
    assert not outcome.ok and not outcome.retryable
    assert outcome.error == "target refused: 127.0.0.1 is a loopback address"
    assert receiver.requests == []


def test_bad_header_value_is_a_failure_not_an_exception(receiver, executor):
    outcome = executor.attempt(action(receiver.url(), headers={"x-bad": "a\r\nInjected: 1"}), "key", 1700000000)
    assert not outcome.ok and not outcome.retryable
    assert receiver.requests == []


def test_a_target_hanging_up_is_retryable_and_named_without_its_words(executor):
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]

        def hang_up() -> None:
            connection, _ = server.accept()
            connection.close()

        threading.Thread(target=hang_up, daemon=True).start()
        outcome = executor.attempt(action(f"http://127.0.0.1:{port}/hook"), "key", 1700000000)
    # Closed before or after the request went out, depending on the machine's load: either way a
    # connection error, named by its kind alone (never the URL).
    assert outcome.retryable and outcome.error in (
        "connection error: ProtocolError (RemoteDisconnected)", "connection error: ProtocolError (ConnectionResetError)",
        "connection error: Connection reset by peer")
