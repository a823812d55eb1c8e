"""The offline test runner (RULES.md §9): `cepflow rules test RULE_FILES... --events EVENTS.jsonl`.

It drives the engine's own routing and evaluation code — the live router's `route_event`
(`RuleIndex`, `is_late`, `evaluate_stateless`, group keys), `GroupLogic`, `WatermarkClock`
(without a wall clock), `plan_chain` and the action templates for chain payloads — over a JSON
Lines file, with no Kafka, no database and no side effects, and
prints one JSON object per would-be execution, in event-time order (ties in processing order):

    {"rule": "web-cpu-hot", "group": {"host": "web-1"}, "at": 1700000300000, "status": "fired",
     "value": 3, "action": "webhook", "chain": {"depth": 0}}

- `status` is `fired`, `skipped` (then `reason` follows it) or `dry_run`; with `--explain`
  an `explain` list is added (every leaf of `where` on the execution's event).
- `action` is the rule's action type, a list of types when it has several, null when none.
- Events are read in file order; the watermark is the largest event time so far minus each
  rule's `allowed_lateness`, exactly as live (without the idle wall-clock advance), so a line
  that is late is reported on stderr and never fires. Lines that are not late may be in any
  order: as live, a stateful rule applies its group's events in time order once the watermark
  passes them (`time.order: event_time`, RULES.md §4), so the output is that of the lines
  sorted by time. Timers of every group fire as the watermark passes them. At the end of input,
  the buffered events and the pending timers whose time is at or before the largest event time
  in the input are applied and fired; later timers do not fire.
- Chains among the given files are followed: a fired execution's `trigger_rule` actions become
  chain events at the firing's time (payload rendered with the same templates as live), read by
  their target only. A hop refused by `plan_chain` prints a `skipped` line for the would-be
  target execution (reason `chain_depth` or `cycle`, its depth, its group from the payload).
  A target that is not among the files prints a `skipped` line with reason `target_not_found`
  and `rule` set to the reference as written; an inactive target, reason `target_inactive`.
- Rules without `id` get their name as id; every rule is version 1. Inactive rules read nothing.
- Event id: the `id` field, else `<file>:<line>`; topic: the `topic` field, else `events`;
  type: the `type` field; time: `ts` (epoch ms or ISO-8601 with offset), required.
"""

from __future__ import annotations

import argparse
import heapq
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any

import orjson

from dataflow import keys
from dataflow.chain import DEFAULT_MAX_CHAIN_DEPTH, plan_chain
from dataflow.eventtime import parse_event_time
from dataflow.index import RuleIndex
from dataflow.routing import LateHandler, Routed, route_event
from dataflow.rule_cache import RuleSet
from dataflow.runtime import CompiledRule, GroupLogic
from dataflow.types import Event, Execution, SkipReason
from dataflow.watermark import WatermarkClock
from rules.model import RuleSpec, TriggerRuleAction

DEFAULT_TOPIC = "events"
CHAIN_TOPIC = "chain"
OFFLINE_VERSION = 1

ROUTER = "offline"
WarningHandler = Callable[[str], None]


class EventFileError(ValueError):
    """An events file line that is not a usable event: file, line, field and what is wrong."""

    def __init__(self, source: str, line: int, message: str, field: str = "") -> None:
        self.source, self.line, self.field, self.message = source, line, field, message
        where = f"{source}: line {line}"
        super().__init__(f"{where}: {field}: {message}" if field else f"{where}: {message}")


def read_events(path: str | Path) -> Iterator[Event]:
    """The events of a JSON Lines file, in order; `EventFileError` at the first bad line."""
    source = Path(path).as_posix()
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            yield parse_event_line(raw, source, number)


