"""`each`: fire on every event that passes `where` (RULES.md §4). No state is kept.

With `detect.for` the rule is driven by `ForEpisode` instead (see `for_episode.py`); with a
`cooldown` the group keeps only the time of its last fire (in `GroupLogic`).
"""

from __future__ import annotations

from dataflow.detect.base import Fire, Seen


class EachDetector:
    """Every event that reaches detection fires at its own time."""

    __slots__ = ()
    timer_fires = False

    def on_event(self, state: None, seen: Seen, watermark_ms: int) -> tuple[None, list[Fire]]:
        return None, [Fire(at=seen.ts, value=None, start=seen.ts, key_event_id=seen.id, event=seen)]

    def on_watermark(self, state: None, watermark_ms: int) -> tuple[None, list[Fire]]:
        return None, []

    def deadline(self, state: None) -> int | None:
        return None

    def freeze(self, state: None) -> None:
        return None

    def thaw(self, snapshot: None) -> None:
        return None
