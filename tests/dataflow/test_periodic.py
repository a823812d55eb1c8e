"""The background refresh thread: an outage is two log lines (down, back), other failures a
traceback each time; the work is tried again every period either way."""

from __future__ import annotations

import logging
import time

import psycopg
import pytest
from sqlalchemy.exc import OperationalError

from dataflow.periodic import Periodic


def run_until(periodic: Periodic, done: list[int], count: int) -> None:
    periodic.start()
    deadline = time.monotonic() + 5
    while len(done) < count and time.monotonic() < deadline:
        time.sleep(0.01)
    periodic.stop()
    periodic.thread.join(1)


def test_an_outage_is_logged_once_when_it_starts_and_once_when_it_ends(caplog: pytest.LogCaptureFixture) -> None:
    calls: list[int] = []

    def work() -> None:
        calls.append(1)
        if len(calls) <= 5:
            raise OperationalError("SELECT", {}, psycopg.OperationalError("connection refused"))

    with caplog.at_level(logging.WARNING, logger="dataflow.periodic"):
        run_until(Periodic("refresh", 0.01, work), calls, 8)
    messages = [r.getMessage() for r in caplog.records]
    assert len(calls) >= 8
    assert len(messages) == 2, messages
    assert "database unavailable" in messages[0] and "connection refused" in messages[0]
    assert "database back" in messages[1]
    assert all(r.exc_info is None for r in caplog.records)


def test_other_failures_keep_their_traceback(caplog: pytest.LogCaptureFixture) -> None:
    calls: list[int] = []

    def work() -> None:
        calls.append(1)
        raise ValueError("a bug")

    with caplog.at_level(logging.WARNING, logger="dataflow.periodic"):
        run_until(Periodic("refresh", 0.01, work), calls, 3)
    assert len(caplog.records) >= 3 and all(r.exc_info is not None for r in caplog.records)
