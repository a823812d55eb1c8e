"""Compiled rules and the per-(rule, group) logic — the evaluation code shared by the live engine
and the offline runner (RULES.md §4, §9).

- `CompiledRule.build(rule_id, version, spec)`: everything evaluation needs, compiled once.
- `evaluate_stateless(rule, event)`: the fast path of `each` rules without `for` or cooldown.
- `GroupLogic`: the state of one (rule, group) — order, detection, `for`, cooldown — driven by
  `on_event(event, watermark)` and `on_watermark(watermark)`; `snapshot()` / `resume()` for
  Bytewax recovery; `is_empty()` when it can be discarded; `next_deadline_ms()` for timers.

Conventions:

- `GroupLogic` evaluates `where` itself: every event the rule reads for the group may be given
  (a `for` rule needs the false verdicts too); for other rules an event failing `where` changes
  nothing (`needs_group(event)` lets a router skip it). Lateness is decided by the caller
  (`is_late`); the logic never fires twice for a closed tumbling window whatever it is given.
- A chain event whose `where` does not hold gives a `dry_run` execution with the explanation
  (and, for a `for` rule, a false evaluation); otherwise it is evaluated like any event.
- The time of a fire is the completing event's time or the timer's deadline.
- Order (`rule.reorders`, RULES.md §4): a stateful rule with `time.order: event_time` keeps the
  events the watermark has not passed in a reorder buffer (`dataflow/reorder.py`) and applies
  them sorted by time once it has; detection then sees a sorted stream and is driven at each
  released event's own time (timers due at that time first). Its fires come when the watermark
  passes the completing event, never earlier. `each` without `for` and `time.order: arrival`
  rules apply each event at once, in arrival order, at the given watermark.
- Cooldown: a fire at `at < last fire + cooldown` becomes a `skipped` execution with reason
  `cooldown` (skips do not extend the cooldown).
- Lineage: a fire caused by an ordinary event gets `ChainInfo(idempotency key, 0, (rule id,))`;
  one caused by a chain event gets the event's chain extended with the rule (depth as received).
  For a timer fire the causing event is the one the fire exposes as `event` (the window's latest
  event, the absence's last event, the sequence's last matched step, the episode's latest event).
- Idempotency key: `idempotency_key(rule id, version, group, start, triggering event id)`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from dataflow import reorder
from dataflow.chain import extend_chain
from dataflow.conditions import MISSING, CompiledCondition, compile_condition, path_getter
from dataflow.detect import NO_VALUE, Detector, Fire, ForEpisode, Getter, Predicate, Seen, build_detector
from dataflow.detect.each import EachDetector
from dataflow.detect.for_episode import Episode
from dataflow.keys import group_key, idempotency_key
from dataflow.types import ChainInfo, Event, Execution, ExecutionStatus, SkipReason
from rules.model import RuleSpec

SNAPSHOT_FORMAT = 3
"""Version of the `GroupLogic.snapshot()` tuple; bump when its shape changes. 3: a sixth item, the
reorder buffer. 2: the group as the tuple of its values, or None when not kept (1: a dict, or None
before the first event); a sliding `count` window keeps bare event times. `resume` reads all three."""

def _field_getter(path: str) -> Getter:
    get = path_getter(path)

    def read(body: dict[str, Any]) -> Any:
        value = get(body)
        return NO_VALUE if value is MISSING else value

    return read


def _step_predicate(condition: Any) -> Predicate | None:
    return None if condition is None else compile_condition(condition)


@dataclass(frozen=True, eq=False)
class CompiledRule:
    """A rule ready to evaluate. Build with `CompiledRule.build`; never mutated."""

    id: str
    name: str
    version: int
    spec: RuleSpec
    where: CompiledCondition
    lateness_ms: int
    idle_after_ms: int
    cooldown_ms: int | None
    action_types: tuple[str, ...]
    stateless: bool
    kind: str
    for_ms: int | None
    group_by: tuple[str, ...]
    topics: frozenset[str] | None
    types: frozenset[str] | None
    chain_only: bool
    index_equalities: dict[str, frozenset[Any]]
    index_ranges: tuple[tuple[str, str, float], ...]
    """Numeric bounds `where` needs, for the rule index's range tables (empty for `for` rules)."""
    """Field values `where` needs, usable to prune candidates (empty for `for` rules: they read
    events whatever their `where` verdict)."""
    detector: Detector
    episode: ForEpisode | None
    group_getters: tuple[tuple[str, Any], ...]
    keeps_group: bool
    """Whether a `GroupLogic` keeps its group between events: only when it can fire without an
    event in hand (a timer of the detector or of the `for` episode); else each fire reads the group
    from its event, which is the same for every event of the group's key."""
    reorders: bool
    """Whether events wait in the group's reorder buffer for the watermark (`time.order:
    event_time` on a kind whose outcome depends on order: all but `each` without `for`)."""

    @classmethod
    def build(cls, rule_id: str, version: int, spec: RuleSpec) -> CompiledRule:
        """Compile a validated spec; `ValueError` for what the engine cannot run."""
        detect = spec.detect
        for_ms = getattr(detect, "for_", None) if detect.kind in ("each", "threshold") else None
        if (
            detect.kind == "threshold"
            and detect.window.type == "sliding"
            and detect.aggregate.fn in ("count", "distinct")
            and detect.having.op in ("lt", "lte")
        ):
            msg = f"rule {spec.name}: a sliding window cannot test {detect.aggregate.fn} {detect.having.op}"
            raise ValueError(msg)
        where = compile_condition(spec.where)
        detector = build_detector(detect, _field_getter, _step_predicate)
        cooldown = spec.cooldown or None
        return cls(
            id=str(rule_id),
            name=spec.name,
            version=int(version),
            spec=spec,
            where=where,
            lateness_ms=spec.time.allowed_lateness,
            idle_after_ms=spec.time.idle_after,
            cooldown_ms=cooldown,
            action_types=tuple(action.type for action in spec.actions),
            stateless=isinstance(detector, EachDetector) and for_ms is None and cooldown is None,
            kind=detect.kind,
            for_ms=for_ms,
            group_by=tuple(spec.group_by),
            topics=frozenset(spec.match.topic) if spec.match.topic is not None else None,
            types=frozenset(spec.match.type) if spec.match.type is not None else None,
            chain_only=spec.match.chain_only,
            index_equalities={} if for_ms is not None else where.cheap_equalities(),
            index_ranges=() if for_ms is not None else where.cheap_ranges(),
            detector=detector,
            episode=ForEpisode(for_ms) if for_ms is not None else None,
            group_getters=tuple((path, path_getter(path)) for path in spec.group_by),
            keeps_group=detector.timer_fires or for_ms is not None,
            reorders=spec.time.order == "event_time" and not (detect.kind == "each" and for_ms is None),
        )

    def reads(self, event: Event) -> bool:
        """Whether the rule reads `event` by its `match` (chain events: only their target)."""
        if event.target_rule_id is not None:
            return event.target_rule_id == self.id
        if self.chain_only:
            return False
        if self.topics is not None and event.topic not in self.topics:
            return False
        return self.types is None or event.type in self.types

    def group_of(self, body: dict[str, Any]) -> dict[str, Any]:
        """The group of an event: each `group_by` field's value, None when missing; `{}` without."""
        group: dict[str, Any] = {}
        for path, get in self.group_getters:
            value = get(body)
            group[path] = None if value is MISSING else value
        return group

    def group_values(self, group: dict[str, Any]) -> tuple[Any, ...]:
        """A group's values in `group_by` order: how a `GroupLogic` keeps it (a tuple is a third
        of the size of the dict).
        """
        return tuple(group[path] for path in self.group_by)

    def group_from_values(self, values: tuple[Any, ...]) -> dict[str, Any]:
        """The group (a new dict) of its `group_values`."""
        return dict(zip(self.group_by, values, strict=True))

    def group_key(self, group: dict[str, Any]) -> str:
        """Stable text of a group (JSON, sorted keys)."""
        return group_key(group)

    def needs_group(self, event: Event) -> bool:
        """Whether the group logic must see `event` (a router may skip the others).

        A `for` rule and a chain event's target see every event they read; other rules only the
        events that pass `where`.
        """
        return self.episode is not None or event.chain is not None or self.where(event.body)


