"""`storage.storable`: what PostgreSQL refuses is escaped, reversibly, and the paths are named."""

from __future__ import annotations

import math

import orjson
import psycopg
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.exc import DataError, OperationalError

from storage.errors import is_outage
from storage.storable import (
    MAX_KEY_BYTES,
    REFUSED,
    escape,
    json_bytes,
    storable_json,
    storable_key,
    storable_text,
    unescape,
)


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


def test_a_key_too_long_for_an_index_is_shortened_the_same_way_every_time() -> None:
    escaped: list[str] = []
    long_key = "k" * 5000
    first = storable_key(long_key, "idempotency_key", escaped)
    assert len(first.encode()) <= MAX_KEY_BYTES and first == storable_key(long_key, "idempotency_key", [])
    assert first != storable_key("k" * 4999 + "j", "idempotency_key", [])
    assert escaped == ["idempotency_key"]
    assert storable_key("short", "idempotency_key", escaped) == "short"


def test_only_errors_that_waiting_cures_are_outages() -> None:
    def wrapped(orig: Exception) -> Exception:
        return OperationalError("INSERT ...", {}, orig)

    assert is_outage(wrapped(psycopg.errors.AdminShutdown()))
    assert is_outage(wrapped(psycopg.OperationalError("connection refused")))  # no SQLSTATE: never reached
    assert is_outage(wrapped(psycopg.errors.DeadlockDetected()))
    assert not is_outage(wrapped(psycopg.errors.ProgramLimitExceeded()))  # index row too large
    assert not is_outage(DataError("INSERT ...", {}, psycopg.errors.UntranslatableCharacter()))
    assert not is_outage(ValueError("bad"))
