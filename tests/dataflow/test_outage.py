"""`dataflow.outage`: an outage is waited out with growing, capped backoff, logged and counted;
other errors are not retried; the gauge shows down and up."""

from __future__ import annotations

import time

import pytest
from prometheus_client import REGISTRY

from dataflow.outage import MAX_S, DependencyWatch


def sample(name: str, dependency: str) -> float | None:
    return REGISTRY.get_sample_value(name, {"dependency": dependency})


class Down(Exception):
    pass


def test_work_is_retried_through_an_outage_and_the_metrics_follow() -> None:
    waits: list[float] = []
    watch = DependencyWatch("test-db", sleep=waits.append)
    answers = iter([Down(), Down(), Down(), "ok"])
    seen_down: list[float | None] = []

    def work() -> str:
        answer = next(answers)
        if isinstance(answer, Exception):
            seen_down.append(sample("cepflow_dependency_up", "test-db"))
            raise answer
        return answer

    before = sample("cepflow_outage_retries_total", "test-db") or 0
    assert watch.call(work, lambda exc: isinstance(exc, Down)) == "ok"
    assert len(waits) == 3 and waits[0] < waits[2] <= MAX_S  # grows
    assert seen_down[1:] == [0.0, 0.0]
    assert sample("cepflow_dependency_up", "test-db") == 1.0
    assert sample("cepflow_outage_retries_total", "test-db") == before + 3
    assert not watch.down


def test_backoff_is_capped_for_a_long_outage() -> None:
    waits: list[float] = []
    watch = DependencyWatch("test-long", sleep=waits.append)
    for _ in range(30):
        watch.failed("connection refused")
    assert max(waits) <= MAX_S and waits[-1] >= MAX_S / 2
    assert watch.down


def test_an_error_that_is_not_an_outage_is_raised_at_once() -> None:
    waits: list[float] = []
    watch = DependencyWatch("test-bad", sleep=waits.append)

    def work() -> None:
        raise ValueError("bad row")

    with pytest.raises(ValueError, match="bad row"):
        watch.call(work, lambda exc: isinstance(exc, Down))
    assert waits == []


def test_down_time_adds_up_outages_once_whatever_the_threads() -> None:
    watch = DependencyWatch("test-down-s", sleep=lambda _: None)
    assert watch.down_s() == 0.0
    watch.failed("refused")
    watch.failed("refused")  # a second thread (or try) in the same outage
    time.sleep(0.2)
    during = watch.down_s()
    watch.ok()
    after = watch.down_s()
    time.sleep(0.1)
    assert 0.2 <= during <= after < 0.5
    assert watch.down_s() == after  # up: the total no longer grows
