"""`detect.for: D` on `each` or `threshold`: fire once the condition has held for D (RULES.md §4).

An evaluation happens at every event the rule reads for the group (for `each`, the verdict of
`where`; for `threshold`, `where` and then `having` — see `threshold.py` for tumbling windows).

- An episode starts at the first evaluation that holds (its time is the episode start).
- When no evaluation turned false before start + D, the episode fires at start + D, once: by the
  timer when the watermark reaches start + D, or when the next evaluation of the group comes at
  or after start + D (a false one at exactly start + D does not prevent the fire).
- A false evaluation at or after the start ends the episode and re-arms; one older than the
  start (an out-of-order event) belongs to before the episode and is ignored.
- After the fire the episode lasts until a false evaluation: it never fires twice, even if the
  group goes silent for a long time in between.

The fire exposes the latest holding evaluation's event and value; its idempotency start and
triggering event are the episode start and the event that started it. `window_start` and
`window_end` are start and start + D.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from dataflow.detect.base import Fire, Seen


@dataclass(frozen=True, slots=True)
class Episode:
    """A run of holding evaluations of one group."""

    start: int
    start_event_id: str
    last: Seen | None
    value: Any
    fired: bool = False


class ForEpisode:
    """The `for` modifier: turns a stream of evaluations into at most one fire per episode."""

    __slots__ = ("for_ms",)

    def __init__(self, for_ms: int) -> None:
        if for_ms <= 0:
            msg = "for must be positive"
            raise ValueError(msg)
        self.for_ms = for_ms

    def _fire(self, episode: Episode) -> Fire:
        deadline = episode.start + self.for_ms
        return Fire(at=deadline, value=episode.value, start=episode.start, key_event_id=episode.start_event_id,
                    event=episode.last, window_start=episode.start, window_end=deadline)

    def evaluate(
        self, state: Episode | None, holds: bool, at: int, seen: Seen | None, value: Any = None
    ) -> tuple[Episode | None, list[Fire]]:
        """One evaluation at time `at` (an event's time, or a tumbling window's end)."""
        fires: list[Fire] = []
        if state is not None and not state.fired and at >= state.start + self.for_ms:
            fires.append(self._fire(state))
            state = replace(state, fired=True)
        if holds:
            if state is None:
                state = Episode(at, seen.id if seen is not None else "", seen, value)
            elif not state.fired and at >= state.start:
                state = replace(state, last=seen if seen is not None else state.last, value=value)
        elif state is not None and at >= state.start:
            state = None
        return state, fires

    def on_watermark(self, state: Episode | None, watermark_ms: int) -> tuple[Episode | None, list[Fire]]:
        if state is None or state.fired or watermark_ms < state.start + self.for_ms:
            return state, []
        return replace(state, fired=True), [self._fire(state)]

    def deadline(self, state: Episode | None) -> int | None:
        return None if state is None or state.fired else state.start + self.for_ms