def parse_event_line(raw: bytes | str, source: str, number: int) -> Event:
    """One line of an events file as an `Event` (see the module docstring for id/topic/type)."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise EventFileError(source, number, f"invalid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise EventFileError(source, number, f"an event must be a JSON object (got {type(body).__name__})")
    if "ts" not in body:
        raise EventFileError(
            source, number, "missing: every event needs its time (epoch ms or ISO-8601 with offset)", "ts"
        )
    ts = parse_event_time(body["ts"])
    if ts is None:
        raise EventFileError(
            source, number, f"cannot read {body['ts']!r} as a time (epoch ms, or ISO-8601 with an offset)", "ts"
        )
    given = body.get("id")
    event_id = str(given) if isinstance(given, str | int) and not isinstance(given, bool) else f"{source}:{number}"
    topic = body.get("topic")
    kind = body.get("type")
    return Event(
        id=event_id,
        ts_ms=ts,
        topic=topic if isinstance(topic, str) else DEFAULT_TOPIC,
        type=kind if isinstance(kind, str) else None,
        body=body,
    )


def action_field(spec: RuleSpec) -> str | list[str] | None:
    """The `action` of an output line: the type, the list of types, or None."""
    types: list[str] = [action.type for action in spec.actions]
    return types[0] if len(types) == 1 else (types or None)


def _render_payload(payload: dict[str, Any], execution: Execution) -> dict[str, Any]:
    """The chain payload rendered like the live `trigger_rule` action (sandboxed templates)."""
    from dataflow.template_context import template_context
    from rules.templates import render

    return render(payload, template_context(execution))


class _OfflineRun:
    """One run: rules, groups, timers and the output buffer."""

    def __init__(
        self,
        specs: list[RuleSpec],
        explain: bool,
        max_chain_depth: int,
        on_late: LateHandler | None,
        on_warning: WarningHandler | None,
    ) -> None:
        self.explain = explain
        self.max_depth = max_chain_depth
        self.on_late = on_late
        self.on_warning = on_warning
        self.refs: dict[str, RuleSpec] = {}
        self.ids: dict[str, str] = {}
        compiled: list[CompiledRule] = []
        for spec in specs:
            rule_id = str(spec.id) if spec.id is not None else spec.name
            for ref in dict.fromkeys((rule_id, spec.name)):
                if ref in self.refs:
                    msg = f"two rules are named or identified {ref!r}"
                    raise ValueError(msg)
                self.refs[ref] = spec
                self.ids[ref] = rule_id
            if spec.active:
                compiled.append(CompiledRule.build(rule_id, OFFLINE_VERSION, spec))
        self.index = RuleIndex(compiled)
        self.rules = RuleSet(self.index)
        self.clock = WatermarkClock(now=None)
        self.reading = self.clock.reading(DEFAULT_TOPIC, 0)  # one input: one partition, always read
        self.final_watermark: int | None = None
        self.groups: dict[str, GroupLogic] = {}  # by the live state key (rule, version, group)
        self.scheduled: dict[str, int] = {}
        self.timers: list[tuple[int, int, str]] = []
        self.chain_queue: deque[Event] = deque()
        self.lines: list[tuple[int, int, dict[str, Any]]] = []
        self.seq = 0

    # --- time ----------------------------------------------------------------------------------

    def watermark(self, rule: CompiledRule) -> int:
        if self.final_watermark is not None:
            return self.final_watermark
        return self.clock.watermark(rule.lateness_ms)

    def _schedule(self, key: str, logic: GroupLogic) -> None:
        """Keep a live group's next deadline in the timer heap; forget an empty one (as live)."""
        if logic.is_empty():
            self.groups.pop(key, None)
            self.scheduled.pop(key, None)
            return
        self.groups[key] = logic
        deadline = logic.next_deadline_ms()
        if deadline is None:
            self.scheduled.pop(key, None)
            return
        due = deadline + logic.rule.lateness_ms  # the clock progress at which the watermark reaches it
        if self.scheduled.get(key) != due:
            self.scheduled[key] = due
            self.seq += 1
            heapq.heappush(self.timers, (due, self.seq, key))

    def _fire_timers(self) -> None:
        progress = self.clock.progress_ms()
        while self.timers and self.timers[0][0] <= progress:
            due, _, key = heapq.heappop(self.timers)
            logic = self.groups.get(key)
            if logic is None or self.scheduled.get(key) != due:
                continue  # stale entry
            del self.scheduled[key]
            executions = logic.on_watermark(self.watermark(logic.rule))
            self._schedule(key, logic)
            self._emit_all(logic.rule, executions)

    def _finish(self) -> None:
        """End of input: fire what is due at the largest event time, then stop."""
        last = self.clock.max_ts_ms
        if last is None:
            return
        self.final_watermark = last
        while True:
            due = [
                (deadline, i, key)
                for i, (key, logic) in enumerate(self.groups.items())
                if (deadline := logic.next_deadline_ms()) is not None and deadline <= last
            ]
            if not due:
                return
            for _, _, key in sorted(due):
                logic = self.groups[key]
                executions = logic.on_watermark(last)
                self._schedule(key, logic)
                self._emit_all(logic.rule, executions)
            self._drain_chains()

    # --- events --------------------------------------------------------------------------------

    def feed(self, event: Event) -> None:
        self.reading.observe(event.ts_ms)  # timers due by this event's time fire before it is routed
        self._fire_timers()
        self._process(event)
        self._drain_chains()

    def _drain_chains(self) -> None:
        while self.chain_queue:
            self._process(self.chain_queue.popleft())

    def _process(self, event: Event) -> None:
        """Route `event` with the live router, then apply what it routed, here rather than in Kafka
        and Bytewax steps: a stateful group's events are applied at this run's watermark.
        """
        routed: list[Routed] = []
        route_event(event, self.rules, self.reading, ROUTER, self._late, routed)
        for item in routed:
            if item[0] == "exec":
                execution = item[1]
                self._emit_all(self._rule(execution.rule_id), [execution])
            elif item[0] == "key":
                key, keyed = item[1]
                rule = self._rule(keyed.rule_id)
                logic = self.groups.get(key) or GroupLogic(rule)
                executions = logic.on_event(keyed.event, self.watermark(rule))
                self._schedule(key, logic)
                self._emit_all(rule, executions)

    def _rule(self, rule_id: str) -> CompiledRule:
        rule = self.index.get(rule_id)
        assert rule is not None, rule_id  # the router only routes to indexed rules
        return rule

    def _late(self, rule: CompiledRule, event: Event, watermark: int) -> None:
        if self.on_late is not None:
            self.on_late(rule, event, watermark)

    # --- output --------------------------------------------------------------------------------

    def _line(
        self, name: str, group: dict[str, Any], at: int, status: str, reason: str | None, value: Any,
        action: Any, depth: int, explain: list[dict[str, Any]] | None,
    ) -> None:
        line: dict[str, Any] = {"rule": name, "group": group, "at": at, "status": status}
        if status == "skipped":
            line["reason"] = reason
        line.update(value=value, action=action, chain={"depth": depth})
        if self.explain:
            line["explain"] = explain if explain is not None else []
        self.seq += 1
        self.lines.append((at, self.seq, line))

    def _emit_all(self, rule: CompiledRule, executions: list[Execution]) -> None:
        for execution in executions:
            explain = execution.explain
            if self.explain and explain is None:
                explain = rule.where.explain(execution.event)
            self._line(
                rule.name, execution.group, execution.at_ms, execution.status, execution.reason,
                execution.value, action_field(rule.spec), execution.chain.depth, explain,
            )
            if execution.status == "fired":
                self._follow(rule, execution)

    def _follow(self, rule: CompiledRule, execution: Execution) -> None:
        """The chain events of a fired execution's `trigger_rule` actions, like the live executor."""
        actions = rule.spec.actions
        for position, action in enumerate(actions):
            if not isinstance(action, TriggerRuleAction):
                continue
            action_id = keys.action_id(execution.idempotency_key, position, len(actions))
            depth = execution.chain.depth + 1
            spec = self.refs.get(action.rule_id)
            if spec is None or not spec.active:
                reason = SkipReason.TARGET_NOT_FOUND if spec is None else SkipReason.TARGET_INACTIVE
                name = action.rule_id if spec is None else spec.name
                self._line(name, {}, execution.at_ms, "skipped", reason, None, None, depth, None)
                continue
            target = self.index.get(self.ids[action.rule_id])
            assert target is not None
            try:
                payload = _render_payload(action.payload, execution)
            except ValueError as exc:  # TemplateError: the live action would fail the same way
                if self.on_warning is not None:
                    self.on_warning(f"{rule.name}: trigger_rule {action.rule_id}: {exc}; chain not followed")
                continue
            hop = plan_chain(execution.chain, target.id, self.max_depth)
            if isinstance(hop, str):
                self._line(target.name, target.group_of(payload), execution.at_ms, "skipped", hop, None,
                           action_field(target.spec), depth, None)
                continue
            kind = payload.get("type")
            self.chain_queue.append(
                Event(id=action_id, ts_ms=execution.at_ms, topic=CHAIN_TOPIC,
                      type=kind if isinstance(kind, str) else None, body=payload, chain=hop,
                      target_rule_id=target.id)
            )

    def run(self, events: Iterable[Event]) -> Iterator[dict[str, Any]]:
        for event in events:
            self.feed(event)
        self._finish()
        self.lines.sort(key=lambda item: (item[0], item[1]))
        for _, _, line in self.lines:
            yield line


