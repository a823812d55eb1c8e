"""The retry stage: the only place that waits and tries again (STYLE.md §1).

Executors make one attempt and say whether a failure is retryable; this stage repeats it with
exponential backoff and full jitter — sleep a random time in [0, min(max_backoff,
backoff * 2**(n-1))] after attempt n — so that many failing actions do not retry in lockstep.
A `Retry-After` the target sent (`ActionOutcome.retry_after_s`) is honoured, capped at
`max_backoff`. It gives up before a sleep that would end past the deadline: the action sink
must never hold the dataflow longer than its budget; what failed goes to the dead-letter topic.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import replace

from actions.outcome import ActionOutcome
from rules.model import RetrySpec

log = logging.getLogger(__name__)


def backoff_s(policy: RetrySpec, attempt: int, rng: random.Random, retry_after_s: float | None = None) -> float:
    """Seconds to wait after failed attempt number `attempt` (1-based)."""
    cap = policy.max_backoff / 1000
    delay = rng.uniform(0, min(cap, policy.backoff / 1000 * 2 ** (attempt - 1)))
    if retry_after_s is not None:
        delay = max(delay, min(cap, retry_after_s))
    return delay


def run_with_retry(
    attempt: Callable[[int], ActionOutcome],
    policy: RetrySpec,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
    deadline_s: float | None = None,
    *,
    clock: Callable[[], float] = time.monotonic,
) -> ActionOutcome:
    """Call `attempt(1)`, `attempt(2)`, ... while the failure is retryable and time allows.

    It stops at success, at a non-retryable failure, after `policy.max_attempts`, or before a
    wait that would end past `deadline_s` (a `clock()` instant — `time.monotonic()` by default).
    The first attempt is always made. Returns the last outcome with `attempts` and the total
    `duration_ms`, waits included.
    """
    rng = rng or random.Random()
    started = clock()
    number = 1
    while True:
        outcome = attempt(number)
        if outcome.ok or not outcome.retryable or number >= policy.max_attempts:
            break
        delay = backoff_s(policy, number, rng, outcome.retry_after_s)
        if deadline_s is not None and clock() + delay > deadline_s:
            log.info("giving up after attempt %d: the next one would pass the deadline", number)
            break
        log.debug("attempt %d failed (%s); retrying in %.3f s", number, outcome.error, delay)
        sleep(delay)
        number += 1
    return replace(outcome, attempts=number, duration_ms=(clock() - started) * 1000)
