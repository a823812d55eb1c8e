"""Silences as the engine sees them: which one, if any, mutes an execution of a rule and group.

Pure matching (`SilenceSet`) plus a per-process cache refreshed like the rules (`SilenceCache`):
a silence created or expired takes effect within the rule refresh period. Times are compared
with this process's wall clock — a silence mutes what is *executed* in its interval (as in
Alertmanager), whatever the event time of the execution.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from dataflow.periodic import Periodic
from storage.repositories.silences import SilenceRepository


@dataclass(frozen=True, slots=True)
class ActiveSilence:
    """A silence's matcher: `rule_id` None is every rule, `group` {} every group; [start, end)."""

    id: str
    rule_id: str | None
    group: dict[str, Any]
    starts_ms: int
    ends_ms: int

    def mutes(self, rule_id: str, group: dict[str, Any], now_ms: int) -> bool:
        """True when the silence is in force at `now_ms` and the rule and every group value match.

        Group values compare as JSON values (`"1"` is not `1`), the way they are logged.
        """
        if not self.starts_ms <= now_ms < self.ends_ms:
            return False
        if self.rule_id is not None and self.rule_id != rule_id:
            return False
        return all(key in group and group[key] == value for key, value in self.group.items())


@dataclass(frozen=True)
class SilenceSet:
    """An immutable generation of the silences not yet ended."""

    silences: tuple[ActiveSilence, ...] = field(default_factory=tuple)

    def match(self, rule_id: str, group: dict[str, Any], now_ms: int) -> str | None:
        """The id of the first silence muting (rule, group) now, else None."""
        for silence in self.silences:
            if silence.mutes(rule_id, group, now_ms):
                return silence.id
        return None


def _millis(moment: Any) -> int:
    return int(moment.timestamp() * 1000)


def silence_set(rows: Iterable[Any]) -> SilenceSet:
    """The matchers of `storage.models.Silence` rows."""
    return SilenceSet(tuple(
        ActiveSilence(str(row.id), str(row.rule_id) if row.rule_id else None, dict(row.group_values),
                      _millis(row.starts_at), _millis(row.ends_at))
        for row in rows
    ))


class SilenceCache:
    """Per-process, thread-safe holder of the current `SilenceSet`, re-read every `refresh_s`.

    Silences are few and every read is one indexed query, so there is no change marker: a full
    read each period is cheap, and a database that cannot be reached keeps the set in use.
    """

    def __init__(self, sessions: sessionmaker[Session], refresh_s: float,
                 clock: Callable[[], float] = time.time) -> None:
        self._sessions = sessions
        self._clock = clock
        self._lock = threading.Lock()
        self._silences: SilenceSet | None = None
        self._refresher = Periodic("cepflow-silences", refresh_s, self.refresh)

    def current(self) -> SilenceSet:
        """The silences to use now (the first call reads them and starts the background refresh)."""
        silences = self._silences
        if silences is not None:
            return silences
        self.refresh()
        self._refresher.start()
        assert self._silences is not None
        return self._silences

    def match(self, rule_id: str, group: dict[str, Any]) -> str | None:
        """The id of the silence muting (rule, group) at this moment, else None."""
        return self.current().match(rule_id, group, int(self._clock() * 1000))

    def refresh(self) -> None:
        """Re-read now (the API calls it after a change, so its own process needs no wait)."""
        with self._lock:
            with self._sessions() as session:
                fresh = silence_set(SilenceRepository(session).not_ended())
            self._silences = fresh

    def close(self) -> None:
        self._refresher.stop()
