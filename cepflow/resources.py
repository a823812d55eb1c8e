"""Process-wide resources shared by the dataflow steps and the action sink.

They are built lazily, on first use inside a worker, never at import: `dataflow.flow` is imported
by every Bytewax process (and by tests) before anything may connect anywhere.
"""

from __future__ import annotations

import threading
from functools import cached_property
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session, sessionmaker

from actions.api_script import ApiScriptExecutor
from actions.pipeline import ActionPipeline, PipelineConfig
from actions.registry import ActionRegistry, webhook_with_retry
from actions.ssrf import TargetGuard
from actions.trigger_rule import TriggerRuleExecutor
from actions.webhook import WebhookExecutor
from cepflow.settings import Settings, get_settings
from dataflow.kafka_out import ReliableProducer
from dataflow.rule_cache import RuleCache
from dataflow.sealing import Sealer
from dataflow.watermark import WatermarkClock
from storage.db import make_engine, make_session_factory

if TYPE_CHECKING:
    from actions.script_runner import ScriptRunner


class Resources:
    """One per process: database sessions, rule cache, event-time clock and action machinery."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @cached_property
    def sessions(self) -> sessionmaker[Session]:
        pool = self.settings.action_concurrency + 4  # actions hold a connection while they run
        return make_session_factory(make_engine(self.settings.database_url, pool_size=pool))

    @cached_property
    def rules(self) -> RuleCache:
        return RuleCache(self.sessions, self.settings.rule_refresh_s)

    @cached_property
    def clock(self) -> WatermarkClock:
        return WatermarkClock()

    @cached_property
    def producer(self) -> ReliableProducer:
        """Chain events and action dead letters: few, and a chain hop waits for each, so no linger
        (the default 5 ms was a quarter of the hop's 20 ms budget)."""
        return ReliableProducer(self.settings.brokers, {"linger.ms": "0"})

    @cached_property
    def sealer(self) -> Sealer:
        """Seals chain events and action dead letters; `ConfigError` when CEPFLOW_INTERNAL_KEY is unset."""
        return Sealer(self.settings.internal_key_bytes(), self.settings.previous_internal_keys())

    @cached_property
    def script_runner(self) -> ScriptRunner:
        from actions.script_runner import ScriptRunner  # pre-starts processes: only when used

        return ScriptRunner(warm=self.settings.script_warm_runners)

    @cached_property
    def registry(self) -> ActionRegistry:
        s = self.settings
        guard = TargetGuard(allow_hosts=s.webhook_allow_hosts, allow_cidrs=s.webhook_allow_cidrs)
        webhook = WebhookExecutor(guard, signing_secret=s.webhook_signing_secret)
        return ActionRegistry(
            {
                "webhook": webhook_with_retry(webhook),
                "api_script": ApiScriptExecutor(self.sessions, lambda: self.script_runner, s.rule_refresh_s),
                "trigger_rule": TriggerRuleExecutor(
                    lambda: self.rules.current(), lambda: self.producer, s.chain_topic, s.max_chain_depth,
                    self.sealer,
                ),
            }
        )

    @cached_property
    def pipeline(self) -> ActionPipeline:
        s = self.settings
        config = PipelineConfig(s.action_dead_letter_topic, s.action_concurrency, s.action_deadline_s, self.sealer)
        return ActionPipeline(
            self.sessions, self.registry, lambda: self.producer, lambda: self.rules.current(), config
        )


_lock = threading.Lock()
_resources: Resources | None = None


def get_resources() -> Resources:
    """This process's resources (created on first call, thread-safe)."""
    global _resources
    with _lock:
        if _resources is None:
            _resources = Resources(get_settings())
        return _resources