def is_late(rule: CompiledRule, event: Event, watermark_ms: int) -> bool:
    """Late: older than the watermark (RULES.md §4). Late events never fire; the caller routes them.

    Chain events are never late: their time is the firing's time, which a timer-driven fire has
    already left behind the watermark when the event comes back from the chain topic.
    """
    return event.chain is None and event.ts_ms < watermark_ms


def _lineage(rule: CompiledRule, key: str, chain: ChainInfo | None) -> ChainInfo:
    return ChainInfo(key, 0, (rule.id,)) if chain is None else extend_chain(chain, rule.id)


def _execution(rule: CompiledRule, group: dict[str, Any], fire: Fire, status: ExecutionStatus, reason: str | None,
               ) -> Execution:
    seen = fire.event
    key = idempotency_key(rule.id, rule.version, group, fire.start, fire.key_event_id)
    return Execution(
        rule_id=rule.id,
        rule_name=rule.name,
        rule_version=rule.version,
        group=group,
        status=status,
        reason=reason,
        at_ms=fire.at,
        value=fire.value,
        window_start=fire.window_start,
        window_end=fire.window_end,
        event=seen.body if seen is not None else {},
        event_id=seen.id if seen is not None else fire.key_event_id,
        idempotency_key=key,
        chain=_lineage(rule, key, seen.chain if seen is not None else None),
        events={name: step.body for name, step in fire.events},
    )


