"""The engine's Kafka source (`dataflow/kafka_in.py`) on the real broker: partitions named as
Bytewax's connector names them, one list per poll, resume from a snapshot offset."""

from __future__ import annotations

import time

import pytest
from confluent_kafka import Message

from dataflow.kafka_in import KafkaBatchSource
from tests.integration.harness import StackEnv

pytestmark = pytest.mark.integration


def drain(part, want: int, timeout: float = 20) -> list[list[Message]]:
    polls: list[list[Message]] = []
    deadline = time.monotonic() + timeout
    while sum(map(len, polls)) < want and time.monotonic() < deadline:
        polls.extend(part.next_batch())
    return polls


def test_partitions_polls_and_resume(stack: StackEnv) -> None:
    topic = stack.events_topic
    source = KafkaBatchSource([stack.brokers], [topic], batch_size=1000)
    parts = source.list_parts()
    assert parts == [f"{i}-{topic}" for i in range(len(parts))] and len(parts) > 1

    stack.produce([{"n": n} for n in range(5)], key=b"same")  # one partition, in order
    found = []
    for name in parts:
        part = source.build_part("kafka_in", name, None)
        try:
            polls = drain(part, 5, timeout=3)
            if polls:
                found.append((name, polls, part.snapshot()))
        finally:
            part.close()
    assert len(found) == 1, f"the five messages are in one partition: {found}"
    name, polls, snapshot = found[0]
    messages = [m for poll in polls for m in poll]
    assert all(isinstance(poll, list) and poll for poll in polls)  # a list per poll, never an empty one
    assert [m.offset() for m in messages] == [0, 1, 2, 3, 4] and snapshot == 5
    assert messages[0].topic() == topic and messages[0].value() == b'{"n":0}' and messages[0].timestamp()[1] > 0

    resumed = source.build_part("kafka_in", name, 3)  # a recovery snapshot says: next is offset 3
    try:
        assert [m.offset() for poll in drain(resumed, 2) for m in poll] == [3, 4]
        assert resumed.snapshot() == 5
    finally:
        resumed.close()
