"""Hostile webhook URLs and targets, through the running engine's sink (issue 11).

Only the name `localhost` (and one port of it) is allow-listed here, not the address
127.0.0.1: a request that reaches the victim receiver got past the guard.
"""

from __future__ import annotations

import socket
import threading
import time

import pytest

from cepflow.receiver import Receiver
from tests.integration.detections import AppliedRules
from tests.integration.harness import wait_until
from tests.integration.test_actions_webhook import QUICK_RETRY, closed_port, dead_letters, event, webhook_rule

pytestmark = pytest.mark.integration

TOKEN = "XXXXXXXXXXXXXXXXXXXXXXXX"


def test_a_url_read_two_ways_does_not_reach_loopback_and_secrets_stay_out_of_the_log(stack, engine, sessions, unique):
    closed = closed_port()
    with Receiver() as victim, Receiver() as allowed:
        stack.extra["CEPFLOW_WEBHOOK_ALLOW_HOSTS"] = f'["localhost:{allowed.port}", "localhost:{closed}"]'
        # urllib.parse reads the host as localhost:<allowed>, urllib3 as 127.0.0.1:<victim>.
        split = webhook_rule(stack, f"split-{unique}", "split",
                             f"http://127.0.0.1:{victim.port}\\@localhost:{allowed.port}/x")
        fine = webhook_rule(stack, f"fine-{unique}", "fine", f"http://localhost:{allowed.port}/ok")
        secret = webhook_rule(stack, f"secret-{unique}", "secret",
                              f"http://localhost:{closed}/services/T0AAAAAAA/B0BBBBBBB/{TOKEN}?sig=s3cr3t",
                              retry=QUICK_RETRY)
        with AppliedRules(sessions).apply(split, fine, secret) as rules:
            stack.produce([event("s1", "split"), event("f1", "fine"), event("t1", "secret")])
            engine.start()
            rows = {row.rule_name: row for row in rules.wait_rows(3, engine)}
            letters = wait_until(lambda: dead_letters(stack), 30, "the action dead letter")
        assert victim.requests == []
        assert [r.path for r in allowed.requests] == ["/ok"]
    refused = rows[f"split-{unique}"]
    assert refused.status == "fail" and "target refused: the URL contains a backslash" in refused.error_message
    assert rows[f"fine-{unique}"].status == "success"
    leaked = rows[f"secret-{unique}"]
    assert leaked.status == "fail" and leaked.error_message.startswith("webhook: connection error")
    for text in (leaked.error_message, str(leaked.references), letters[0]["error"]):
        assert TOKEN not in text and "s3cr3t" not in text and "T0AAAAAAA" not in text


def drip_forever(server: socket.socket, stop: threading.Event) -> None:
    """Accept connections and send an endless response a byte every 0.4 s."""
    server.settimeout(0.2)
    while not stop.is_set():
        try:
            connection, _ = server.accept()
        except OSError:
            continue
        with connection:
            for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 200:
                if stop.is_set():
                    break
                try:
                    connection.sendall(bytes([byte]))
                except OSError:
                    break
                time.sleep(0.4)


def test_a_dripping_target_holds_the_sink_no_longer_than_the_action_deadline(stack, engine, sessions, unique):
    stack.extra["CEPFLOW_ACTION_DEADLINE_S"] = "2"  # 127.0.0.1 is allow-listed by the harness
    stop = threading.Event()
    with socket.create_server(("127.0.0.1", 0)) as server:
        thread = threading.Thread(target=drip_forever, args=(server, stop), daemon=True)
        thread.start()
        slow = webhook_rule(stack, f"slow-{unique}", "slow", f"http://127.0.0.1:{server.getsockname()[1]}/",
                            timeout="60s", retry=QUICK_RETRY)
        try:
            with AppliedRules(sessions).apply(slow) as rules:
                stack.produce([event("w1", "slow")])
                engine.start()
                [row] = rules.wait_rows(1, engine)
        finally:
            stop.set()
            thread.join(5)
    # Before: one attempt lasted as long as the target kept dripping (60 s timeout per read).
    assert row.status == "fail" and "action_deadline_s" in row.error_message
    assert row.duration_ms < 3000