def dry_run(rule: CompiledRule, group: dict[str, Any], event: Event) -> Execution:
    """A chain event whose target's `where` does not hold: logged as `dry_run`, with the explanation."""
    key = idempotency_key(rule.id, rule.version, group, None, event.id)
    return Execution(
        rule_id=rule.id,
        rule_name=rule.name,
        rule_version=rule.version,
        group=group,
        status="dry_run",
        reason=SkipReason.CONDITION_NOT_MET,
        at_ms=event.ts_ms,
        value=None,
        window_start=None,
        window_end=None,
        event=event.body,
        event_id=event.id,
        idempotency_key=key,
        chain=_lineage(rule, key, event.chain),
        explain=rule.where.explain(event.body),
    )


def _seen(event: Event) -> Seen:
    return Seen(event.id, event.ts_ms, event.body, event.chain)


def _each_fire(seen: Seen) -> Fire:
    return Fire(at=seen.ts, value=None, start=seen.ts, key_event_id=seen.id, event=seen)


def evaluate_stateless(rule: CompiledRule, event: Event) -> Execution | None:
    """`each` without `for` or cooldown: a fire when `where` holds, a dry run for a failing chain event.

    Gives exactly what `GroupLogic` would for the same rule and event.
    """
    if rule.where(event.body):
        return _execution(rule, rule.group_of(event.body), _each_fire(_seen(event)), "fired", None)
    if event.chain is not None:
        return dry_run(rule, rule.group_of(event.body), event)
    return None


GroupSnapshot = tuple[int, tuple[Any, ...] | None, Any, Episode | None, int | None, reorder.Pending]
"""(format, group, detector snapshot, `for` episode, last fire time for cooldown, reorder buffer) —
immutable and picklable; the group's `group_values`, None when not kept (before the first event,
or a rule without `keeps_group`); the group's events are kept as `Seen` values inside the
detector snapshot, the ones not applied yet as `Event`s in the buffer."""


