"""Chains of `trigger_rule` actions on the running engine (RULES.md §5, §7): lineage in the log,
`cepflow logs --chain`, and the hops that stop — cycle, depth, missing or inactive target, a
target whose `where` does not hold.

Rules that start a chain read only this test's events topic; the others are `chain_only`.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
import pytest

from cepflow.receiver import Receiver
from storage.models.exec_log import ExecLog
from tests.integration.cli import cepflow
from tests.integration.detections import AppliedRules
from tests.integration.harness import StackEnv

pytestmark = pytest.mark.integration


def starter(stack: StackEnv, name: str, kind: str, target: str, payload: dict[str, Any] | None = None) -> dict:
    """A rule that, for each event of type `kind` on this test's topic, triggers `target`."""
    return {"name": name, "match": {"topic": stack.events_topic, "type": kind},
            "action": {"type": "trigger_rule", "rule_id": target, "payload": payload or {}}}


def link(name: str, target: str | None, payload: dict[str, Any] | None = None, **rule: Any) -> dict:
    """A `chain_only` rule that triggers `target` (or does nothing when None)."""
    doc: dict[str, Any] = {"name": name, "match": {"chain_only": True}, **rule}
    if target is not None:
        doc["action"] = {"type": "trigger_rule", "rule_id": target, "payload": payload or {}}
    return doc


def event(eid: str, kind: str, **fields: Any) -> dict[str, Any]:
    return {"id": eid, "type": kind, "ts": int(time.time() * 1000), **fields}


def summary(row: ExecLog) -> tuple[str, str, str | None, str]:
    return row.rule_name, row.status, row.reason, row.executed_by


def test_a_chain_carries_its_lineage_and_a_failing_where_is_a_dry_run(stack, engine, sessions, unique):
    a, b, c, d = (f"{n}-{unique}" for n in "abcd")
    with Receiver() as receiver:
        docs = [
            starter(stack, a, "start", b, {"host": "{{ event.host }}", "level": "escalated"}),
            link(b, c, {"host": "{{ event.host }}"}, where={"field": "level", "op": "eq", "value": "escalated"}),
            {"name": c, "match": {"chain_only": True},
             "action": {"endpoint": receiver.url("/c"),
                        "body": {"host": "{{ event.host }}", "depth": "{{ chain.depth }}"}}},
            starter(stack, d, "quiet", b, {"level": "info"}),  # B's `where` does not hold
        ]
        with AppliedRules(sessions).apply(*docs) as rules:
            stack.produce([event("s1", "start", host="web-9"), event("q1", "quiet")])
            engine.start()
            rows = rules.wait_rows(5, engine)
            [hook] = receiver.requests

    assert hook.json == {"host": "web-9", "depth": "2"}
    chain = [r for r in rows if r.rule_name in (a, b, c) and r.status == "success"]
    assert sorted(summary(r) for r in chain) == [(a, "success", None, "stream"), (b, "success", None, f"chain:{a}"),
                                                 (c, "success", None, f"chain:{b}")]
    first = next(r for r in chain if r.rule_name == a)
    last = next(r for r in chain if r.rule_name == c)
    assert {r.chain_id for r in chain} == {first.chain_id}
    assert last.references["chain"] == {"id": first.chain_id, "depth": 2, "path": [rules.ids[n] for n in (a, b, c)]}
    listed = cepflow(stack, "logs", "--chain", first.chain_id, "--json").stdout.splitlines()
    assert [orjson.loads(line)["rule"] for line in listed] == [a, b, c]

    quiet = [r for r in rows if r not in chain]
    assert sorted(summary(r) for r in quiet) == [(b, "dry_run", "condition not met", f"chain:{d}"),
                                                 (d, "success", None, "stream")]
    dry = next(r for r in quiet if r.status == "dry_run")
    assert dry.references["chain"]["path"] == [rules.ids[d], rules.ids[b]]
    assert dry.references["explain"][0]["result"] is False


def test_chains_stop_at_a_cycle_at_the_depth_limit_and_at_bad_targets(stack, engine, sessions, unique):
    x, y, m, i, off = (f"{n}-{unique}" for n in ("x", "y", "m", "i", "off"))
    deep = [f"r{n}-{unique}" for n in range(7)]  # r0 -> r1 -> ... -> r6: r6 would be depth 6 > 5
    docs = [
        starter(stack, x, "loop", y), link(y, x),
        starter(stack, m, "missing", f"nobody-{unique}"),
        starter(stack, i, "inactive", off), link(off, None, active=False),
        starter(stack, deep[0], "deep", deep[1]),
        *(link(name, target) for name, target in zip(deep[1:], [*deep[2:], None], strict=True)),
    ]
    with AppliedRules(sessions).apply(*docs) as rules:
        stack.produce([event("l1", "loop"), event("m1", "missing"), event("i1", "inactive"), event("r1", "deep")])
        engine.start()
        rows = rules.wait_rows(3 + 2 + 6 + 1, engine, timeout=60)

    by_rule: dict[str, list[tuple[str, str, str | None, str]]] = {}
    for row in rows:
        by_rule.setdefault(row.rule_name, []).append(summary(row)[1:])
    assert sorted(by_rule[x]) == [("skipped", "cycle", f"chain:{y}"), ("success", None, "stream")]
    assert by_rule[y] == [("success", None, f"chain:{x}")]

    assert by_rule[m] == [("fail", None, "stream")]
    assert by_rule[i] == [("fail", None, "stream")]
    assert off not in by_rule
    failures = {r.rule_name: (r.error_message, r.references["actions"][0]["status_code"])
                for r in rows if r.status == "fail"}
    assert failures == {m: ("trigger_rule: Target rule not found", 404),
                        i: ("trigger_rule: Target rule is not active", 400)}

    assert [by_rule[name] for name in deep[:6]] == [[("success", None, "stream")]] + [
        [("success", None, f"chain:{parent}")] for parent in deep[:5]]
    assert by_rule[deep[6]] == [("skipped", "chain_depth", f"chain:{deep[5]}")]
    [refused] = [r for r in rows if r.rule_name == deep[6]]
    assert refused.references["chain"]["path"] == [rules.ids[name] for name in deep[:6]]
    assert refused.references["chain"]["depth"] == 5  # the hop from depth 5 to 6 is the one refused
