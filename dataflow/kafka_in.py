"""Where events enter: a Kafka source that hands the dataflow one item per poll, not per message.

Bytewax's own `KafkaSource` builds a frozen `KafkaSourceMessage` per message and then routes each
through its own `branch` step; at tens of thousands of events per second that per-message
object work cost a third of the engine's time (bench profile, issue 6). Here each poll of a
partition becomes one item: the list of confluent-kafka `Message`s as polled, which the router
reads in place (`dataflow.types.KafkaMessage`).

Recovery is Bytewax's, as with its connector (BYTEWAX.md §2.3): one source partition per Kafka
partition, named `"{partition}-{topic}"` like Bytewax's, whose snapshot is the next offset to
read — so a recovery store written by the Bytewax connector resumes here unchanged.

Each partition tells the event-time clock whether it is caught up — read up to the end offset the
broker reports, with the broker reachable — from librdkafka's statistics every 500 ms: an idle
partition drops out of the watermark only then (RULES.md §4, `dataflow/watermark.py`).

The same statistics guard against a known librdkafka fault: after a broker restart, a consumer
that `assign`s its partition sometimes never fetches it again although its leader is back
(confluentinc/librdkafka#5153, #4492; seen once in `make chaos`, "Kafka broker down 20 s": the
partition's events were never read, and the clock waited for it for ever). A partition whose
leader is up but which has not been fetching for `STALLED_AFTER_S` gets a new consumer, at the
offset it had reached.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, cast

import orjson
from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Message, TopicPartition
from confluent_kafka.admin import AdminClient

from dataflow.watermark import WatermarkClock

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


STATS_INTERVAL_MS = 500
"""How often librdkafka reports a partition's end offset and its leader's state (`caught_up`)."""


def _partition_stats(stats: dict[str, Any], topic: str, partition: int) -> tuple[dict[str, Any] | None, bool]:
    """The partition's statistics (None when absent) and whether its leader is connected (`UP`)."""
    part = stats.get("topics", {}).get(topic, {}).get("partitions", {}).get(str(partition))
    if part is None:
        return None, False
    leader = part.get("leader")
    return part, any(broker.get("nodeid") == leader and broker.get("state") == "UP"
                     for broker in stats.get("brokers", {}).values())


def caught_up(stats: dict[str, Any], topic: str, partition: int, position: int) -> bool | None:
    """Whether librdkafka's statistics show this partition read up to the broker's end offset;
    None when they say nothing yet (not fetching, no end offset known: the last word stands).

    Only when its leader is connected (`UP`): the end offset of a broker that cannot be reached is
    stale, and a partition that looks read to it may have unread messages.
    `position` is the next offset to read, negative before the first read (from the beginning).
    """
    part, leader_up = _partition_stats(stats, topic, partition)
    if part is None:
        return None
    if not leader_up:
        return False
    high, low = part.get("hi_offset", -1), part.get("lo_offset", -1)
    if part.get("fetch_state") != "active" or high < 0:
        return None
    return (position if position >= 0 else low) >= high


STALLED_AFTER_S = 15.0
"""How long a partition may not fetch while its leader is up before its consumer is rebuilt
(librdkafka moves through offset and epoch validation in well under a second)."""


def fetching(stats: dict[str, Any], topic: str, partition: int) -> bool | None:
    """Whether librdkafka's statistics show this partition fetching (`fetch_state` active); None
    when its leader is not up (not fetching is expected then) or they say nothing of it.
    """
    part, leader_up = _partition_stats(stats, topic, partition)
    if part is None or not leader_up:
        return None
    return part.get("fetch_state") == "active"


def _caught_up_now(consumer: Consumer, tp: TopicPartition, position: int) -> bool:
    """Asked of the broker itself, once at start: a partition built before the first statistics
    (500 ms) would otherwise hold the watermark until then, even when empty.
    """
    try:
        low, high = consumer.get_watermark_offsets(tp, timeout=2, cached=False)
    except KafkaException as exc:
        log.warning("cannot read the end offset of %s/%s: %s", tp.topic, tp.partition, exc)
        return False
    return (position if position >= 0 else low) >= high


class _Partition(StatefulSourcePartition[list[Message], int]):
    def __init__(self, config: dict[str, Any], topic: str, partition: int, offset: int, batch_size: int,
                 clock: Callable[[], WatermarkClock] | None = None) -> None:
        self._topic, self._partition, self._clock = topic, partition, clock
        self._stalled_since: float | None = None  # leader up, not fetching, since (monotonic)
        if clock is not None:  # the clock waits for this partition until its first report
            clock().track(topic, partition)
            config = {**config, "statistics.interval.ms": str(STATS_INTERVAL_MS), "stats_cb": self._on_stats}
        self._config = config
        self._consumer = self._assigned(offset)
        self._offset = offset
        self._batch_size = batch_size
        if clock is not None:
            clock().confirm(topic, partition, _caught_up_now(self._consumer, TopicPartition(topic, partition), offset))

    def _assigned(self, offset: int) -> Consumer:
        consumer = Consumer(self._config)
        consumer.assign([TopicPartition(self._topic, self._partition, offset)])
        return consumer

    def _on_stats(self, raw: str) -> None:
        """Called by librdkafka inside `consume`, on this worker's thread."""
        assert self._clock is not None
        try:
            stats = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return
        read_up = caught_up(stats, self._topic, self._partition, self._offset)
        if read_up is not None:
            self._clock().confirm(self._topic, self._partition, read_up)
        if fetching(stats, self._topic, self._partition) is False:
            if self._stalled_since is None:
                self._stalled_since = time.monotonic()
        else:
            self._stalled_since = None

    def _unstall(self) -> None:
        """A new consumer at the offset reached, when the leader is up but this one stopped fetching."""
        since = self._stalled_since
        if since is None or time.monotonic() - since < STALLED_AFTER_S:
            return
        log.warning("kafka partition %s/%s: leader up but not fetching for %.0f s; new consumer at offset %s",
                    self._topic, self._partition, time.monotonic() - since, self._offset)
        self._stalled_since = None
        self._consumer.close()
        self._consumer = self._assigned(self._offset)

    def next_batch(self) -> list[list[Message]]:
        # Never blocks: Bytewax waits 1 ms itself after an empty batch, without holding up the other
        # partitions (a 1 ms timeout here was paid in turn by every quiet partition, each loop).
        self._unstall()
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
                 config: dict[str, str] | None = None, clock: Callable[[], WatermarkClock] | None = None) -> None:
        self._config = {"bootstrap.servers": ",".join(brokers), **(config or {})}
        self._topics = list(topics)
        self._batch_size = batch_size
        self._clock = clock
        """Told whether each partition is caught up (idle means caught up, `dataflow/watermark.py`)."""

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
        return _Partition(config, topic, int(index), offset, self._batch_size, self._clock)