class GroupLogic:
    """The state of one (rule, group): detection, the `for` episode and the cooldown.

    Not thread-safe; one instance per Bytewax key. All methods are pure with respect to the
    outside world: time comes only from events and the given watermark.
    """

    __slots__ = ("_episode", "_group", "_last_fire", "_pending", "_state", "rule")

    def __init__(self, rule: CompiledRule, group: dict[str, Any] | None = None) -> None:
        self.rule = rule
        # the group's `group_values`; None: not known yet, or not kept (`rule.keeps_group`)
        self._group = rule.group_values(group) if group is not None and rule.keeps_group else None
        self._state: Any = None
        self._episode: Episode | None = None
        self._last_fire: int | None = None
        self._pending: reorder.Pending = None  # events the watermark has not passed yet (`rule.reorders`)

    @classmethod
    def resume(cls, rule: CompiledRule, snapshot: GroupSnapshot) -> GroupLogic:
        """Rebuild from `snapshot()` (for the same rule id and version)."""
        fmt = snapshot[0]
        if fmt not in (1, 2, SNAPSHOT_FORMAT):
            msg = f"unknown group snapshot format {fmt!r}"
            raise ValueError(msg)
        _, group, state, episode, last_fire = snapshot[:5]
        if fmt == 1:  # format 1 kept the group as a dict
            group = rule.group_values(cast(dict[str, Any], group)) if group is not None and rule.keeps_group else None
        logic = cls(rule)
        logic._group = group
        logic._state = rule.detector.thaw(state)
        logic._episode = episode
        logic._last_fire = last_fire
        logic._pending = snapshot[5] if fmt == SNAPSHOT_FORMAT else None
        return logic

    def snapshot(self) -> GroupSnapshot:
        """Small, immutable, picklable; `GroupLogic.resume(rule, snapshot)` continues exactly."""
        state = self.rule.detector.freeze(self._state)
        return (SNAPSHOT_FORMAT, self._group, state, self._episode, self._last_fire, self._pending)

    @property
    def group(self) -> dict[str, Any] | None:
        """The group kept (a new dict): None before the first event, or when the rule does not keep it."""
        return None if self._group is None else self.rule.group_from_values(self._group)

    def _group_of(self, event: Event) -> tuple[Any, ...]:
        """`group_values` of the group of `event` (the group's own): kept from the first event if the
        rule keeps it.
        """
        if self._group is not None:
            return self._group
        rule = self.rule
        group = rule.group_values(rule.group_of(event.body))
        if rule.keeps_group:
            self._group = group
        return group

    def is_empty(self) -> bool:
        """Nothing worth keeping: discarding this logic changes no future output."""
        return self._state is None and self._episode is None and self._last_fire is None and self._pending is None

    def next_deadline_ms(self) -> int | None:
        """The earliest watermark at which `on_watermark` has work: a timer to fire, or state to
        drop (a sliding window emptying, a cooldown ending) so that the logic becomes empty, or a
        buffered event to apply.
        """
        deadlines = [self.rule.detector.deadline(self._state), reorder.first_ts(self._pending)]
        if self.rule.episode is not None:
            deadlines.append(self.rule.episode.deadline(self._episode))
        if self._last_fire is not None and self.rule.cooldown_ms:
            deadlines.append(self._last_fire + self.rule.cooldown_ms)
        found = [d for d in deadlines if d is not None]
        return min(found) if found else None

    def on_event(self, event: Event, watermark_ms: int) -> list[Execution]:
        """An event the rule reads for the group, not late at `watermark_ms`.

        Reordering rules buffer it and apply what the watermark has passed, in time order; the
        others fire the timers due at `watermark_ms` and then apply the event at once.
        """
        if not self.rule.reorders:
            return self._apply(event, watermark_ms)
        if self._pending is None and event.ts_ms <= watermark_ms:  # nothing to wait for (e.g. no lateness)
            out = self._apply(event, event.ts_ms)
            if event.ts_ms < watermark_ms:
                out.extend(self._timers(watermark_ms))
            return out
        self._pending = reorder.add(self._pending, event)
        return self.on_watermark(watermark_ms)

    def on_watermark(self, watermark_ms: int) -> list[Execution]:
        """Apply the buffered events the watermark has passed (in time order), then fire the timers
        due at `watermark_ms` and drop what can no longer matter.
        """
        if self._pending is None:
            return self._timers(watermark_ms)
        ready, self._pending = reorder.release(self._pending, watermark_ms)
        out: list[Execution] = []
        for event in ready:
            out.extend(self._apply(event, event.ts_ms))  # the sorted stream's own time
        out.extend(self._timers(watermark_ms))
        return out

    def _apply(self, event: Event, watermark_ms: int) -> list[Execution]:
        """Timers due at `watermark_ms` first, then the event (any event the rule reads for the group)."""
        out = self._timers(watermark_ms)
        rule = self.rule
        if rule.keeps_group:
            self._group_of(event)  # kept from the group's first event, for the fires of timers
        passed = rule.where(event.body)
        if not passed and event.chain is not None:
            out.append(dry_run(rule, rule.group_from_values(self._group_of(event)), event))
        seen = _seen(event)
        fires: list[Fire] = []
        if rule.episode is not None:
            if not passed:
                evaluations = [Fire(at=seen.ts, value=None, start=None, key_event_id=seen.id, event=seen, holds=False)]
            elif rule.kind == "each":
                evaluations = [_each_fire(seen)]
            else:
                self._state, evaluations = rule.detector.on_event(self._state, seen, watermark_ms)
            fires = self._episode_step(evaluations)
        elif passed:
            self._state, fires = rule.detector.on_event(self._state, seen, watermark_ms)
        out.extend(self._emit(fires, event))
        return out

    def _timers(self, watermark_ms: int) -> list[Execution]:
        """Fire the timers due at `watermark_ms` and drop what can no longer matter."""
        rule = self.rule
        self._state, fires = rule.detector.on_watermark(self._state, watermark_ms)
        if rule.episode is not None:
            fires = self._episode_step(fires)
            self._episode, more = rule.episode.on_watermark(self._episode, watermark_ms)
            fires.extend(more)
        out = self._emit(fires, None) if fires else []
        if self._last_fire is not None and rule.cooldown_ms and watermark_ms >= self._last_fire + rule.cooldown_ms:
            self._last_fire = None
        return out

    def _episode_step(self, evaluations: list[Fire]) -> list[Fire]:
        episode = self.rule.episode
        assert episode is not None
        fires: list[Fire] = []
        for ev in evaluations:
            self._episode, more = episode.evaluate(self._episode, ev.holds, ev.at, ev.event, ev.value)
            fires.extend(more)
        return fires

    def _emit(self, fires: list[Fire], event: Event | None) -> list[Execution]:
        """Executions of `fires`; `event`: the one being applied (None: timers, for a rule that keeps
        its group).
        """
        if not fires:
            return []
        rule = self.rule
        cooldown = rule.cooldown_ms
        values = self._group if event is None else self._group_of(event)
        out: list[Execution] = []
        for fire in fires:
            group = {} if values is None else rule.group_from_values(values)  # never shared with the state
            if cooldown and self._last_fire is not None and fire.at < self._last_fire + cooldown:
                out.append(_execution(rule, group, fire, "skipped", SkipReason.COOLDOWN))
                continue
            if cooldown:
                self._last_fire = fire.at if self._last_fire is None else max(self._last_fire, fire.at)
            out.append(_execution(rule, group, fire, "fired", None))
        return out
