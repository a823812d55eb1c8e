"""Idle means caught up: when librdkafka's statistics say a partition is read to its end."""

from __future__ import annotations

from typing import Any

import pytest

from dataflow.kafka_in import caught_up


def stats(*, state: str = "UP", fetch_state: str = "active", high: int = 10, low: int = 0,
          leader: int = 1) -> dict[str, Any]:
    return {
        "brokers": {"127.0.0.1:9092/1": {"nodeid": 1, "state": state}},
        "topics": {"events": {"partitions": {
            "2": {"leader": leader, "fetch_state": fetch_state, "hi_offset": high, "lo_offset": low},
            "-1": {"leader": -1, "fetch_state": "none", "hi_offset": -1001, "lo_offset": -1001},
        }}},
    }


def test_read_to_the_end_offset_with_the_leader_up_is_caught_up() -> None:
    assert caught_up(stats(), "events", 2, 10) is True
    assert caught_up(stats(high=0), "events", 2, -2) is True  # empty, nothing read yet (from the beginning)
    assert caught_up(stats(high=5, low=5), "events", 2, -2) is True  # emptied by retention


@pytest.mark.parametrize(
    ("document", "position", "why"),
    [
        (stats(), 9, "one message unread"),
        (stats(), -2, "nothing read yet, ten messages there"),
        (stats(state="DOWN"), 10, "the broker cannot be reached: its end offset is stale"),
        (stats(state="CONNECT"), 10, "reconnecting"),
        (stats(leader=2), 10, "the leader is another broker, not connected"),
    ],
)
def test_anything_else_is_not_caught_up(document: dict[str, Any], position: int, why: str) -> None:
    assert caught_up(document, "events", 2, position) is False, why


@pytest.mark.parametrize(
    ("document", "why"),
    [
        (stats(fetch_state="offset-query"), "not fetching yet"),
        (stats(high=-1001), "no end offset known yet"),
        ({}, "no statistics of the partition"),
    ],
)
def test_statistics_that_say_nothing_yet_leave_the_last_word(document: dict[str, Any], why: str) -> None:
    assert caught_up(document, "events", 2, 10) is None, why
