"""The chain event on the wire: written sealed by `trigger_rule`, read back checked field by field.

A chain event makes a rule fire, so the router trusts none of it: the MAC must be this
deployment's (`dataflow/sealing.py`), and every field must be what `plan_chain` can produce —
exactly the known keys, ids of bounded length, `1 <= depth <= max_depth`, a path of `depth`
distinct rule ids without the target, an event time in the range the event parser accepts
(`|ts| < 1e15` ms) and an object payload (its size and nesting are bounded like any event's).
Whether the ids name stored rules is checked by the router against the current rule set
(`unknown_rules`). Anything else is dead-lettered with the reason, never fired.
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass
from typing import Any

from dataflow.sealing import Sealer
from dataflow.types import ChainInfo

PURPOSE = "chain"
ENVELOPE_KEYS = frozenset({"id", "ts", "target_rule_id", "chain", "payload"})
CHAIN_KEYS = frozenset({"id", "depth", "path"})
MAX_ID_CHARS = 512  # event and chain ids: idempotency keys, `<key>.<action index>`
MAX_RULE_ID_CHARS = 64  # rule ids are UUIDs (36 characters)
MAX_ABS_TS_MS = 10**15  # as `dataflow.eventtime.parse_event_time`


@dataclass(frozen=True, slots=True)
class ChainEnvelope:
    """A chain event that passed every check."""

    id: str
    ts_ms: int
    target_rule_id: str
    chain: ChainInfo
    payload: dict[str, Any]


class InvalidChainEvent(ValueError):
    """A field of a chain event is not what the engine writes; the message names the field."""


def seal_chain_event(
    sealer: Sealer, *, event_id: str, ts_ms: int, target_rule_id: str, chain: ChainInfo, payload: dict[str, Any]
) -> bytes:
    """The value written to the chain topic by a `trigger_rule` action."""
    record = {
        "id": event_id,
        "ts": ts_ms,
        "target_rule_id": target_rule_id,
        "chain": {"id": chain.id, "depth": chain.depth, "path": list(chain.path)},
        "payload": payload,
    }
    return sealer.seal(PURPOSE, record)


def _text(value: Any, field: str, limit: int) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= limit:
        msg = f"{field} must be a string of 1 to {limit} characters"
        raise InvalidChainEvent(msg)
    return value


def _integer(value: Any, field: str, low: int, high: int) -> int:
    if type(value) is not int or not low <= value <= high:
        raise InvalidChainEvent(f"{field} must be an integer from {low} to {high} (got {value!r})"[:200])
    return value


def _keys(value: Any, field: str, expected: frozenset[str]) -> dict[str, Any]:
    if not isinstance(value, dict) or value.keys() != expected:
        got = sorted(value) if isinstance(value, dict) else type(value).__name__
        raise InvalidChainEvent(f"{field} must have exactly the keys {sorted(expected)} (got {got})"[:300])
    return value


def _envelope(record: dict[str, Any], max_depth: int) -> ChainEnvelope:
    _keys(record, "the event", ENVELOPE_KEYS)
    chain = _keys(record["chain"], "chain", CHAIN_KEYS)
    depth = _integer(chain["depth"], "chain.depth", 1, max_depth)
    path = chain["path"]
    if not isinstance(path, list) or len(path) != depth:
        msg = f"chain.path must be a list of chain.depth ({depth}) rule ids"
        raise InvalidChainEvent(msg)
    ids = tuple(_text(item, f"chain.path.{index}", MAX_RULE_ID_CHARS) for index, item in enumerate(path))
    if len(set(ids)) != len(ids):
        msg = "chain.path repeats a rule (a cycle)"
        raise InvalidChainEvent(msg)
    target = _text(record["target_rule_id"], "target_rule_id", MAX_RULE_ID_CHARS)
    if target in ids:
        msg = "target_rule_id is already on chain.path (a cycle)"
        raise InvalidChainEvent(msg)
    if not isinstance(record["payload"], dict):
        msg = "payload must be an object"
        raise InvalidChainEvent(msg)
    return ChainEnvelope(
        id=_text(record["id"], "id", MAX_ID_CHARS),
        ts_ms=_integer(record["ts"], "ts", 1 - MAX_ABS_TS_MS, MAX_ABS_TS_MS - 1),
        target_rule_id=target,
        chain=ChainInfo(_text(chain["id"], "chain.id", MAX_ID_CHARS), depth, ids),
        payload=record["payload"],
    )


def open_chain_event(sealer: Sealer, body: dict[str, Any], max_depth: int) -> ChainEnvelope | str:
    """The checked envelope, or the dead-letter reason (`forged chain event: ...` /
    `invalid chain event: ...`).
    """
    record = sealer.open(PURPOSE, body)
    if isinstance(record, str):
        return f"forged chain event: {record}"
    try:
        return _envelope(record, max_depth)
    except InvalidChainEvent as exc:
        return f"invalid chain event: {exc}"


def unknown_rules(chain: ChainInfo, target_rule_id: str, known: Container[str]) -> str | None:
    """The dead-letter reason when the target or a rule of the path is not a stored rule id."""
    for rule_id in (*chain.path, target_rule_id):
        if rule_id not in known:
            return f"invalid chain event: unknown rule id {rule_id[:MAX_RULE_ID_CHARS]!r}"
    return None
