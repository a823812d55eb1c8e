"""`storage.storable`: what PostgreSQL refuses is escaped, reversibly, and the paths are named."""

from __future__ import annotations

import math

import orjson
from hypothesis import given
from hypothesis import strategies as st

from storage.storable import REFUSED, escape, json_bytes, storable_json, storable_text, unescape


def test_nul_and_lone_surrogates_are_escaped_and_named() -> None:
    escaped: list[str] = []
    value = {"id": "a\x00b", "n": 1, "ok": "fine", "deep": [{"s": "x\ud800"}], "k\x00": True, "f": math.nan}
    out = storable_json(value, "references", escaped)
    assert out == {"id": "a\\u0000b", "n": 1, "ok": "fine", "deep": [{"s": "x\\ud800"}], "k\\u0000": True,
                   "f": "nan"}
    assert escaped == ["references.id", "references.deep.0.s", "references.k\\u0000", "references.f"]
    assert unescape(out["id"]) == "a\x00b"
    assert unescape(out["deep"][0]["s"]) == "x\ud800"


def test_storable_values_are_left_alone() -> None:
    escaped: list[str] = []
    assert storable_text("héllo \\u0000 \"q\"", "t", escaped) == "héllo \\u0000 \"q\""
    assert escaped == []


@given(st.text())
def test_escape_is_reversible_and_storable(text: str) -> None:
    assert unescape(escape(text)) == text
    assert REFUSED.search(escape(text)) is None


def test_json_bytes_survives_lone_surrogates() -> None:
    assert orjson.loads(json_bytes({"a": 1})) == {"a": 1}
    assert b"\\ud800" in json_bytes({"a": "x\ud800"})
