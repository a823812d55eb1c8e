"""Static checks of a set of rules for `cepflow rules check`: what validation of one rule cannot see.

Validation looks at one document; these checks look across rules (trigger_rule targets, chains
that can loop) and at choices that are valid but usually mistakes (unbounded group_by, no action).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from rules.loader import LoadedRule, scan_rule_files
from rules.model import RuleSpec, TriggerRuleAction

Level = Literal["error", "warning"]

# Field names whose values are usually unique per event: grouping by them keeps one state per event.
_UNBOUNDED_NAMES = frozenset(
    {"id", "ts", "time", "timestamp", "uuid", "guid", "offset", "nonce", "request_id", "trace_id",
     "span_id", "event_id", "message_id", "correlation_id", "session_id", "transaction_id"}
)
_UNBOUNDED_PATTERN = re.compile(r".*(_id|_uuid|_ts|_at|_time|_timestamp|Id|Uuid)$")


@dataclass(frozen=True, slots=True)
class Finding:
    """One result of a check: `path` is the field path inside the rule, `source` its file location."""

    level: Level
    rule: str
    path: str
    message: str
    source: str = ""

    def __str__(self) -> str:
        where = f"{self.source}: " if self.source else ""
        field = f" {self.path}:" if self.path else ""
        return f"{where}{self.level}: rule {self.rule or '?'}:{field} {self.message}"


@dataclass(frozen=True, slots=True)
class _Edge:
    source: str
    target: str
    path: str


def _triggers(spec: RuleSpec) -> list[tuple[int, TriggerRuleAction]]:
    return [(i, action) for i, action in enumerate(spec.actions) if isinstance(action, TriggerRuleAction)]


def _resolve_targets(rules: Sequence[LoadedRule], known: frozenset[str]) -> tuple[list[_Edge], list[Finding]]:
    """trigger_rule edges between loaded rules (by name or id), and findings for bad targets."""
    by_key: dict[str, RuleSpec] = {}
    for item in rules:
        by_key[item.spec.name] = item.spec
        if item.spec.id is not None:
            by_key[str(item.spec.id)] = item.spec
    edges: list[_Edge] = []
    findings: list[Finding] = []
    for item in rules:
        name = item.spec.name
        for index, action in _triggers(item.spec):
            path = f"actions.{index}.rule_id"
            target = by_key.get(action.rule_id)
            if target is not None:
                edges.append(_Edge(name, target.name, path))
                if not target.active:
                    message = (f"trigger_rule target {action.rule_id!r} is inactive: its chain events fail "
                               "with 'Target rule is not active'")
                    findings.append(Finding("warning", name, path, message, item.location))
            elif "{{" in action.rule_id:
                message = "trigger_rule target is a template and cannot be checked"
                findings.append(Finding("warning", name, path, message, item.location))
            elif action.rule_id not in known:
                message = f"unknown trigger_rule target {action.rule_id!r}: no loaded or known rule has this name or id"
                findings.append(Finding("error", name, path, message, item.location))
    return edges, findings


def _cycles(names: list[str], edges: list[_Edge]) -> list[list[_Edge]]:
    """One cycle per strongly connected component that has one (Tarjan), edges in order."""
    graph: dict[str, list[_Edge]] = {name: [] for name in names}
    for edge in edges:
        graph[edge.source].append(edge)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def visit(name: str) -> None:
        index[name] = low[name] = len(index)
        stack.append(name)
        on_stack.add(name)
        for edge in graph[name]:
            if edge.target not in index:
                visit(edge.target)
                low[name] = min(low[name], low[edge.target])
            elif edge.target in on_stack:
                low[name] = min(low[name], index[edge.target])
        if low[name] == index[name]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == name:
                    break
            components.append(component)

    for name in names:
        if name not in index:
            visit(name)
    cycles = []
    for component in components:
        start = next(name for name in names if name in component)
        cycle = _cycle_from(start, component, graph)
        if cycle:
            cycles.append(cycle)
    return cycles


def _cycle_from(start: str, component: set[str], graph: dict[str, list[_Edge]]) -> list[_Edge]:
    """A path of edges inside `component` from `start` back to `start` (empty if none)."""
    paths: list[tuple[str, list[_Edge]]] = [(start, [])]
    seen = {start}
    while paths:
        name, path = paths.pop(0)
        for edge in graph[name]:
            if edge.target == start:
                return [*path, edge]
            if edge.target in component and edge.target not in seen:
                seen.add(edge.target)
                paths.append((edge.target, [*path, edge]))
    return []


def _looks_unbounded(path: str) -> bool:
    last = path.rsplit(".", 1)[-1]
    return last.lower() in _UNBOUNDED_NAMES or bool(_UNBOUNDED_PATTERN.fullmatch(last))


def _rule_warnings(item: LoadedRule) -> list[Finding]:
    spec, findings = item.spec, []
    # A sequence's partial match expires after `within`, so even a per-event group stays bounded.
    bounded = spec.detect.kind == "sequence"
    for index, path in enumerate(spec.group_by):
        if not bounded and _looks_unbounded(path):
            message = (f"group_by field {path!r} looks unbounded: state is kept per distinct value, "
                       "so a per-event value keeps one state per event")
            findings.append(Finding("warning", spec.name, f"group_by.{index}", message, item.location))
    if not spec.actions:
        message = "rule has no actions: its fires are only logged"
        findings.append(Finding("warning", spec.name, "actions", message, item.location))
    return findings


def check_rules(rules: Sequence[LoadedRule], known_rules: Iterable[str] = ()) -> list[Finding]:
    """Cross-rule checks over loaded rules; `known_rules` are names or ids of rules stored elsewhere."""
    edges, findings = _resolve_targets(rules, frozenset(known_rules))
    location = {item.spec.name: item.location for item in rules}
    for cycle in _cycles([item.spec.name for item in rules], edges):
        first = cycle[0]
        chain = " -> ".join([first.source] + [edge.target for edge in cycle])
        message = f"trigger_rule chain can cycle: {chain} (at run time the repeat is skipped with reason cycle)"
        findings.append(Finding("error", first.source, first.path, message, location[first.source]))
    for item in rules:
        findings.extend(_rule_warnings(item))
    return findings


def check_rule_files(paths: Iterable[str | Path], known_rules: Iterable[str] = ()) -> list[Finding]:
    """Validation problems of the files as errors, then `check_rules` over the rules that are valid."""
    loaded, problems = scan_rule_files(paths)
    findings = [Finding("error", p.rule or "", p.field, p.message, p.location) for p in problems]
    return findings + check_rules(loaded, known_rules)
