"""The one place that maps an action `type` to its executor; nothing else imports executors.

Every executor makes one attempt and returns an `ActionOutcome`; retries happen in
`actions.retry.run_with_retry`, applied here to the executors that are worth retrying.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from actions.context import ActionRun
from actions.outcome import ActionOutcome
from actions.retry import run_with_retry
from actions.webhook import WebhookExecutor
from dataflow.rules.model import WebhookAction

Executor = Callable[[Any, ActionRun], ActionOutcome]


class UnknownActionType(ValueError):
    """A stored action has a `type` no executor handles."""


def webhook_with_retry(webhook: WebhookExecutor) -> Executor:
    """The webhook executor behind the retry stage; one `webhook-id` for every attempt."""

    def execute(action: WebhookAction, run: ActionRun) -> ActionOutcome:
        timestamp = int(time.time())
        return run_with_retry(
            lambda _attempt: webhook.attempt(action, run.action_id, timestamp, deadline=run.deadline),
            action.retry,
            deadline_s=run.deadline,
        )

    return execute


class ActionRegistry:
    """Routes an action to its executor by `type`."""

    def __init__(self, executors: Mapping[str, Executor]) -> None:
        self._executors = dict(executors)

    def execute(self, action: Any, run: ActionRun) -> ActionOutcome:
        executor = self._executors.get(action.type)
        if executor is None:
            raise UnknownActionType(f"unknown action type {action.type!r}; known: {sorted(self._executors)}")
        return executor(action, run)
