"""Every template string of a rule's actions compiled when the rule is loaded, not when it fires.

`cepflow rules apply`, `rules check` and the offline runner all load rules through the loader,
so a syntax error or a construct the sandbox refuses (`actions/templates.py`) is reported there
with its file, line and field path — before a broken template can reach the engine.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import yaml

from rules.errors import Problem, node_line
from rules.model import RuleSpec
from rules.templates import TEMPLATED_FIELDS, check_template

Path = list[str | int]


def _strings(value: Any, path: Path) -> Iterator[tuple[Path, str]]:
    """Every string inside `value` with its path; dict keys are never templates."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, [*path, key])
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _strings(item, [*path, index])


def template_problems(
    spec: RuleSpec, source: str, document: int | None = None, node: yaml.Node | None = None, line: int | None = None
) -> list[Problem]:
    """One problem per template string of `spec.actions` that would not compile."""
    problems = []
    for index, action in enumerate(spec.actions):
        fields = action.model_dump(by_alias=True)
        for name in TEMPLATED_FIELDS:
            for path, text in _strings(fields.get(name), ["actions", index, name]):
                reason = check_template(text)
                if reason is not None:
                    field = ".".join(map(str, path))
                    where = node_line(node, path) or line
                    problems.append(Problem(source, f"template: {reason}", field, document, where, spec.name))
    return problems
