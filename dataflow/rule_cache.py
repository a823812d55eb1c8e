"""The rules a worker process evaluates, reloaded from PostgreSQL when they change (hot reload).

Each process polls a cheap change marker at most every `refresh_s`; when it moves, every rule is
loaded and compiled into a new `RuleSet`, and only then swapped in, so a half-built set is never
seen. A stored rule that no longer compiles is left out and reported, never fatal.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session, sessionmaker

from dataflow.index import RuleIndex
from dataflow.rules.model import RuleSpec
from dataflow.runtime import CompiledRule
from storage.repositories.rules import RuleRepository

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StoredRule:
    """What the engine needs of a row of `rules`: identity, version, state and the spec."""

    id: str
    name: str
    version: int
    active: bool
    spec: dict[str, Any]


@dataclass(frozen=True)
class RuleSet:
    """An immutable generation of rules: the index of active ones and lookups by id and name."""

    index: RuleIndex
    active: dict[str, CompiledRule] = field(default_factory=dict)
    stored: dict[str, StoredRule] = field(default_factory=dict)
    by_name: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    def lookup(self, ref: str) -> StoredRule | None:
        """A rule by id or name, active or not."""
        rule_id = ref if ref in self.stored else self.by_name.get(ref)
        return self.stored.get(rule_id) if rule_id else None

    def compiled(self, rule_id: str, version: int) -> CompiledRule | None:
        """The active compiled rule at exactly this version, else None (changed, off or gone)."""
        rule = self.active.get(rule_id)
        return rule if rule is not None and rule.version == version else None


def build_rule_set(rows: Iterable[StoredRule]) -> RuleSet:
    """Compile every active rule; collect errors instead of raising."""
    stored: dict[str, StoredRule] = {}
    active: dict[str, CompiledRule] = {}
    errors: dict[str, str] = {}
    for row in rows:
        stored[row.id] = row
        if not row.active:
            continue
        try:
            active[row.id] = CompiledRule.build(row.id, row.version, RuleSpec.model_validate(row.spec))
        except (ValidationError, ValueError) as exc:
            errors[row.name] = str(exc)
            log.error("rule %s v%s does not compile and is skipped: %s", row.name, row.version, exc)
    return RuleSet(
        index=RuleIndex(list(active.values())),
        active=active,
        stored=stored,
        by_name={row.name: row.id for row in stored.values()},
        errors=errors,
    )


class RuleCache:
    """Per-process, thread-safe holder of the current `RuleSet`."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        refresh_s: float,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sessions = session_factory
        self._refresh_s = refresh_s
        self._now = now
        self._lock = threading.Lock()
        self._marker: Any = None
        self._checked_at = float("-inf")
        self._rules = build_rule_set(())

    def current(self) -> RuleSet:
        """The rules to use now; polls the database at most every `refresh_s`."""
        if self._now() - self._checked_at >= self._refresh_s:
            self.refresh()
        return self._rules

    def refresh(self) -> RuleSet:
        """Reload when the change marker moved."""
        with self._lock:
            self._checked_at = self._now()
            with self._sessions() as session:
                repo = RuleRepository(session)
                marker = repo.change_marker()
                if marker == self._marker:
                    return self._rules
                rows = [
                    StoredRule(str(r.id), r.name, r.version, r.active, dict(r.spec))
                    for r in repo.list()
                ]
            rules = build_rule_set(rows)
            # Everything above is fallible but side-effect-free; the swap below is one line.
            self._rules, self._marker = rules, marker
            log.info("rules reloaded: %d active, %d not compiling", len(rules.active), len(rules.errors))
            return rules
