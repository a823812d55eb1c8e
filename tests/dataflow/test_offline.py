"""The offline runner on small rule and event files, against hand-computed output lines."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import orjson

from dataflow.offline import parse_event_line, read_events, run_files, run_offline

from .helpers import spec

T0 = 1_700_000_000_000


def run(tmp_path: Path, rules: str, events: list[Any] | str, explain: bool = False) -> tuple[int, list[str], str]:
    rules_file = tmp_path / "rules.yaml"
    rules_file.write_text(rules)
    events_file = tmp_path / "events.jsonl"
    if isinstance(events, str):
        events_file.write_text(events)
    else:
        events_file.write_text("".join(json.dumps(e) + "\n" for e in events))
    out, err = io.StringIO(), io.StringIO()
    code = run_files([rules_file], events_file, explain, out=out, err=err)
    return code, out.getvalue().splitlines(), err.getvalue()


def line(**fields: Any) -> str:
    doc = {"rule": fields.pop("rule"), "group": fields.pop("group", {}), "at": fields.pop("at"),
           "status": fields.pop("status", "fired")}
    if doc["status"] == "skipped":
        doc["reason"] = fields.pop("reason")
    doc["value"] = fields.pop("value", None)
    doc["action"] = fields.pop("action", "webhook")
    doc["chain"] = {"depth": fields.pop("depth", 0)}
    doc.update(fields)
    return orjson.dumps(doc).decode()


CPU = """
name: web-cpu-hot
match: {topic: metrics, type: cpu}
where:
  all:
    - {field: value, op: gt, value: 90}
    - {field: host, op: startswith, value: web-}
group_by: [host]
detect:
  kind: threshold
  window: {type: sliding, size: 5m}
  aggregate: {fn: count}
  having: {op: gte, value: 3}
