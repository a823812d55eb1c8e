"""The engine's rule cache on the real database: loads once, refreshes in the background, never
makes the dataflow wait for a reload, recompiles only changed rules, survives a lost database."""

from __future__ import annotations

import gc
import time

import pytest
from sqlalchemy.orm import Session, sessionmaker

from dataflow.rule_cache import RuleCache
from storage.repositories.rules import RuleRepository
from tests.integration.harness import StackEnv, wait_until

pytestmark = pytest.mark.integration


def apply(sessions: sessionmaker[Session], name: str, kind: str) -> str:
    spec = {"name": name, "match": {"type": kind}, "action": {"endpoint": "http://127.0.0.1:9/x"}}
    with sessions.begin() as session:
        rule, _ = RuleRepository(session).apply(spec, changed_by="test")
        return str(rule.id)


class FlakySessions:
    """The real session factory, until `down` is set: then connecting fails."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions, self.down = sessions, False

    def __call__(self) -> Session:
        if self.down:
            raise ConnectionError("database unreachable (test)")
        return self.sessions()


def test_background_refresh_reuses_unchanged_rules_and_never_blocks(stack: StackEnv, sessions, unique) -> None:
    a, b = apply(sessions, f"a-{unique}", "x"), apply(sessions, f"b-{unique}", "x")
    flaky = FlakySessions(sessions)
    cache = RuleCache(flaky, refresh_s=0.1)  # type: ignore[arg-type]
    try:
        first = cache.current()
        assert {a, b} <= set(first.active)

        frozen = gc.get_freeze_count()
        apply(sessions, f"b-{unique}", "y")  # b v2
        second = wait_until(lambda: (r := cache.current()).active[b].version == 2 and r, 10, "b v2 loaded")
        assert second.active[a] is first.active[a], "an unchanged rule is not recompiled"
        assert second.active[b] is not first.active[b]
        assert gc.get_freeze_count() > frozen, "a reloaded rule set is frozen out of the collector's walks"

        with cache._lock:  # a reload in progress (holding the lock) does not hold up a reader
            started = time.monotonic()
            assert cache.current() is second
            assert time.monotonic() - started < 0.05

        flaky.down = True
        time.sleep(0.5)  # several failed polls
        assert cache.current() is second, "the rules in use survive a lost database"
        flaky.down = False
        apply(sessions, f"a-{unique}", "z")
        wait_until(lambda: cache.current().active[a].version == 2, 10, "a v2 after the database came back")
    finally:
        cache.close()
    assert cache._thread is not None
    cache._thread.join(2)
    assert not cache._thread.is_alive(), "close() stops the refresh thread"
