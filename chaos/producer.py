"""The paced producer: sends a stream at a fixed rate, each event stamped with its send time
(`ts`, epoch ms), and records what Kafka acknowledged.

Only acknowledged events enter the expectations (Jepsen's rule: an operation that may not have
happened is not held against the system). The producer is idempotent and waits up to 10 minutes
per message, so a broker outage delays events rather than dropping them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import orjson
from confluent_kafka import KafkaError, Message, Producer

MESSAGE_TIMEOUT_MS = 600_000


class PacedProducer:
    """Sends `events` to `topic` at `rate` per second (`tail_rate` from `tail_from` on), on a thread."""

    def __init__(self, brokers: str, topic: str, events: Sequence[dict[str, Any]], key: Callable[[Any], bytes],
                 rate: float, tail_from: int, tail_rate: float) -> None:
        self.topic, self.events, self.key = topic, events, key
        self.rate, self.tail_from, self.tail_rate = rate, tail_from, tail_rate
        self._producer = Producer({"bootstrap.servers": brokers, "enable.idempotence": True, "acks": "all",
                                   "linger.ms": 2, "message.timeout.ms": MESSAGE_TIMEOUT_MS,
                                   "log_level": 2})  # outages are the point: no reconnect chatter
        self.sent_wall: dict[str, float] = {}
        self.stamped: list[dict[str, Any]] = []
        self.acked: set[str] = set()
        self.failed: dict[str, str] = {}
        self._lock = threading.Lock()
        self.sent = 0
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, name="chaos-producer", daemon=True)

    def _run(self) -> None:
        started = time.monotonic()
        due = started
        for n, event in enumerate(self.events):
            due += 1.0 / (self.rate if n < self.tail_from else self.tail_rate)
            pause = due - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            event_id, now = str(event["id"]), time.time()
            self.sent_wall[event_id] = now
            stamped = {**event, "ts": int(now * 1000)}
            self.stamped.append(stamped)
            self._produce(stamped, event_id)
            self.sent = n + 1
        self._producer.flush(MESSAGE_TIMEOUT_MS / 1000)
        self.done.set()

    def _produce(self, event: dict[str, Any], event_id: str) -> None:
        def report(err: KafkaError | None, msg: Message) -> None:
            with self._lock:
                if err is None:
                    self.acked.add(event_id)
                else:
                    self.failed[event_id] = str(err)

        while True:
            try:
                self._producer.produce(self.topic, orjson.dumps(event), key=self.key(event), on_delivery=report)
                self._producer.poll(0)
                return
            except BufferError:
                self._producer.poll(0.1)

    def start(self) -> PacedProducer:
        self.thread.start()
        return self

    def acknowledged(self) -> list[dict[str, Any]]:
        """The events Kafka acknowledged, in the order of the stream (event-time order)."""
        with self._lock:
            return [event for event in self.stamped if str(event["id"]) in self.acked]
