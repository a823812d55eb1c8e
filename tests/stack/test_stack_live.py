"""The local stack started by stack/up answers: Kafka round-trips a message, PostgreSQL logs in.

Marked integration. When nothing answers on the stack's ports: a failure under `make test`/CI
(CEPFLOW_REQUIRE_STACK=1), a skip otherwise (see tests/conftest.py).
"""

from __future__ import annotations

import os
import socket
import time
import uuid

import pytest

from tests.conftest import stack_unavailable

pytestmark = pytest.mark.integration

BROKERS = os.environ.get("CEPFLOW_KAFKA_BROKERS", "127.0.0.1:19092")
DB_URLS = {
    "cepflow": os.environ.get(
        "CEPFLOW_DATABASE_URL", "postgresql+psycopg://cepflow:cepflow@127.0.0.1:15432/cepflow"
    ),
    "cepflow_test": os.environ.get(
        "CEPFLOW_TEST_DATABASE_URL",
        "postgresql+psycopg://cepflow:cepflow@127.0.0.1:15432/cepflow_test",
    ),
}


def _port_open(hostport: str) -> bool:
    host, _, port = hostport.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=1):
            return True
    except OSError:
        return False


def test_kafka_round_trip():
    ck = pytest.importorskip("confluent_kafka")
    from confluent_kafka.admin import AdminClient, NewTopic

    first = BROKERS.split(",")[0]
    if not _port_open(first):
        stack_unavailable(f"no Kafka on {first} (run stack/up)")
    admin = AdminClient({"bootstrap.servers": BROKERS})
    topic = f"cepflow.stack-check.{uuid.uuid4().hex[:10]}"
    for fut in admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)]).values():
        fut.result(timeout=30)
    try:
        producer = ck.Producer({"bootstrap.servers": BROKERS})
        producer.produce(topic, key=b"k", value=b"hello")
        assert producer.flush(15) == 0
        consumer = ck.Consumer({
            "bootstrap.servers": BROKERS,
            "group.id": f"stack-check-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
        })
        consumer.subscribe([topic])
        got = None
        deadline = time.monotonic() + 30
        try:
            while time.monotonic() < deadline:
                msg = consumer.poll(0.5)
                if msg is not None and msg.error() is None:
                    got = msg
                    break
        finally:
            consumer.close()
        assert got is not None, "no message consumed within 30 s"
        assert (got.key(), got.value()) == (b"k", b"hello")
    finally:
        for fut in admin.delete_topics([topic]).values():
            try:
                fut.result(timeout=30)
            except Exception:  # cleanup only
                pass


@pytest.mark.parametrize("db", ["cepflow", "cepflow_test"])
def test_postgres_login(db):
    psycopg = pytest.importorskip("psycopg")
    url = DB_URLS[db].replace("postgresql+psycopg://", "postgresql://", 1)
    if not _port_open(url.rsplit("@", 1)[1].split("/", 1)[0]):
        stack_unavailable("no PostgreSQL on the stack's port (run stack/up)")
    with psycopg.connect(url, connect_timeout=5) as conn:
        row = conn.execute("select current_user, current_database(), 1").fetchone()
    assert row == ("cepflow", db, 1)
