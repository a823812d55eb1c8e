"""Writing to Kafka without losing messages silently.

Bytewax 0.21.1's `KafkaSink` drops failed deliveries, crashes on a full local queue and ignores
partitions (BYTEWAX.md §2.4). `ReliableProducer` fixes the three: delivery reports are checked,
`BufferError` is retried after serving callbacks, and `flush` raises when anything is undelivered.
`deliver` goes further: it waits a broker outage out, re-sending what failed, until everything
is acknowledged — the sinks use it, so an outage pauses the engine instead of stopping it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bytewax.outputs import DynamicSink, StatelessSinkPartition
from confluent_kafka import KafkaError, Message, Producer

from dataflow.outage import DependencyWatch, watch


class DeliveryError(RuntimeError):
    """Kafka did not acknowledge some messages; the batch must be retried (replayed)."""


@dataclass(frozen=True, slots=True)
class OutMessage:
    """One message for `ReliableProducer`; `topic` is required, everything else optional."""

    topic: str
    value: bytes
    key: bytes | None = None
    headers: tuple[tuple[str, bytes], ...] = ()


def producer_config(brokers: Sequence[str], extra: dict[str, str] | None = None) -> dict[str, str]:
    """Idempotent, fully acknowledged producer settings with a short linger."""
    return {
        "bootstrap.servers": ",".join(brokers),
        "enable.idempotence": "true",
        "acks": "all",
        "linger.ms": "5",
        "compression.type": "lz4",
        **(extra or {}),
    }


class ReliableProducer:
    """A confluent-kafka producer that reports every failed delivery at `flush`. Thread-safe."""

    def __init__(self, brokers: Sequence[str], extra: dict[str, str] | None = None) -> None:
        self._producer = Producer(producer_config(brokers, extra))
        self._errors: list[str] = []
        self._lock = threading.Lock()

    def _on_delivery(self, err: KafkaError | None, msg: Message) -> None:
        if err is not None:
            with self._lock:
                self._errors.append(f"{msg.topic()}: {err.str()}")

    def send(self, message: OutMessage, on_delivery: Callable[[KafkaError | None, Message], None] | None = None) -> None:
        """Queue one message; waits (serving delivery reports) while the local queue is full.

        Its delivery report goes to `on_delivery` when given, else to the errors `flush` raises.
        """
        while True:
            try:
                self._producer.produce(
                    message.topic,
                    value=message.value,
                    key=message.key,
                    headers=list(message.headers),
                    on_delivery=on_delivery or self._on_delivery,
                )
                break
            except BufferError:
                self._producer.poll(0.1)
        self._producer.poll(0)

    def flush(self, timeout_s: float = 30.0) -> None:
        """Wait for every queued message; raise `DeliveryError` if any failed or remained."""
        remaining = self._producer.flush(timeout_s)
        with self._lock:
            errors, self._errors = self._errors, []
        if remaining:
            errors.append(f"{remaining} message(s) still queued after {timeout_s}s")
        if errors:
            raise DeliveryError("Kafka delivery failed: " + "; ".join(errors[:5]))

    def deliver(self, messages: Sequence[OutMessage], wait: Callable[[str], None], timeout_s: float = 5.0) -> None:
        """Return once Kafka acknowledged every message, however long the broker is away.

        While messages stay queued (broker unreachable) or come back failed (e.g. timed out in
        librdkafka), `wait(reason)` is called — it backs off, logs and counts the outage — and
        the failed ones are sent again (at-least-once: consumers dedupe by key or id).
        """
        todo = list(messages)
        while todo:
            failed: list[tuple[OutMessage, str]] = []

            def reporter(message: OutMessage, failed: list[tuple[OutMessage, str]] = failed,
                         ) -> Callable[[KafkaError | None, Message], None]:
                def report(err: KafkaError | None, _msg: Message) -> None:
                    if err is not None:
                        failed.append((message, err.str()))
                return report

            for message in todo:
                self.send(message, reporter(message))
            while (remaining := self._producer.flush(timeout_s)) > 0:
                wait(f"{remaining} message(s) not acknowledged after {timeout_s}s")
            if failed:
                wait(f"{len(failed)} message(s) failed: {failed[0][1]}")
            todo = [message for message, _ in failed]


class _TopicSinkPartition(StatelessSinkPartition[OutMessage]):
    def __init__(self, producer: ReliableProducer, kafka: DependencyWatch) -> None:
        self._producer = producer
        self._kafka = kafka

    def write_batch(self, items: list[OutMessage]) -> None:
        self._producer.deliver(items, self._kafka.failed)
        self._kafka.ok()


class TopicSink(DynamicSink[OutMessage]):
    """Bytewax sink of `OutMessage`s (dead letters, late events): at-least-once, never silent.

    A broker outage is waited out (`ReliableProducer.deliver`), not fatal: the batch blocks,
    the dataflow with it, until Kafka acknowledges.
    """

    def __init__(self, brokers: Sequence[str]) -> None:
        self._brokers = list(brokers)

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _TopicSinkPartition:
        return _TopicSinkPartition(ReliableProducer(self._brokers), watch("kafka"))
