"""The seeded workload of BENCH.md: events, and rule sets of one mix at every size.

Events (~175 bytes of JSON): `id`, `type` (20 types, uniform), `host` (1,000), `user` (10,000),
`value` (uniform 0-100, 6 decimals), `ts` (event time advancing `EVENT_RATE` events per second,
with up to 1 s of disorder), a `service` and three `tags`.

Rule sets keep the mix of BENCH.md at every size R — 50% `each` (1-3 leaves on type, value,
host), 20% nested all/any/not, 20% sliding `threshold` by host, 5% `sequence` by user, 5%
`absence` by host — and two totals constant across R, so that R measures the rule index rather
than more work per event:

- fires: every rule of a kind gets `ACTION_FRACTION × share / rules of the kind` of the events,
  so that ≈0.1% of events lead to an action (the bench prints the measured fraction);
- detection state: the stateful kinds read a fixed share of all events in total
  (`STATE_SHARE`), spread over their rules by restricting each rule to a set of hosts or users
  (a rule of a large set watches one host; the one threshold rule of R=10 watches all).

The selectivity constants below were derived for `EVENT_RATE` (a sliding count needs the event
rate per host) and checked by simulation; the measured fraction is reported on every run.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator
from typing import Any

TYPES = [
    "cpu", "mem", "disk", "login", "logout", "order_created", "payment_failed", "heartbeat", "net_in",
    "net_out", "io_wait", "gc_pause", "http_5xx", "http_4xx", "queue_depth", "cache_miss", "deploy",
    "cron", "temp", "fan",
]
HOSTS = [f"host-{i:04d}" for i in range(1000)]
USERS = [f"user-{i:05d}" for i in range(10_000)]
SERVICES = [f"{name}-{tier}" for name in ("checkout", "search", "billing", "auth", "catalog", "ledger",
                                          "gateway", "profile", "notify", "report") for tier in ("api", "worker")]
TAGS = [
    {"env": "prod", "dc": "eu-1", "team": "core"},
    {"env": "prod", "dc": "us-2", "team": "web"},
    {"env": "staging", "dc": "eu-1", "team": "data"},
    {"env": "prod", "dc": "ap-3", "team": "pay"},
]
P_TYPE = 1 / len(TYPES)
P_PROD = sum(t["env"] == "prod" for t in TAGS) / len(TAGS)
P_EU = sum(t["dc"] == "eu-1" for t in TAGS) / len(TAGS)
P_HOST_09 = 0.1  # host-09xx: a tenth of the hosts

EVENT_RATE = 5000
"""Events per second of event time: the offered load of the latency figure, and of preloads."""

ACTION_FRACTION = 0.00105
"""Target share of events that lead to an action (≈0.1%; absence rules add almost nothing)."""

SHARES = {"each": 0.5, "nested": 0.2, "threshold": 0.2, "sequence": 0.05, "absence": 0.05}
STATE_SHARE = {"threshold": 0.05, "sequence": 0.005, "absence": 0.005}
"""Share of all events that reach the detection state of each stateful kind, whatever R."""

THRESHOLD_FLOOR = 50.0
"""Threshold rules count events with `value > 50` (0.125/s per host: ≈7.5 in a 1-minute window)."""
COUNT_AT_LEAST = 13
AVG_ABOVE = 99.0
"""Simulated from empty windows: over 60 s (200 s) of event time, count >= 13 fires on 0.5%
(1.4%) of the events a rule counts and avg > 99 on 0.3% (0.08%, nearly only while windows are
young): ≈0.4% (0.75%) on average, the 0.4% the fire budget asks for."""
SEQUENCE_FAILED_ABOVE = 97.0
"""Simulated: login then payment_failed (value above this) within 5 min fires on ≈1-1.4% of the
events a sequence rule reads (fewer while no login has been seen yet)."""


def event_at(rng: random.Random, index: int, ts_ms: int, seed: int) -> dict[str, Any]:
    return {
        "id": f"e{seed}-{index}",
        "type": rng.choice(TYPES),
        "host": rng.choice(HOSTS),
        "user": rng.choice(USERS),
        "value": round(rng.random() * 100, 6),
        "ts": ts_ms,
        "service": rng.choice(SERVICES),
        "tags": rng.choice(TAGS),
    }


def events(count: int, start_ms: int, seed: int = 7) -> Iterator[dict[str, Any]]:
    """`count` events from `start_ms` at `EVENT_RATE` per second of event time, ≤1 s disorder."""
    rng = random.Random(seed)
    for i in range(count):
        ts = start_ms + (i * 1000) // EVENT_RATE - rng.randrange(1000)
        yield event_at(rng, i, ts, seed)


def kind_counts(total: int) -> dict[str, int]:
    """Rules per kind: the shares of BENCH.md, at least one of each kind (R=10: 4/2/2/1/1)."""
    counts = {kind: max(1, math.floor(total * share)) for kind, share in SHARES.items()}
    counts["each"] += total - sum(counts.values())
    return counts


def _hosts(rng: random.Random, k: int) -> dict[str, Any] | None:
    """A leaf restricting a rule to `k` hosts, None for all of them."""
    if k >= len(HOSTS):
        return None
    if k == 1:
        return {"field": "host", "op": "eq", "value": rng.choice(HOSTS)}
    return {"field": "host", "op": "in", "value": sorted(rng.sample(HOSTS, k))}


def _above(p_tail: float) -> float:
    """The bound `b` with P(value > b) = p_tail for value uniform in [0, 100)."""
    return round(100 * (1 - min(1.0, p_tail)), 6)


def _all(leaves: list[dict[str, Any]]) -> dict[str, Any]:
    return leaves[0] if len(leaves) == 1 else {"all": leaves}


Maker = Callable[[random.Random, float, float, dict[str, Any]], dict[str, Any]]
"""(rng, fire probability per event, share of events read into state, action) -> rule without name."""


def _each(rng: random.Random, p_fire: float, _state: float, action: dict[str, Any]) -> dict[str, Any]:
    """1-3 leaves: value > b (or < b), optionally host in (a few), optionally tags.env == prod."""
    leaves = rng.choice((1, 2, 2, 3))
    pass_rate = P_TYPE * (P_PROD if leaves == 3 else 1.0)
    k = 1000
    if leaves >= 2:  # as many hosts as leave the value bound around the 90th percentile
        k = max(1, min(64, round(p_fire / (pass_rate * 0.1) * len(HOSTS))))
        pass_rate *= k / len(HOSTS)
    tail = p_fire / pass_rate
    # A value leaf alone: half of them at the low end, so that fewer of the rules of one type
    # fire on the same extreme event (their bounds are nearly equal).
    low = leaves == 1 and rng.random() < 0.5
    where = [{"field": "value", "op": "lt", "value": round(100 * min(1.0, tail), 6)} if low
             else {"field": "value", "op": "gt", "value": _above(tail)}]
    if (hosts := _hosts(rng, k)) is not None:
        where.append(hosts)
    if leaves == 3:
        where.append({"field": "tags.env", "op": "eq", "value": "prod"})
    return {"match": {"type": rng.choice(TYPES)}, "where": _all(where), "action": action}


def _nested(rng: random.Random, p_fire: float, _state: float, action: dict[str, Any]) -> dict[str, Any]:
    """all[value > b, host in (a few), any[tags.dc == eu-1, not host startswith host-09]]."""
    p_any = 1 - (1 - P_EU) * P_HOST_09
    k = max(1, min(64, round(p_fire / (P_TYPE * p_any * 0.1) * len(HOSTS))))
    where: list[dict[str, Any]] = [
        {"field": "value", "op": "gt", "value": _above(p_fire / (P_TYPE * p_any * k / len(HOSTS)))},
        {"any": [{"field": "tags.dc", "op": "eq", "value": "eu-1"},
                 {"not": {"field": "host", "op": "startswith", "value": "host-09"}}]},
    ]
    if (hosts := _hosts(rng, k)) is not None:
        where.insert(1, hosts)
    return {"match": {"type": rng.choice(TYPES)}, "where": {"all": where}, "action": action}


def _threshold(rng: random.Random, _p: float, state: float, action: dict[str, Any]) -> dict[str, Any]:
    """Count >= 13 or avg(value) > 99 over a 1-minute sliding window, by host."""
    k = max(1, min(len(HOSTS), round(state / (P_TYPE * (1 - THRESHOLD_FLOOR / 100)) * len(HOSTS))))
    where = [{"field": "value", "op": "gt", "value": THRESHOLD_FLOOR}]
    if (hosts := _hosts(rng, k)) is not None:
        where.append(hosts)
    if rng.random() < 0.5:
        aggregate, having = {"fn": "count"}, {"op": "gte", "value": COUNT_AT_LEAST}
    else:
        aggregate, having = {"fn": "avg", "field": "value"}, {"op": "gt", "value": AVG_ABOVE}
    return {"match": {"type": rng.choice(TYPES)}, "where": _all(where), "group_by": ["host"],
            "detect": {"kind": "threshold", "window": {"type": "sliding", "size": "1m"},
                       "aggregate": aggregate, "having": having},
            "action": action}


def _sequence(rng: random.Random, _p: float, state: float, action: dict[str, Any]) -> dict[str, Any]:
    """Login then payment_failed (value above 97) by user within 5 minutes, for some users."""
    k = max(1, min(len(USERS), round(state / (2 * P_TYPE) * len(USERS))))
    users = rng.sample(USERS, k)
    where = ({"field": "user", "op": "eq", "value": users[0]} if k == 1
             else {"field": "user", "op": "in", "value": sorted(users)})
    return {"match": {"type": ["login", "payment_failed"]}, "where": where, "group_by": ["user"],
            "detect": {"kind": "sequence", "within": "5m", "steps": [
                {"name": "login", "where": {"field": "type", "op": "eq", "value": "login"}},
                {"name": "failed", "where": {"all": [
                    {"field": "type", "op": "eq", "value": "payment_failed"},
                    {"field": "value", "op": "gt", "value": SEQUENCE_FAILED_ABOVE}]}}]},
            "action": action}


def _absence(rng: random.Random, _p: float, state: float, action: dict[str, Any]) -> dict[str, Any]:
    """No heartbeat from a host for 30 s (a host beats every 4 s on average: fires are rare)."""
    k = max(1, min(len(HOSTS), round(state / P_TYPE * len(HOSTS))))
    rule: dict[str, Any] = {"match": {"type": "heartbeat"}, "group_by": ["host"],
                            "detect": {"kind": "absence", "for": "30s"}, "action": action}
    if (hosts := _hosts(rng, k)) is not None:
        rule["where"] = hosts
    return rule


MAKERS: dict[str, Maker] = {
    "each": _each, "nested": _nested, "threshold": _threshold, "sequence": _sequence, "absence": _absence,
}


def fire_action(endpoint: str, kind: str) -> dict[str, Any]:
    """The webhook of every mix rule: the receiver counts events that led to an action, by kind;
    `sent` is the produce time that the events of the latency figure carry (empty otherwise); `at`
    the fire's event time (the baseline is compared on the fires within the input's time span).
    """
    return {"endpoint": endpoint, "body": {"id": "{{ event.id }}", "kind": kind, "sent": "{{ event.sent }}",
                                           "at": "{{ match.fired_at }}"},
            "timeout": "5s",
            "retry": {"max_attempts": 1}}


def rules(count: int, endpoint: str, seed: int = 11, prefix: str = "mix") -> list[dict[str, Any]]:
    """`count` rule documents with the BENCH.md mix, interleaved by kind, seeded."""
    rng = random.Random(seed + count)
    counts = kind_counts(count)
    out: list[dict[str, Any]] = []
    for kind, n in counts.items():
        p_fire = ACTION_FRACTION * SHARES[kind] / n
        state = STATE_SHARE.get(kind, 0.0) / n
        out += [MAKERS[kind](rng, p_fire, state, fire_action(endpoint, kind)) for _ in range(n)]
    rng.shuffle(out)
    return [{"name": f"{prefix}-{count}-{i}", **rule} for i, rule in enumerate(out)]
