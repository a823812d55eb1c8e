"""Authenticity of what cepflow writes to its own topics: an HMAC with the deployment's key.

cepflow reads back two internal topics — chain events and action dead letters — and acts on
them (a rule fires, `cepflow actions redrive` sends). Anyone who can produce to Kafka could
otherwise make the engine act for them. Each record is sealed with
`HMAC-SHA256(key, purpose + "\\n" + canonical JSON of the record)` in a `mac` field:

- canonical JSON is orjson with sorted keys, so the MAC does not depend on key order or spacing;
- `purpose` (`chain`, `action-dead-letter`) separates the topics: a record sealed for one is not
  valid on the other;
- comparison is constant-time (`hmac.compare_digest`).

The key is `CEPFLOW_INTERNAL_KEY` (docs/security-internal.md): every process of one deployment
(engine workers, the CLI) must share it. Sealing proves who wrote a record, not that it was
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

    __slots__ = ("_key",)

    def __init__(self, key: bytes) -> None:
        if len(key) < MIN_KEY_BYTES:
            message = f"internal key too short: {len(key)} bytes < {MIN_KEY_BYTES}"
            raise ValueError(message)
        self._key = key

    def _mac(self, purpose: str, record: dict[str, Any]) -> str:
        content = purpose.encode() + b"\n" + orjson.dumps(record, option=orjson.OPT_SORT_KEYS)
        return f"{MAC_VERSION}:{hmac.new(self._key, content, hashlib.sha256).hexdigest()}"

    def seal(self, purpose: str, record: dict[str, Any]) -> bytes:
        """`record` as JSON with its `mac` (values that are not JSON become strings first)."""
        plain = orjson.loads(orjson.dumps(record, default=str))
        plain.pop(MAC_FIELD, None)
        return orjson.dumps({**plain, MAC_FIELD: self._mac(purpose, plain)})

    def open(self, purpose: str, body: dict[str, Any]) -> dict[str, Any] | str:
        """The record without its `mac` when the MAC is valid for `purpose`, else the reason."""
        given = body.get(MAC_FIELD)
        if not isinstance(given, str):
            return "no MAC"
        record = {key: value for key, value in body.items() if key != MAC_FIELD}
        try:
            expected = self._mac(purpose, record)
        except (TypeError, orjson.JSONEncodeError):
            return "record cannot be canonicalised"
        if not hmac.compare_digest(expected.encode(), given.encode()):
            return "MAC does not match (not written by this deployment, altered, or another key)"
        return record
