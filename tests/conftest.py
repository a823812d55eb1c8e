"""Shared test configuration.

Integration tests need the local Kafka and PostgreSQL that `stack/up` starts. Under `make test`
(CEPFLOW_REQUIRE_STACK=1, as in CI) a missing service is a failure; in a plain `pytest` run on a
laptop without the stack, those tests are skipped with the reason.
"""

from __future__ import annotations

import os
import secrets

import pytest

# Importing `cepflow.flow` builds the engine, which refuses to start without a sealing key; a
# key per test process (engines and CLIs started by the harness get the same one).
os.environ.setdefault("CEPFLOW_INTERNAL_KEY", secrets.token_urlsafe(48))

BROKERS = os.environ.get("CEPFLOW_KAFKA_BROKERS", "127.0.0.1:19092")
TEST_DATABASE_URL = os.environ.get(
    "CEPFLOW_TEST_DATABASE_URL", "postgresql+psycopg://cepflow:cepflow@127.0.0.1:15432/cepflow_test"
)


TEST_TOPIC_PREFIXES: dict[str, set[str]] = {}
"""Per broker, the topic-name prefixes of this session's tests (`StackEnv`): their topics are
deleted when the session ends, or a shared broker collects partition directories run after run
until it hits its open-file limit."""


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Delete every topic that this session's tests created (best effort: the broker may be gone)."""
    from confluent_kafka.admin import AdminClient

    for brokers, prefixes in TEST_TOPIC_PREFIXES.items():
        try:
            admin = AdminClient({"bootstrap.servers": brokers, "socket.timeout.ms": 5000})
            names = [t for t in admin.list_topics(timeout=5).topics if t.split(".", 1)[0] in prefixes]
            for future in admin.delete_topics(names, operation_timeout=30).values() if names else ():
                future.result(30)
        except Exception:  # a stopped private broker has nothing left to clean
            continue


def stack_unavailable(reason: str) -> None:
    """Fail under `make test`/CI, skip otherwise."""
    if os.environ.get("CEPFLOW_REQUIRE_STACK"):
        pytest.fail(f"local stack required but unavailable: {reason}")
    pytest.skip(f"local stack unavailable: {reason}")
