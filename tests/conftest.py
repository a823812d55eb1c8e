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


def stack_unavailable(reason: str) -> None:
    """Fail under `make test`/CI, skip otherwise."""
    if os.environ.get("CEPFLOW_REQUIRE_STACK"):
        pytest.fail(f"local stack required but unavailable: {reason}")
    pytest.skip(f"local stack unavailable: {reason}")
