"""Every key cepflow derives from an execution, each made by one function here.

Keys are part of the guarantees: the same inputs give the same key across processes, restarts and
replays (no `hash()`, no randomness), so a replayed execution finds its log row, a re-sent webhook
carries the same `webhook-id`, and two callers of the same (rule, group) meet at the same lock.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

_JSON_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS


def group_key(group: dict[str, Any]) -> str:
    """Canonical text of a group: JSON with sorted keys (state keys, lock keys, the log's group)."""
    return orjson.dumps(group, option=_JSON_OPTIONS, default=str).decode()


def idempotency_key(rule_id: str, version: int, group: dict[str, Any], start: int | None, event_id: str) -> str:
    """Stable hex digest of (rule id, rule version, group, window/sequence start, triggering event id):
    the execution's unique key in `exec_logs`.
    """
    payload = orjson.dumps([rule_id, version, group, start, event_id], option=_JSON_OPTIONS, default=str)
    return hashlib.blake2b(payload, digest_size=16).hexdigest()


def lock_key(rule_id: str, group: dict[str, Any]) -> str:
    """Advisory-lock key of one (rule, group): one execution of it at a time (RULES.md §7)."""
    return f"{rule_id}:{group_key(group)}"


def action_id(idempotency_key: str, index: int, count: int) -> str:
    """Id of action `index` of `count` of an execution: the `webhook-id`, the chain event's id and
    the dead letter's key — stable across retries and replays.
    """
    return idempotency_key if count == 1 else f"{idempotency_key}.{index}"
