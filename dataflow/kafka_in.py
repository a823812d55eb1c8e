"""Where events enter: a Kafka source that hands the dataflow one item per poll, not per message.

Bytewax's own `KafkaSource` builds a frozen `KafkaSourceMessage` per message and then routes each
through its own `branch` step; at tens of thousands of events per second that per-message
object work cost a third of the engine's time (bench profile, issue 6). Here each poll of a
partition becomes one item: the list of confluent-kafka `Message`s as polled, which the router
reads in place (`dataflow.types.KafkaMessage`).

Recovery is Bytewax's, as with its connector (BYTEWAX.md §2.3): one source partition per Kafka
partition, named `"{partition}-{topic}"` like Bytewax's, whose snapshot is the next offset to
read — so a recovery store written by the Bytewax connector resumes here unchanged.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import cast

from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Message, TopicPartition
from confluent_kafka.admin import AdminClient

log = logging.getLogger(__name__)


class FatalKafkaError(RuntimeError):
    """The consumer reported an error it cannot recover from (auth, unknown topic, fatal)."""


def _check(msg: Message) -> None:
    """Transient consumer errors are logged (librdkafka retries them); fatal ones stop the engine."""
    err = msg.error()
    if err is None or err.code() == KafkaError._PARTITION_EOF:
        return
    log.warning("kafka consumer error on %s/%s: %s", msg.topic(), msg.partition(), err.str())
    if err.fatal():
        raise FatalKafkaError(err.str())


class _Partition(StatefulSourcePartition[list[Message], int]):
    def __init__(self, config: dict[str, str], topic: str, partition: int, offset: int, batch_size: int) -> None:
        self._consumer = Consumer(config)
        self._consumer.assign([TopicPartition(topic, partition, offset)])
        self._offset = offset
        self._batch_size = batch_size

    def next_batch(self) -> list[list[Message]]:
        # Never blocks: Bytewax waits 1 ms itself after an empty batch, without holding up the other
        # partitions (a 1 ms timeout here was paid in turn by every quiet partition, each loop).
        msgs = self._consumer.consume(self._batch_size, 0)
        if not msgs:
            return []
        batch = [msg for msg in msgs if msg.error() is None]
        if len(batch) < len(msgs):
            for msg in msgs:
                if msg.error() is not None:
                    _check(msg)
        if not batch:
            return []
        self._offset = cast(int, batch[-1].offset()) + 1  # a message read without error has an offset
        return [batch]

    def snapshot(self) -> int:
        return self._offset

    def close(self) -> None:
        self._consumer.close()


class KafkaBatchSource(FixedPartitionedSource[list[Message], int]):
    """Every partition of `topics`, from the beginning unless recovery says where to resume."""

    def __init__(self, brokers: Sequence[str], topics: Sequence[str], batch_size: int,
                 config: dict[str, str] | None = None) -> None:
        self._config = {"bootstrap.servers": ",".join(brokers), **(config or {})}
        self._topics = list(topics)
        self._batch_size = batch_size

    def list_parts(self) -> list[str]:
        admin = AdminClient({"bootstrap.servers": self._config["bootstrap.servers"]})  # consumer settings warn
        parts: list[str] = []
        for topic in self._topics:  # one by one, so that broker-side auto-creation is respected
            meta = admin.list_topics(topic, timeout=30).topics[topic]
            if meta.error is not None:
                msg = f"cannot list the partitions of topic {topic!r}: {meta.error.str()}"
                raise FatalKafkaError(msg)
            parts.extend(f"{index}-{topic}" for index in sorted(meta.partitions))
        return parts

    def build_part(self, step_id: str, for_part: str, resume_state: int | None) -> _Partition:
        index, topic = for_part.split("-", 1)
        config = {**self._config, "group.id": "cepflow-unused", "enable.auto.commit": "false"}
        offset = OFFSET_BEGINNING if resume_state is None else resume_state
        return _Partition(config, topic, int(index), offset, self._batch_size)
