r"""Authenticity of what cepflow writes to its own topics: an HMAC with the deployment's key.

cepflow reads back two internal topics — chain events and action dead letters — and acts on
them (a rule fires, `cepflow actions redrive` sends). Anyone who can produce to Kafka could
otherwise make the engine act for them. Each record is sealed with
`HMAC-SHA256(key, purpose + "\\n" + canonical JSON of the record)` in a `mac` field:

- canonical JSON is orjson with sorted keys, so the MAC does not depend on key order or spacing;
- `purpose` (`chain`, `action-dead-letter`) separates the topics: a record sealed for one is not
  valid on the other;
- comparison is constant-time (`hmac.compare_digest`).

The key is `CEPFLOW_INTERNAL_KEY` (docs/SECURITY.md): every process of one deployment
(engine workers, the CLI) must share it. `CEPFLOW_INTERNAL_KEY_PREVIOUS` is accepted on the way
in, never used to seal: a rotation does not refuse the records in flight. Sealing proves who wrote a record, not that it was
written once: replays are harmless because executions are deduplicated by their idempotency key.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import orjson

MAC_FIELD = "mac"
MAC_VERSION = "v1"
MIN_KEY_BYTES = 32


class Sealer:
    """Seals and opens records of one deployment (one key)."""

    __slots__ = ("_key", "_keys")

    def __init__(self, key: bytes, previous: tuple[bytes, ...] = ()) -> None:
        """`key` seals and opens; `previous` keys only open (a rotation: records sealed before it)."""
        for candidate in (key, *previous):
            if len(candidate) < MIN_KEY_BYTES:
                message = f"internal key too short: {len(candidate)} bytes < {MIN_KEY_BYTES}"
                raise ValueError(message)
        self._key = key
        self._keys = (key, *previous)

    @staticmethod
    def _mac(key: bytes, purpose: str, record: dict[str, Any]) -> str:
        content = purpose.encode() + b"\n" + orjson.dumps(record, option=orjson.OPT_SORT_KEYS)
        return f"{MAC_VERSION}:{hmac.new(key, content, hashlib.sha256).hexdigest()}"

    def seal(self, purpose: str, record: dict[str, Any]) -> bytes:
        """`record` as JSON with its `mac` (values that are not JSON become strings first)."""
        plain = orjson.loads(orjson.dumps(record, default=str))
        plain.pop(MAC_FIELD, None)
        return orjson.dumps({**plain, MAC_FIELD: self._mac(self._key, purpose, plain)})

    def open(self, purpose: str, body: dict[str, Any]) -> dict[str, Any] | str:
        """The record without its `mac` when the MAC is valid for `purpose` under one of the keys,
        else the reason.
        """
        given = body.get(MAC_FIELD)
        if not isinstance(given, str):
            return "no MAC"
        record = {name: value for name, value in body.items() if name != MAC_FIELD}
        try:
            expected = [self._mac(key, purpose, record).encode() for key in self._keys]
        except (TypeError, orjson.JSONEncodeError):
            return "record cannot be canonicalised"
        if not any(hmac.compare_digest(mac, given.encode()) for mac in expected):
            return "MAC does not match (not written by this deployment, altered, or another key)"
        return record
