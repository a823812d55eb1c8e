"""The one place that maps an action `type` to its executor; nothing else imports executors.

Every executor makes one attempt and returns an `ActionOutcome`; retries happen in
`actions.retry.run_with_retry`, applied here to the executors that are worth retrying.
Adding an action type: its model in `rules/model.py`, its executor file here in `actions/`, and
one entry in `build_registry` below.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session, sessionmaker

from actions.api_script import ApiScriptExecutor
from actions.outcome import ActionOutcome
from actions.retry import run_with_retry
from actions.ssrf import TargetGuard
from actions.trigger_rule import TriggerRuleExecutor
from actions.webhook import WebhookExecutor
from dataflow.rule_cache import RuleSet
from dataflow.sealing import Sealer
from dataflow.template_context import ActionRun
from rules.model import WebhookAction

if TYPE_CHECKING:
    from actions.script_runner import ScriptRunner

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
            msg = f"unknown action type {action.type!r}; known: {sorted(self._executors)}"
            raise UnknownActionType(msg)
        return executor(action, run)


@dataclass(frozen=True)
class ExecutorConfig:
    """The deployment settings the executors need (filled in by the composition root)."""

    webhook_allow_hosts: Sequence[str]
    webhook_allow_cidrs: Sequence[str]
    webhook_signing_secret: str | None
    definitions_refresh_s: float
    chain_topic: str
    max_chain_depth: int
    sealer: Sealer


def build_registry(
    config: ExecutorConfig,
    sessions: sessionmaker[Session],
    script_runner: Callable[[], ScriptRunner],
    rules: Callable[[], RuleSet],
) -> ActionRegistry:
    """Every executor, built once; a bad setting (e.g. the signing secret) fails here, at start."""
    guard = TargetGuard(allow_hosts=config.webhook_allow_hosts, allow_cidrs=config.webhook_allow_cidrs)
    webhook = WebhookExecutor(guard, signing_secret=config.webhook_signing_secret)
    return ActionRegistry(
        {
            "webhook": webhook_with_retry(webhook),
            "api_script": ApiScriptExecutor(sessions, script_runner, config.definitions_refresh_s),
            "trigger_rule": TriggerRuleExecutor(rules, config.chain_topic, config.max_chain_depth, config.sealer),
        }
    )
