"""The chaos workload: rules of every kind, and expectations taken from the offline runner."""

from __future__ import annotations

from collections import Counter

from chaos.workload import TAIL_EVENTS, expected, key_of, rules, stream

URL = "http://127.0.0.1:9/chaos"
T0 = 1_700_000_000_000


def at(ms: int, **body):
    return {"ts": T0 + ms, **body}


def test_expectations_cover_each_threshold_chain_sequence_and_absence():
    events = [
        at(0, id="a", type="order", shop="s1", amount=199),
        at(10, id="b", type="order", shop="s1", amount=5),
        at(100, id="c", type="cpu", host="h1", value=99),
        at(200, id="d", type="cpu", host="h1", value=98),
        at(300, id="e", type="login", user="u1", ok=False),
        at(400, id="f", type="login", user="u1", ok=True),
        at(500, id="g", type="heartbeat", service="svc0"),
        *[at(1_000 + 1_000 * n, id=f"t{n}", type="tick") for n in range(30)],
    ]
    want = expected(rules(URL), events)
    assert Counter(rule for rule, _, _ in want.executions) == {
        "big-order": 1, "hot-host": 1, "host-incident": 1, "login-recovered": 1, "service-silent": 1}
    assert ("big-order", "shop=s1", T0) in want.executions
    assert ("service-silent", "service=svc0", T0 + 10_500) in want.executions
    assert sorted(want.webhooks) == sorted(want.executions)  # every rule of the set posts a webhook


def test_the_stream_is_seeded_and_ends_with_a_tail_of_ticks():
    first, again = stream(3, 50), stream(3, 50)
    assert first == again and stream(4, 50) != first
    assert len(first) == 50 + TAIL_EVENTS
    assert all(event["type"] == "tick" for event in first[50:])
    assert all("ts" not in event for event in first)  # the producer stamps the send time


def test_events_of_one_group_share_a_kafka_key():
    assert key_of({"type": "cpu", "host": "h1"}) == key_of({"type": "cpu", "host": "h1", "value": 3}) == b"host=h1"
    assert key_of({"type": "tick"}) == b"tick"