def run_offline(
    rules: list[RuleSpec],
    events: Iterable[Event],
    explain: bool = False,
    max_chain_depth: int = DEFAULT_MAX_CHAIN_DEPTH,
    *,
    on_late: LateHandler | None = None,
    on_warning: WarningHandler | None = None,
) -> Iterator[dict[str, Any]]:
    """Every would-be execution of `rules` over `events`, as §9 output lines, in event-time order.

    Output is produced after the input is consumed (it is sorted by time). `ValueError` for rules
    the engine cannot run or two rules sharing a name/id; errors of `events` propagate.
    """
    run = _OfflineRun(list(rules), explain, max_chain_depth, on_late, on_warning)
    return run.run(events)


def run_files(
    rule_paths: Iterable[str | Path],
    events_path: str | Path,
    explain: bool = False,
    out: IO[str] | None = None,
    err: IO[str] | None = None,
    max_chain_depth: int = DEFAULT_MAX_CHAIN_DEPTH,
) -> int:
    """`cepflow rules test`: 0 on success, 2 on an invalid rule or events file (message on stderr).

    Nothing is printed on stdout unless every rule and every event line is valid.
    """
    from rules.errors import RuleFileError
    from rules.loader import load_rule_files

    out = out if out is not None else sys.stdout
    err = err if err is not None else sys.stderr
    try:
        loaded = load_rule_files(list(rule_paths))
    except (RuleFileError, OSError) as exc:
        print(str(exc), file=err)
        return 2
    for item in loaded:
        try:
            CompiledRule.build(item.spec.name, OFFLINE_VERSION, item.spec)
        except ValueError as exc:
            print(f"{item.location}: {exc}", file=err)
            return 2

    def late(rule: CompiledRule, event: Event, watermark: int) -> None:
        print(f"{event.id}: late for rule {rule.name} (ts {event.ts_ms} < watermark {watermark}): never fires",
              file=err)

    def warn(message: str) -> None:
        print(f"warning: {message}", file=err)

    try:
        lines = list(
            run_offline([item.spec for item in loaded], read_events(events_path), explain, max_chain_depth,
                        on_late=late, on_warning=warn)
        )
    except EventFileError as exc:
        print(str(exc), file=err)
        return 2
    except OSError as exc:
        print(f"{Path(events_path).as_posix()}: cannot read file: {exc}", file=err)
        return 2
    for line in lines:
        out.write(orjson.dumps(line, default=str).decode())
        out.write("\n")
    out.flush()
    return 0


def main(argv: list[str] | None = None) -> int:
    """`python -m dataflow.offline RULE_FILES... --events EVENTS.jsonl [--explain]`."""
    parser = argparse.ArgumentParser(prog="python -m dataflow.offline", description=__doc__.splitlines()[0])
    parser.add_argument("rules", nargs="+", help="rule files (YAML or JSON) or directories")
    parser.add_argument("--events", required=True, help="JSON Lines file of events")
    parser.add_argument("--explain", action="store_true", help="add every condition leaf's verdict")
    parser.add_argument("--max-chain-depth", type=int, default=DEFAULT_MAX_CHAIN_DEPTH)
    args = parser.parse_args(argv)
    return run_files(args.rules, args.events, args.explain, max_chain_depth=args.max_chain_depth)


if __name__ == "__main__":
    raise SystemExit(main())
