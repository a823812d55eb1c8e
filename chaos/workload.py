"""The chaos workload: a seeded, paced stream and a rule set of every stateful kind plus a chain.

Events carry the time they are sent (`ts`, stamped by the producer): a real stream, so the
engine's watermark (which also advances with idle wall time, dataflow/watermark.py) sees what it
would see in production, and the rules keep their default `allowed_lateness` (5 s). An event that
an outage makes late is therefore a lost execution in the table, as it would be for a user. A
tail of `tick` events (20 s) moves event time past every timer (the longest is 10 s), so the
engine and the offline runner agree on what fires at the end.

The expectations are the offline runner's (`dataflow/offline.py`) over the same events, in the
order Kafka acknowledged them.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from chaos.history import ExecKey, group_text
from dataflow.offline import parse_event_line, run_offline
from rules.model import RuleSpec

RATE_EPS = 20.0
TAIL_EVENTS = 100
TAIL_RATE_EPS = 5.0  # the tail lasts 20 s: past the lateness (5 s) and the longest timer (10 s)
WEBHOOK_RULES = ("big-order", "hot-host", "login-recovered", "service-silent", "host-incident")


@dataclass(frozen=True)
class Expected:
    """What the rules must produce from a stream: every execution, and those that send a webhook."""

    executions: list[ExecKey]
    webhooks: list[ExecKey]


def _body(group_field: str) -> dict[str, str]:
    """A webhook body naming its execution (see `chaos.history`), and the event behind it."""
    return {"rule": "{{ match.rule }}", "group": f"{group_field}={{{{ match.group.{group_field} }}}}",
            "at": "{{ match.fired_at }}", "event": "{{ event.id }}"}


def _webhook(url: str, group_field: str) -> dict[str, Any]:
    return {"type": "webhook", "endpoint": url, "body": _body(group_field), "timeout": "2s",
            "retry": {"max_attempts": 3, "backoff": "500ms", "max_backoff": "2s"}}


def rules(url: str) -> list[dict[str, Any]]:
    """each, threshold (with a chain to `host-incident`), sequence and absence; webhooks to `url`."""
    return [
        {"name": "big-order", "match": {"type": "order"}, "where": {"field": "amount", "op": "gt", "value": 170},
         "group_by": ["shop"], "detect": {"kind": "each"}, "action": _webhook(url, "shop")},
        {"name": "hot-host", "match": {"type": "cpu"}, "where": {"field": "value", "op": "gt", "value": 60},
         "group_by": ["host"],
         "detect": {"kind": "threshold", "window": {"type": "tumbling", "size": "10s"},
                    "aggregate": {"fn": "count"}, "having": {"op": "gte", "value": 2}},
         "actions": [_webhook(url, "host"),
                     {"type": "trigger_rule", "rule_id": "host-incident",
                      "payload": {"host": "{{ match.group.host }}", "count": "{{ match.value }}"}}]},
        {"name": "host-incident", "match": {"chain_only": True}, "group_by": ["host"],
         "detect": {"kind": "each"}, "action": _webhook(url, "host")},
        {"name": "login-recovered", "match": {"type": "login"}, "group_by": ["user"],
         "detect": {"kind": "sequence", "within": "20s", "steps": [
             {"name": "failed", "where": {"field": "ok", "op": "eq", "value": False}},
             {"name": "succeeded", "where": {"field": "ok", "op": "eq", "value": True}}]},
         "action": _webhook(url, "user")},
        {"name": "service-silent", "match": {"type": "heartbeat"}, "group_by": ["service"],
         "detect": {"kind": "absence", "for": "10s"}, "action": _webhook(url, "service")},
    ]


def _event(rng: random.Random) -> dict[str, Any]:
    kind = rng.choices(("order", "cpu", "login", "heartbeat"), (3, 3, 2, 2))[0]
    if kind == "order":
        return {"type": kind, "shop": f"s{rng.randrange(4)}", "amount": rng.randrange(200)}
    if kind == "cpu":
        return {"type": kind, "host": f"h{rng.randrange(3)}", "value": rng.randrange(100)}
    if kind == "login":
        return {"type": kind, "user": f"u{rng.randrange(5)}", "ok": rng.random() < 0.5}
    # svc2 beats rarely: it falls silent now and then, and the absence rule fires
    return {"type": kind, "service": rng.choices(("svc0", "svc1", "svc2"), (5, 5, 1))[0]}


def stream(seed: int, count: int, prefix: str = "e") -> list[dict[str, Any]]:
    """`count` events then `TAIL_EVENTS` ticks, ids `<prefix><n>`, without `ts` (stamped when sent)."""
    rng = random.Random(seed)
    return [{"id": f"{prefix}{n}", **(_event(rng) if n < count else {"type": "tick"})}
            for n in range(count + TAIL_EVENTS)]


def key_of(event: dict[str, Any]) -> bytes:
    """The Kafka key: the event's group, so one group's events stay in order in one partition."""
    for field in ("shop", "host", "user", "service"):
        if field in event:
            return f"{field}={event[field]}".encode()
    return b"tick"


def expected(documents: Sequence[dict[str, Any]], events: Iterable[dict[str, Any]]) -> Expected:
    """The executions and webhooks the offline runner derives from `events` (in this order)."""
    import orjson

    specs = [RuleSpec.model_validate(document) for document in documents]
    parsed = (parse_event_line(orjson.dumps(event), "chaos", n) for n, event in enumerate(events, start=1))
    lines = list(run_offline(specs, parsed))
    executions = [(line["rule"], group_text(line["group"]), int(line["at"])) for line in lines]
    webhooks = [key for key, line in zip(executions, lines, strict=True)
                if line["status"] == "fired" and line["rule"] in WEBHOOK_RULES]
    return Expected(executions, webhooks)
