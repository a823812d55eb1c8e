"""The retry stage: attempts, backoff with full jitter, Retry-After, the deadline."""

from __future__ import annotations

import random

import pytest

from actions.outcome import ActionOutcome
from actions.retry import run_with_retry
from actions.ssrf import TargetGuard
from actions.webhook import WebhookExecutor
from cepflow.receiver import Receiver
from rules.model import RetrySpec, WebhookAction

FAIL = ActionOutcome(ok=False, retryable=True, status_code=500, error="HTTP 500")
POLICY = RetrySpec(max_attempts=5, backoff=1000, max_backoff=4000)


class FakeTime:
    """A clock that only moves when the retry stage sleeps."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def never_sleep(seconds: float) -> None:
    message = f"no retry expected, yet asked to sleep {seconds} s"
    raise AssertionError(message)


class HighestJitter(random.Random):
    def uniform(self, a: float, b: float) -> float:
        return b


class Scripted:
    """An attempt function answering these outcomes in turn (the last one forever)."""

    def __init__(self, *outcomes: ActionOutcome) -> None:
        self.outcomes = outcomes
        self.calls: list[int] = []

    def __call__(self, number: int) -> ActionOutcome:
        self.calls.append(number)
        return self.outcomes[min(number, len(self.outcomes)) - 1]


def test_webhook_500_500_200_takes_three_attempts_with_one_webhook_id():
    time = FakeTime()
    with Receiver() as receiver:
        receiver.script("/hook", [500, 500, 200])
        executor = WebhookExecutor(TargetGuard(allow_hosts=["127.0.0.1"]))
        spec = WebhookAction(endpoint=receiver.url(), body={"n": 1})
        outcome = run_with_retry(
            lambda _n: executor.attempt(spec, "exec-key", 1700000000), spec.retry, sleep=time.sleep, clock=time.clock
        )
        executor.close()
        got = receiver.requests
    assert outcome.ok and outcome.attempts == 3 and outcome.status_code == 200
    assert len(got) == 3 and {r.headers["webhook-id"] for r in got} == {"exec-key"}
    assert len(time.sleeps) == 2


def test_webhook_404_is_not_retried():
    with Receiver() as receiver:
        receiver.always("/hook", 404)
        executor = WebhookExecutor(TargetGuard(allow_hosts=["127.0.0.1"]))
        spec = WebhookAction(endpoint=receiver.url())
        outcome = run_with_retry(lambda _n: executor.attempt(spec, "k", 1700000000), spec.retry, sleep=never_sleep)
        executor.close()
        assert len(receiver.requests) == 1
    assert not outcome.ok and outcome.attempts == 1 and outcome.status_code == 404


def test_attempts_are_numbered_and_stop_at_max_attempts():
    time = FakeTime()
    attempt = Scripted(FAIL)
    outcome = run_with_retry(attempt, POLICY, sleep=time.sleep, clock=time.clock)
    assert attempt.calls == [1, 2, 3, 4, 5]
    assert outcome == ActionOutcome(
        ok=False, retryable=True, status_code=500, error="HTTP 500", attempts=5, duration_ms=outcome.duration_ms
    )
    assert outcome.duration_ms == pytest.approx(sum(time.sleeps) * 1000)


def test_backoff_doubles_up_to_max_backoff():
    time = FakeTime()
    run_with_retry(Scripted(FAIL), POLICY, sleep=time.sleep, clock=time.clock, rng=HighestJitter())
    assert time.sleeps == [1.0, 2.0, 4.0, 4.0]


def test_full_jitter_stays_within_the_exponential_bound():
    policy = RetrySpec(max_attempts=8, backoff=100, max_backoff=1000)
    bounds = [0.1, 0.2, 0.4, 0.8, 1.0, 1.0, 1.0]
    seen: list[list[float]] = []
    for seed in range(50):
        time = FakeTime()
        run_with_retry(Scripted(FAIL), policy, sleep=time.sleep, clock=time.clock, rng=random.Random(seed))
        assert all(0 <= s <= b for s, b in zip(time.sleeps, bounds, strict=True))
        seen.append(time.sleeps)
    assert len({tuple(s) for s in seen}) == 50  # jittered: no two runs alike


def test_retry_after_is_honoured_and_capped():
    time = FakeTime()
    asked = ActionOutcome(ok=False, retryable=True, status_code=429, retry_after_s=3.0)
    greedy = ActionOutcome(ok=False, retryable=True, status_code=503, retry_after_s=3600.0)
    ok = ActionOutcome(ok=True, retryable=False, status_code=200)
    outcome = run_with_retry(
        Scripted(asked, greedy, ok), POLICY, sleep=time.sleep, clock=time.clock, rng=random.Random(1)
    )
    assert outcome.ok and outcome.attempts == 3
    assert time.sleeps[0] >= 3.0 and time.sleeps[1] == 4.0


def test_no_sleep_may_end_past_the_deadline():
    time = FakeTime()
    attempt = Scripted(FAIL)
    outcome = run_with_retry(
        attempt, POLICY, sleep=time.sleep, clock=time.clock, rng=HighestJitter(), deadline_s=time.now + 3.5
    )
    # Sleeps of 1 s and 2 s fit in 3.5 s; the next (4 s) would not: three attempts, then give up.
    assert attempt.calls == [1, 2, 3] and time.sleeps == [1.0, 2.0]
    assert outcome.attempts == 3 and outcome.retryable and time.now <= 103.5


def test_the_first_attempt_happens_even_past_the_deadline():
    time = FakeTime()
    outcome = run_with_retry(Scripted(FAIL), POLICY, sleep=time.sleep, clock=time.clock, deadline_s=0.0)
    assert outcome.attempts == 1 and time.sleeps == []


def test_success_and_non_retryable_failures_return_at_once():
    for first in (ActionOutcome(ok=True, retryable=False), ActionOutcome(ok=False, retryable=False, error="x")):
        attempt = Scripted(first)
        assert run_with_retry(attempt, POLICY, sleep=never_sleep).attempts == 1
        assert attempt.calls == [1]
