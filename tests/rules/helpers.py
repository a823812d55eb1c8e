"""Shared helpers of the rule-language tests: build a rule around a fragment, collect problems."""

from __future__ import annotations

from typing import Any

import pytest

from rules.errors import RuleFileError
from rules.loader import parse_rule_document
from rules.model import RuleSpec


def rule(**fields: Any) -> dict[str, Any]:
    """A minimal valid rule document with `fields` merged in."""
    return {"name": "r1", **fields}


def parse(doc: dict[str, Any]) -> RuleSpec:
    return parse_rule_document(doc, "test")


def problems(doc: dict[str, Any]) -> list[tuple[str, str]]:
    """`(field path, message)` of every problem of an invalid document."""
    with pytest.raises(RuleFileError) as caught:
        parse_rule_document(doc, "test")
    return [(p.field, p.message) for p in caught.value.problems]


def assert_problem(doc: dict[str, Any], field: str, message: str) -> None:
    """The document is rejected with a problem at `field` whose message contains `message`."""
    found = problems(doc)
    assert any(path == field and message in text for path, text in found), found
