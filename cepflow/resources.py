"""Process-wide resources shared by the dataflow steps and the action sink.

They are built lazily, on first use inside a worker, never at import: `cepflow.flow` is imported
by every Bytewax process (and by tests) before anything may connect anywhere.
"""

from __future__ import annotations

import threading
from functools import cached_property
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session, sessionmaker

from actions.outbox import OutboxRelay
from actions.pipeline import ActionPipeline, PipelineConfig
from actions.redrive import Redriver
from actions.registry import ActionRegistry, ExecutorConfig, build_registry
from cepflow.settings import Settings, get_settings
from dataflow.kafka_admin import read_all
from dataflow.kafka_out import ReliableProducer
from dataflow.rule_cache import RuleCache
from dataflow.sealing import Sealer
from dataflow.silences import SilenceCache
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
    def silences(self) -> SilenceCache:
        return SilenceCache(self.sessions, self.settings.rule_refresh_s)

    @cached_property
    def clock(self) -> WatermarkClock:
        return WatermarkClock(derived_topics=frozenset({self.settings.chain_topic}))

    @cached_property
    def producer(self) -> ReliableProducer:
        """Chain events and action dead letters: few, and a chain hop waits for each, so no linger
        (the default 5 ms was a quarter of the hop's 20 ms budget).
        """
        return ReliableProducer(self.settings.brokers, {"linger.ms": "0"})

    @cached_property
    def sealer(self) -> Sealer:
        """Seals chain events and action dead letters; `ConfigError` when CEPFLOW_INTERNAL_KEY is unset."""
        return Sealer(self.settings.internal_key_bytes(), self.settings.previous_internal_keys())

    @cached_property
    def redriver(self) -> Redriver:
        """Re-sends action dead letters (`cepflow actions redrive`, the HTTP API)."""
        return Redriver(self.sealer, self.sessions, self.registry, lambda: self.producer, self.settings.action_deadline_s)

    def dead_letters(self) -> list[bytes]:
        """Every entry of the action dead-letter topic now, oldest first per partition."""
        return read_all(self.settings.brokers, self.settings.action_dead_letter_topic)

    @cached_property
    def script_runner(self) -> ScriptRunner:
        from actions.script_runner import ScriptRunner  # pre-starts processes: only when used

        return ScriptRunner(warm=self.settings.script_warm_runners)

    @cached_property
    def registry(self) -> ActionRegistry:
        s = self.settings
        config = ExecutorConfig(s.webhook_allow_hosts, s.webhook_allow_cidrs, s.webhook_signing_secret,
                                s.rule_refresh_s, s.chain_topic, s.max_chain_depth, self.sealer)
        return build_registry(config, self.sessions, lambda: self.script_runner, lambda: self.rules.current())

    @cached_property
    def relay(self) -> OutboxRelay:
        """The engine's outbox relay thread (started on first use, by the action sink)."""
        return OutboxRelay(self.sessions, lambda: self.producer).start()

    @cached_property
    def pipeline(self) -> ActionPipeline:
        """The action pipeline; building it starts the relay, which first sends what a crash left."""
        s = self.settings
        relay = self.relay
        config = PipelineConfig(s.action_dead_letter_topic, s.action_concurrency, s.action_deadline_s, self.sealer)
        return ActionPipeline(
            self.sessions, self.registry, lambda: self.producer, lambda: self.rules.current(), config,
            silenced=lambda rule_id, group: self.silences.match(rule_id, group),
            committed=relay.wake,
        )

    def close(self) -> None:
        """Stop what was started, in dependency order: the refresh threads and the relay first (they
        use the pool), then the producer's queue, then the pool. Resources never built are skipped.
        """
        built = self.__dict__
        for name in ("rules", "silences", "relay", "script_runner"):
            if name in built:
                built[name].close()
        if "producer" in built:
            self.producer.flush()
        if "sessions" in built:
            self.sessions.kw["bind"].dispose()


_lock = threading.Lock()
_resources: Resources | None = None


def get_resources() -> Resources:
    """The resources of this process (created on first call, thread-safe).

    Called per key by the stateful step (bench profile: the lock alone was 3% of figure 6), so
    the common case reads the global without locking.
    """
    global _resources
    found = _resources
    if found is not None:
        return found
    with _lock:
        if _resources is None:
            _resources = Resources(get_settings())
        return _resources
