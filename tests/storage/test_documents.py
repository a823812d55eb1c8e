"""Pure helpers of the versioned repositories (no database needed)."""

from __future__ import annotations

import uuid

import pytest

from storage.errors import InvalidSpec, NotFound
from storage.repositories._documents import (
    changes,
    duration_ms,
    given_id,
    parse_uuid,
    read_document,
)


def test_changes_lists_added_removed_and_changed_fields_in_order() -> None:
    old = {"name": "r", "cooldown": "5m", "owner": "ops", "note": None}
    new = {"name": "r", "cooldown": "10m", "where": {"field": "x"}}
    assert changes(old, new) == [
        {"field": "cooldown", "old": "5m", "new": "10m"},
        {"field": "note", "old": None, "new": None},
        {"field": "owner", "old": "ops", "new": None},
        {"field": "where", "old": None, "new": {"field": "x"}},
    ]
    assert changes(new, dict(new)) == []


@pytest.mark.parametrize(
    ("value", "ms"),
    [
        ("500ms", 500),
        ("30s", 30_000),
        ("5m", 300_000),
        ("2h", 7_200_000),
        ("1d", 86_400_000),
        (250, 250),
    ],
)
def test_duration_ms(value: object, ms: int) -> None:
    assert duration_ms(value) == ms


@pytest.mark.parametrize("value", ["5 s", "1w", "", "-1s", True, -5, 1.5])
def test_duration_ms_refuses_other_forms(value: object) -> None:
    with pytest.raises(InvalidSpec, match="duration"):
        duration_ms(value)


def test_read_document_copies_to_plain_json() -> None:
    spec = {"name": "r", "group_by": ("host",)}
    document = read_document(spec, "rule")
    assert document == {"name": "r", "group_by": ["host"]} and document is not spec
    with pytest.raises(InvalidSpec, match="not plain JSON"):
        read_document({"name": "r", "at": object()}, "rule")
    with pytest.raises(InvalidSpec, match="non-empty string `name`"):
        read_document({"name": "  "}, "rule")


def test_ids_and_refs() -> None:
    ident = uuid.uuid4()
    assert parse_uuid(str(ident)) == ident and parse_uuid(ident) == ident
    assert parse_uuid("web-cpu-hot") is None
    assert given_id({"id": str(ident)}, "rule") == ident and given_id({}, "rule") is None


def test_not_found_says_what_to_do() -> None:
    assert str(NotFound("rule", "x")) == (
        "rule 'x' not found: check the name or id against the list of what is stored"
    )
