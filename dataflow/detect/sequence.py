"""`sequence`: steps happen in order for one group within `within` (RULES.md §4).

Semantics, precisely:

- Only events that reached detection (read by the rule for the group and passing the rule's
  `where`) are considered; each step's own `where` (none = any event) picks its events.
- One partial match per group at a time. It starts at an event matching the first step; its
  start is that event's time. `within` is half-open, like Flink CEP: a step at `t` belongs to
  the match only when `t < start + within`. The match expires when the watermark (or the time of
  a later event of the group) reaches `start + within`.
- Steps are taken in arrival order, and a step's time may not be earlier than the previous
  step's (an out-of-order event does not count as the next step).
- When an event matches the next step, the match advances (this is checked before anything
  else, so with identical step conditions — "two failures" — a repeat advances). A completed
  match fires at the completing event's time and is consumed: the next match needs a new
  first step.
- `contiguity: relaxed` (default): other events are ignored while a match is partial. One
  exception, so that "A then B within 1m" finds A@50s B@70s after A@0s: while only the first
  step has matched, a newer first-step event replaces it (same progress, later expiry). Once the
  match has advanced past the first step it is kept until it completes or expires.
- `contiguity: strict`: an event that reaches detection for the group and is not the next step
  breaks the partial match (events failing the rule's `where` are not read by detection and do
  not break it); the breaking event may itself start a new match.
- An absent last step (`absent: true`): once every earlier step matched, the match waits; an
  event matching the absent step before `start + within` cancels it (that event may start a new
  match); otherwise the match fires at `start + within` (a timer; `at` is the deadline). Other
  events are ignored while waiting, in both contiguity modes. Such sequences never replace
  their first step: the deadline counts from the first occurrence, so a repeating first step
  cannot postpone the fire forever. A match that has not reached the absent step by the
  deadline expires without firing.
- `value` is the match's duration in ms (completion or deadline minus start); `events` holds the
  matched steps by name; the idempotency start is the match start.
"""

from __future__ import annotations

from dataclasses import dataclass

from dataflow.detect.base import Fire, Predicate, Seen


@dataclass(frozen=True, slots=True)
class Step:
    """A step: its name, its condition (None = any event) and whether it is an absent step."""

    name: str
    test: Predicate | None = None
    absent: bool = False


@dataclass(frozen=True, slots=True)
class Partial:
    """The group's partial match: index of the next step, start time, matched steps by name."""

    next_step: int
    start: int
    matched: tuple[tuple[str, Seen], ...]


class SequenceDetector:
    """Ordered steps within a time limit, one partial match per group."""

    __slots__ = ("has_absent", "steps", "strict", "within")
    timer_fires = True

    def __init__(self, steps: list[Step], within_ms: int, strict: bool = False) -> None:
        if len(steps) < 2:
            msg = "a sequence needs at least 2 steps"
            raise ValueError(msg)
        if any(step.absent for step in steps[:-1]):
            msg = "only the last step may be absent"
            raise ValueError(msg)
        self.steps, self.within, self.strict = tuple(steps), within_ms, strict
        self.has_absent = steps[-1].absent

    @staticmethod
    def _test(step: Step, seen: Seen) -> bool:
        return step.test is None or bool(step.test(seen.body))

    def _begin(self, seen: Seen) -> Partial | None:
        first = self.steps[0]
        return Partial(1, seen.ts, ((first.name, seen),)) if self._test(first, seen) else None

    def _expire(self, partial: Partial) -> list[Fire]:
        if not self.steps[partial.next_step].absent:
            return []
        deadline = partial.start + self.within
        return [
            Fire(at=deadline, value=self.within, start=partial.start, key_event_id=partial.matched[0][1].id,
                 event=partial.matched[-1][1], window_start=partial.start, window_end=deadline,
                 events=partial.matched)
        ]

    def on_event(self, state: Partial | None, seen: Seen, watermark_ms: int) -> tuple[Partial | None, list[Fire]]:
        fires: list[Fire] = []
        partial = state
        if partial is not None and seen.ts >= partial.start + self.within:
            fires = self._expire(partial)
            partial = None
        if partial is None:
            return self._begin(seen), fires
        step = self.steps[partial.next_step]
        in_order = seen.ts >= partial.matched[-1][1].ts
        if step.absent:
            if in_order and self._test(step, seen):
                return self._begin(seen), fires  # the absent step happened: cancelled
            return partial, fires
        if in_order and self._test(step, seen):
            matched = (*partial.matched, (step.name, seen))
            if partial.next_step + 1 < len(self.steps):
                return Partial(partial.next_step + 1, partial.start, matched), fires
            fires.append(
                Fire(at=seen.ts, value=seen.ts - partial.start, start=partial.start, key_event_id=seen.id,
                     event=seen, window_start=partial.start, window_end=seen.ts, events=matched)
            )
            return None, fires  # a completed match is consumed
        if self.strict:
            return self._begin(seen), fires
        if partial.next_step == 1 and not self.has_absent and seen.ts >= partial.start:
            return self._begin(seen) or partial, fires
        return partial, fires

    def on_watermark(self, state: Partial | None, watermark_ms: int) -> tuple[Partial | None, list[Fire]]:
        if state is None or watermark_ms < state.start + self.within:
            return state, []
        return None, self._expire(state)

    def deadline(self, state: Partial | None) -> int | None:
        return None if state is None else state.start + self.within

    def freeze(self, state: Partial | None) -> Partial | None:
        return state

    def thaw(self, snapshot: Partial | None) -> Partial | None:
        return snapshot
