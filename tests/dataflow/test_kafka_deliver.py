"""`ReliableProducer.deliver` never reports success for what Kafka did not acknowledge: with no
broker it keeps waiting (the caller's `wait` decides), and with one it returns once all is sent."""

from __future__ import annotations

import socket

import pytest

from dataflow.kafka_out import OutMessage, ReliableProducer


class GaveUp(Exception):
    pass


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_without_a_broker_deliver_waits_and_never_returns_by_itself() -> None:
    producer = ReliableProducer([f"127.0.0.1:{closed_port()}"], {"message.timeout.ms": "300"})
    reasons: list[str] = []

    def wait(reason: str) -> None:
        reasons.append(reason)
        if len(reasons) >= 40 or any("failed" in r for r in reasons[:-1]):
            raise GaveUp

    with pytest.raises(GaveUp):
        producer.deliver([OutMessage("t", b"v", b"k")], wait, timeout_s=0.2)
    assert any("failed" in r for r in reasons), reasons  # timed out in librdkafka: sent again


@pytest.mark.integration
def test_with_the_broker_everything_is_acknowledged() -> None:
    from tests.conftest import BROKERS
    from tests.integration.harness import StackEnv

    stack = StackEnv(BROKERS, "")
    stack.ensure_topics()
    producer = ReliableProducer([BROKERS])
    waits: list[str] = []
    producer.deliver([OutMessage(stack.events_topic, f"m{i}".encode()) for i in range(50)], waits.append)
    assert waits == []
    assert sorted(m.value() for m in stack.read_topic(stack.events_topic)) == sorted(f"m{i}".encode() for i in range(50))
