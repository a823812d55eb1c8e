"""A broker outage during a paced stream loses nothing (issue 13, RULES.md §4 "idle means caught up").

Found on the real stack: with the broker stopped for 15 s during a stream of 20 events/s, the
events producers buffered meanwhile arrived after the wall-clock watermark had passed them and
went to the late topic — 115 of 408 executions lost. While the broker cannot be reached no
partition is caught up, so wall-clock time moves no watermark. The broker here is the test's own
(`private_kafka.py`): the shared one is never stopped.
"""

from __future__ import annotations

import threading
import time

import orjson
import pytest
from confluent_kafka import Producer

from cepflow.receiver import Receiver
from dataflow.kafka_out import producer_config
from tests.integration.detections import AppliedRules, example_rule
from tests.integration.harness import EngineProcess, StackEnv, wait_until
from tests.integration.private_kafka import PrivateKafka

pytestmark = pytest.mark.integration


class Pacer:
    """`{"type": "tick", "n": n, "ts": now}` at 20 events/s, one partition; the producer buffers
    through an outage (delivery timeout 2 minutes) as an application's would."""

    def __init__(self, brokers: str, topic: str) -> None:
        self.producer = Producer(producer_config([brokers], {"message.timeout.ms": "120000"}))
        self.topic, self.sent, self.failed = topic, 0, []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _delivered(self, err: object, _msg: object) -> None:
        if err is not None:
            self.failed.append(err)

    def _run(self) -> None:
        while not self.stop.is_set():
            tick = {"id": f"tick-{self.sent}", "type": "tick", "n": self.sent, "ts": int(time.time() * 1000)}
            self.producer.produce(self.topic, orjson.dumps(tick), key=b"one", on_delivery=self._delivered)
            self.producer.poll(0)
            self.sent += 1
            time.sleep(0.05)
        assert self.producer.flush(120) == 0


def test_a_broker_outage_makes_no_event_late_and_loses_no_execution(database, sessions, tmp_path, unique):
    broker = PrivateKafka(tmp_path / "kafka").start()
    env = StackEnv(broker.brokers, database)
    engine = EngineProcess(env, tmp_path)
    pacer: Pacer | None = None
    try:
        env.ensure_topics()
        with Receiver() as receiver:
            name = f"every-tick-{unique}"  # allowed lateness: the default 5 s
            doc = example_rule("each-payment-failed.yaml", name=name, url=receiver.url("/tick"),
                               topic=env.events_topic, changes={"match.type": "tick",
                                                                "where": {"field": "n", "op": "gte", "value": 0}})
            with AppliedRules(sessions).apply(doc) as rules:
                engine.start()
                pacer = Pacer(broker.brokers, env.events_topic)
                pacer.thread.start()
                wait_until(lambda: len(rules.rows()) >= 20, 60, "the stream to flow")
                broker.stop()
                time.sleep(15)
                broker.start()
                time.sleep(5)
                pacer.stop.set()
                pacer.thread.join(150)
                assert not pacer.failed, pacer.failed[:3]
                rows = rules.wait_rows(pacer.sent, engine, timeout=90)
                assert sorted(int(r.references["event_id"].split("-")[1]) for r in rows) == list(range(pacer.sent))
                assert env.read_topic(f"{env.prefix}.late", timeout=5) == []
                assert pacer.sent >= 400  # ~25 s at 20 events/s, as in the report
    finally:
        if pacer is not None:
            pacer.stop.set()
        engine.stop()
        broker.stop()
