"""Kafka administration: creating cepflow's topics before the dataflow starts (Bytewax reads
partition lists only once), and reading small operator topics (dead letters) whole.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

from confluent_kafka import Consumer, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


def ensure_topics(brokers: Sequence[str], topics: Mapping[str, int], timeout_s: float = 30.0) -> list[str]:
    """Create the topics that do not exist yet; returns the names created."""
    admin = AdminClient({"bootstrap.servers": ",".join(brokers)})
    existing = set(admin.list_topics(timeout=timeout_s).topics)
    missing = [NewTopic(name, num_partitions=n, replication_factor=1) for name, n in topics.items() if name not in existing]
    if not missing:
        return []
    created = []
    for name, future in admin.create_topics(missing, operation_timeout=timeout_s).items():
        try:
            future.result(timeout_s)
            created.append(name)
        except KafkaException as exc:
            if exc.args[0].name() != "TOPIC_ALREADY_EXISTS":
                raise
    return created


def read_all(brokers: Sequence[str], topic: str, timeout_s: float = 10.0) -> list[bytes]:
    """Every message value in `topic` now, all partitions, oldest first per partition.

    For small operator topics (dead letters): it assigns partitions directly and commits nothing.
    """
    consumer = Consumer({"bootstrap.servers": ",".join(brokers), "group.id": "cepflow-reader",
                         "enable.auto.commit": "false"})
    try:
        meta = consumer.list_topics(topic, timeout=timeout_s).topics.get(topic)
        if meta is None or meta.error is not None:
            return []
        wanted, assignment = 0, []
        for partition in meta.partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=timeout_s)
            if high > low:
                wanted += high - low
                assignment.append(TopicPartition(topic, partition, low))
        if not assignment:
            return []
        consumer.assign(assignment)
        values: list[bytes] = []
        deadline = time.monotonic() + timeout_s
        while len(values) < wanted and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is not None and msg.error() is None:
                values.append(msg.value() or b"")
        return values
    finally:
        consumer.close()
