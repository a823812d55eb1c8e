r"""Values PostgreSQL will store: what it refuses is escaped, reversibly, before it is sent.

PostgreSQL refuses a NUL character in `text` and in `jsonb` (`\\u0000`), a lone UTF-16 surrogate
anywhere (it is not UTF-8), and NaN or infinities in `jsonb`. One such value in an event id, a
group value, a webhook answer or a script's output used to fail the row insert, the batch and the
epoch — and the replay failed the same way, forever (issue 12).

Every refused string is replaced by its JSON escape without the quotes (`a\\x00b` -> `a\\u0000b`,
ASCII only), which `unescape` reverses exactly; a refused number becomes its name (`"NaN"`). The
paths of the values changed (`group_key.host`, `references.actions.0.response`) are returned, so
the row can say which of its values are escaped. Dict keys are treated like values.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping
from typing import Any

import orjson

REFUSED = re.compile("[\x00\ud800-\udfff]")
"""What PostgreSQL's UTF-8 text and jsonb refuse: NUL and UTF-16 surrogates (lone by nature in a
Python str)."""


def escape(text: str) -> str:
    """`text` as a JSON string body, ASCII only: storable, and `unescape` gives `text` back."""
    return json.dumps(text, ensure_ascii=True)[1:-1]


def unescape(text: str) -> str:
    """The original of an `escape`d string."""
    return str(json.loads(f'"{text}"'))


def storable_text(text: str, path: str, escaped: list[str]) -> str:
    """`text`, escaped when PostgreSQL would refuse it (`path` is then added to `escaped`)."""
    if REFUSED.search(text) is None:
        return text
    escaped.append(path)
    return escape(text)


MAX_KEY_BYTES = 1000
"""Longest indexed text kept whole: a btree entry cannot exceed about 2.7 kB, and a longer key
would fail every insert of its row (an event id of 3,000 characters makes such a key)."""


def storable_key(text: str, path: str, escaped: list[str]) -> str:
    """An indexed text (idempotency key, chain id): `storable_text`, and when still longer than
    `MAX_KEY_BYTES` its start plus a SHA-256 of the whole — the same text always gives the same
    key, so deduplication still holds. The original stays in the row's references.
    """
    text = storable_text(text, path, escaped)
    if len(text.encode()) <= MAX_KEY_BYTES:
        return text
    if path not in escaped:
        escaped.append(path)
    return f"{text[:200]}...sha256:{hashlib.sha256(text.encode()).hexdigest()}"


def storable_json(value: Any, path: str, escaped: list[str]) -> Any:
    """A copy of `value` that `jsonb` accepts: refused strings escaped, non-finite numbers named,
    anything that is not JSON turned into its `str`. Changed paths are added to `escaped`.
    """
    if isinstance(value, str):
        return storable_text(value, path, escaped)
    if isinstance(value, bool) or value is None or isinstance(value, int):
        return value
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        escaped.append(path)
        return str(value)
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            name = str(key)
            if REFUSED.search(name) is not None:
                name = escape(name)
                escaped.append(f"{path}.{name}")
            out[name] = storable_json(item, f"{path}.{name}", escaped)
        return out
    if isinstance(value, list | tuple):
        return [storable_json(item, f"{path}.{i}", escaped) for i, item in enumerate(value)]
    return storable_text(str(value), path, escaped)


def json_bytes(value: Any) -> bytes:
    r"""`value` as JSON bytes for Kafka, whatever strings it holds (orjson refuses lone surrogates;
    the fallback writes them as `\\udXXX` escapes, which JSON readers accept).
    """
    try:
        return orjson.dumps(value, default=str)
    except orjson.JSONEncodeError:
        return json.dumps(value, default=str, ensure_ascii=True).encode()