cooldown: 10m
action: {type: webhook, endpoint: https://hooks.example.com/cpu}
"""


def cpu(ts: int, host: str, value: int, topic: str = "metrics") -> dict[str, Any]:
    return {"ts": T0 + ts, "topic": topic, "type": "cpu", "host": host, "value": value}


def test_threshold_with_cooldown(tmp_path: Path) -> None:
    events = [
        cpu(100_000, "web-1", 95), cpu(150_000, "web-2", 99), cpu(200_000, "web-1", 97),
        cpu(210_000, "db-1", 99), cpu(220_000, "db-1", 99), cpu(230_000, "db-1", 99),
        cpu(250_000, "web-1", 50), cpu(260_000, "web-2", 99, topic="other"),
        cpu(300_000, "web-1", 91),  # third hot event of web-1 in (0s, 300s]: fires
        cpu(360_000, "web-1", 95), cpu(420_000, "web-1", 95), cpu(480_000, "web-1", 95),  # within cooldown
    ]
    code, out, err = run(tmp_path, CPU, events)
    assert code == 0, err
    assert out == [
        line(rule="web-cpu-hot", group={"host": "web-1"}, at=T0 + 300_000, value=3),
        line(rule="web-cpu-hot", group={"host": "web-1"}, at=T0 + 480_000, status="skipped", reason="cooldown", value=3),
    ]
    assert out[0] == ('{"rule":"web-cpu-hot","group":{"host":"web-1"},"at":1700000300000,"status":"fired",'
                      '"value":3,"action":"webhook","chain":{"depth":0}}')


CHAIN_AB = """
name: A
match: {type: login}
where: {field: failed, op: eq, value: true}
group_by: [user]
action: {type: trigger_rule, rule_id: B, payload: {user: "{{ event.user }}", severity: high}}
---
name: B
match: {chain_only: true}
where: {field: user, op: ne, value: guest}
group_by: [user]
action: {type: webhook, endpoint: https://hooks.example.com/b}
"""


def test_chain_a_to_b_with_a_dry_run(tmp_path: Path) -> None:
    events = [
        {"ts": 1000, "type": "login", "user": "bob", "failed": True},
        {"ts": 2000, "type": "login", "user": "guest", "failed": True},
        {"ts": 3000, "type": "login", "user": "amy", "failed": False},
    ]
    code, out, err = run(tmp_path, CHAIN_AB, events)
    assert code == 0, err
    assert out == [
        line(rule="A", group={"user": "bob"}, at=1000, action="trigger_rule"),
        line(rule="B", group={"user": "bob"}, at=1000, depth=1),
        line(rule="A", group={"user": "guest"}, at=2000, action="trigger_rule"),
        line(rule="B", group={"user": "guest"}, at=2000, status="dry_run", depth=1),
    ]


def test_explain_adds_the_leaf_verdicts(tmp_path: Path) -> None:
    events = [{"ts": 2000, "type": "login", "user": "guest", "failed": True}]
    code, out, err = run(tmp_path, CHAIN_AB, events, explain=True)
    assert code == 0, err
    a, b = (json.loads(x) for x in out)
    assert a["explain"] == [{"field": "failed", "op": "eq", "expected": True, "actual": True, "result": True}]
    assert b["status"] == "dry_run"
    assert b["explain"] == [{"field": "user", "op": "ne", "expected": "guest", "actual": "guest", "result": False}]


CYCLE = """
name: A
match: {type: x}
action: {type: trigger_rule, rule_id: B}
---
name: B
match: {chain_only: true}
action: {type: trigger_rule, rule_id: A}
"""


def test_chain_cycle_a_b_a_is_skipped(tmp_path: Path) -> None:
    code, out, err = run(tmp_path, CYCLE, [{"ts": 1000, "type": "x"}])
    assert code == 0, err
    assert out == [
        line(rule="A", at=1000, action="trigger_rule"),
        line(rule="B", at=1000, action="trigger_rule", depth=1),
        line(rule="A", at=1000, action="trigger_rule", status="skipped", reason="cycle", depth=2),
    ]


def chain_of(n: int) -> str:
    docs = ["name: R0\nmatch: {type: go}\naction: {type: trigger_rule, rule_id: R1}\n"]
    for i in range(1, n):
        docs.append(f"name: R{i}\nmatch: {{chain_only: true}}\naction: {{type: trigger_rule, rule_id: R{i + 1}}}\n")
    docs.append(f"name: R{n}\nmatch: {{chain_only: true}}\naction: {{type: webhook, endpoint: https://h.example.com/x}}\n")
    return "---\n".join(docs)


def test_chain_depth_six_is_skipped(tmp_path: Path) -> None:
    code, out, err = run(tmp_path, chain_of(6), [{"ts": 5, "type": "go"}])
    assert code == 0, err
    expected = [line(rule=f"R{i}", at=5, action="trigger_rule", depth=i) for i in range(6)]
    expected.append(line(rule="R6", at=5, status="skipped", reason="chain_depth", depth=6))
    assert out == expected


def test_chain_depth_five_runs(tmp_path: Path) -> None:
    code, out, _ = run(tmp_path, chain_of(5), [{"ts": 5, "type": "go"}])
    assert code == 0
    assert out[-1] == line(rule="R5", at=5, depth=5)


def test_missing_and_inactive_targets(tmp_path: Path) -> None:
    rules = """
name: A
match: {type: x}
actions:
  - {type: trigger_rule, rule_id: ghost}
  - {type: trigger_rule, rule_id: sleeper}
---
name: sleeper
active: false
action: {type: webhook, endpoint: https://h.example.com/x}
"""
    code, out, err = run(tmp_path, rules, [{"ts": 1, "type": "x"}])
    assert code == 0, err
    assert out == [
        line(rule="A", at=1, action=["trigger_rule", "trigger_rule"]),
        line(rule="ghost", at=1, status="skipped", reason="target_not_found", action=None, depth=1),
        line(rule="sleeper", at=1, status="skipped", reason="target_inactive", action=None, depth=1),
    ]


ABSENCE_AND_TUMBLING = """
name: quiet
group_by: [host]
detect: {kind: absence, for: 10s}
action: {type: webhook, endpoint: https://h.example.com/q}
---
name: per-minute
detect:
  kind: threshold
  window: {type: tumbling, size: 1m}
  aggregate: {fn: count}
  having: {op: gte, value: 1}
action: {type: webhook, endpoint: https://h.example.com/m}
"""


def test_timers_due_by_the_last_event_time_fire_at_end_of_input_later_ones_do_not(tmp_path: Path) -> None:
    events = [
        {"ts": 0, "host": "h1"}, {"ts": 5000, "host": "h2"}, {"ts": 12_000, "host": "h2"},
        {"ts": 60_000, "host": "h3"},
    ]
    code, out, err = run(tmp_path, ABSENCE_AND_TUMBLING, events)
    assert code == 0, err
    assert out == [
        line(rule="quiet", group={"host": "h1"}, at=10_000, value=10_000),
        line(rule="quiet", group={"host": "h2"}, at=22_000, value=10_000),
        line(rule="per-minute", at=60_000, value=3),  # [0, 1m) closes at the last event time
    ]  # h3 (deadline 70s) and the window [1m, 2m) are pending at the end: they do not fire


def test_output_is_in_event_time_order(tmp_path: Path) -> None:
    rules = ABSENCE_AND_TUMBLING + """---
name: every
action: {type: webhook, endpoint: https://h.example.com/e}
"""
    events = [{"ts": 0, "host": "h1"}, {"ts": 61_000, "host": "h2"}]
    code, out, _ = run(tmp_path, rules, events)
    assert code == 0
    assert [(json.loads(x)["rule"], json.loads(x)["at"]) for x in out] == [
        ("every", 0), ("quiet", 10_000), ("per-minute", 60_000), ("every", 61_000)]


def test_late_events_are_reported_on_stderr_and_never_fire(tmp_path: Path) -> None:
    rules = "name: every\ntime: {allowed_lateness: 1s}\naction: {type: webhook, endpoint: https://h.example.com/e}\n"
    code, out, err = run(tmp_path, rules, [{"ts": 10_000, "id": "a"}, {"ts": 8000, "id": "b"}, {"ts": 9000}])
    assert code == 0
    assert [json.loads(x)["at"] for x in out] == [9000, 10_000]
    assert "b: late for rule every" in err


def test_iso_times_and_event_defaults(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    path.write_text('{"ts": "2023-11-14T22:13:20+00:00", "type": "t"}\n\n{"ts": 5, "id": 7, "topic": "k"}\n')
    first, second = read_events(path)
    assert (first.ts_ms, first.id, first.topic, first.type) == (T0, f"{path.as_posix()}:1", "events", "t")
    assert (second.ts_ms, second.id, second.topic, second.type) == (5, "7", "k", None)


def test_invalid_events_exit_2_naming_file_line_and_field(tmp_path: Path) -> None:
    rules = "name: every\naction: {type: webhook, endpoint: https://h.example.com/e}\n"
    cases = {
        '{"ts": 1}\n{"ts": 2\n': ("line 2", "invalid JSON"),
        '{"ts": 1}\n[1, 2]\n': ("line 2", "must be a JSON object (got list)"),
        '{"ts": 1}\n{"ts": 2}\n{"x": 3}\n': ("line 3: ts:", "missing"),
        '{"ts": "yesterday"}\n': ("line 1: ts:", "'yesterday'"),
        '{"ts": "2023-11-14T22:13:20"}\n': ("line 1: ts:", "offset"),
    }
    for text, (where, what) in cases.items():
        code, out, err = run(tmp_path, rules, text)
        assert code == 2, text
        assert out == []
        assert "events.jsonl: " + where in err and what in err, err


def test_invalid_rule_file_exits_2_naming_file_line_and_field(tmp_path: Path) -> None:
    rules = CPU.replace("op: gte, value: 3", "op: bigger, value: 3")
    code, out, err = run(tmp_path, rules, [{"ts": 1}])
    assert code == 2 and out == []
    assert "rules.yaml" in err and "line" in err and "detect.having.op" in err


def test_missing_events_file_exits_2(tmp_path: Path) -> None:
    rules_file = tmp_path / "r.yaml"
    rules_file.write_text("name: every\n")
    err = io.StringIO()
    assert run_files([rules_file], tmp_path / "nope.jsonl", out=io.StringIO(), err=err) == 2
    assert "nope.jsonl" in err.getvalue()


def test_run_offline_is_deterministic_and_has_no_side_effects() -> None:
    specs = [spec(name="every", group_by=["g"], cooldown="5s")]
    events = [parse_event_line(json.dumps({"ts": i * 1000, "g": i % 3}), "mem", i) for i in range(30)]
    first = list(run_offline(specs, events))
    assert first == list(run_offline(specs, events))
    assert [x["status"] for x in first[:6]] == ["fired"] * 3 + ["skipped"] * 3


def test_events_go_through_the_live_router(tmp_path: Path, monkeypatch) -> None:
    """Issue 10: the offline runner routes with the engine's `route_event`, not a copy of it."""
    import dataflow.offline as offline
    from dataflow import routing

    routed: list[str] = []

    def spy(event, *args: Any) -> None:
        routed.append(event.id)
        routing.route_event(event, *args)

    monkeypatch.setattr(offline, "route_event", spy)
    code, lines, _ = run(tmp_path, CPU, [cpu(0, "web-1", 95), cpu(1, "db-1", 95), cpu(2, "web-1", 10)])
    assert code == 0 and lines == []
    assert len(routed) == 3
