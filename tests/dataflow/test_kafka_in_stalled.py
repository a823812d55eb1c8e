"""The stalled-fetch guard (librdkafka#5153): a partition whose leader is up but which does not
fetch gets a new consumer at the offset it reached, after `STALLED_AFTER_S`; one whose leader is
down is left alone (not fetching is expected then)."""

from __future__ import annotations

from typing import Any, ClassVar

import orjson
import pytest

from dataflow import kafka_in
from dataflow.kafka_in import _Partition, fetching
from dataflow.watermark import WatermarkClock
from tests.dataflow.test_kafka_in_caught_up import stats


def test_fetching_reads_the_fetch_state_when_the_leader_is_up() -> None:
    assert fetching(stats(), "events", 2) is True
    assert fetching(stats(fetch_state="validate-epoch-wait"), "events", 2) is False
    assert fetching(stats(fetch_state="offset-query"), "events", 2) is False
    assert fetching(stats(state="DOWN", fetch_state="offset-query"), "events", 2) is None
    assert fetching({}, "events", 2) is None


class StandInConsumer:
    """confluent-kafka's Consumer as the partition uses it: no broker, records what it was told."""

    built: ClassVar[list[StandInConsumer]] = []

    def __init__(self, config: dict[str, Any]) -> None:
        self.config, self.assigned, self.closed = config, [], False
        StandInConsumer.built.append(self)

    def assign(self, partitions: list[Any]) -> None:
        self.assigned = [(p.topic, p.partition, p.offset) for p in partitions]

    def get_watermark_offsets(self, *_: Any, **__: Any) -> tuple[int, int]:
        return 0, 0

    def consume(self, *_: Any) -> list[Any]:
        return []

    def close(self) -> None:
        self.closed = True


@pytest.fixture()
def partition(monkeypatch: pytest.MonkeyPatch) -> _Partition:
    StandInConsumer.built = []
    monkeypatch.setattr(kafka_in, "Consumer", StandInConsumer)
    clock = WatermarkClock()
    return _Partition({"bootstrap.servers": "127.0.0.1:9"}, "events", 2, 41, 100, lambda: clock)


def test_a_partition_that_stopped_fetching_with_its_leader_up_gets_a_new_consumer(
        partition: _Partition, monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(kafka_in.time, "monotonic", lambda: now[0])
    partition._on_stats(orjson.dumps(stats(fetch_state="validate-epoch-wait")).decode())
    now[0] += kafka_in.STALLED_AFTER_S - 1
    partition.next_batch()
    assert len(StandInConsumer.built) == 1  # not yet: validation may take a moment
    now[0] += 2
    partition.next_batch()
    old, new = StandInConsumer.built
    assert old.closed and new.assigned == [("events", 2, 41)]  # where it had got to


def test_fetching_again_or_a_leader_down_resets_the_guard(partition: _Partition, monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(kafka_in.time, "monotonic", lambda: now[0])
    for document in (stats(fetch_state="offset-query"), stats(), stats(state="DOWN", fetch_state="offset-query")):
        now[0] += kafka_in.STALLED_AFTER_S - 1
        partition._on_stats(orjson.dumps(document).decode())
        partition.next_batch()
    now[0] += kafka_in.STALLED_AFTER_S * 2  # the leader is still down: not fetching is expected
    partition.next_batch()
    assert len(StandInConsumer.built) == 1
