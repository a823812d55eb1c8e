"""Turn pydantic validation errors into problems a rule author can act on.

pydantic reports locations in model terms (`actions.0.webhook.endpoint`, with the discriminator
tag inside); authors wrote `action.endpoint`. This module maps one to the other, finds the line
of the offending field when the YAML node tree is known, and formats one line per problem:
`rules/cpu.yaml: document 2 (line 14): detect.having.op: Input should be ... (got 'gt ')`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml
from pydantic import ValidationError

from rules.model import ACTION_TYPES, DETECT_KINDS


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a rule or script API file, located as precisely as known."""

    source: str
    message: str
    field: str = ""
    document: int | None = None
    line: int | None = None
    rule: str | None = None

    @property
    def location(self) -> str:
        """`file: document N (line L)`, with the parts that are known."""
        where = self.source
        if self.document is not None:
            where += f": document {self.document}"
            if self.line is not None:
                where += f" (line {self.line})"
        elif self.line is not None:
            where += f": line {self.line}"
        return where

    def __str__(self) -> str:
        return f"{self.location}: {self.field}: {self.message}" if self.field else f"{self.location}: {self.message}"


class RuleFileError(ValueError):
    """Invalid rule or script API files; `str()` has one line per problem."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(problem) for problem in self.problems))


# Where pydantic inserts a discriminator tag into a location, and which state follows it.
_UNION_TAGS: dict[str, dict[str, str]] = {
    "condition": {"leaf": "plain", "all": "all", "any": "any", "not": "not"},
    "detect": {kind: ("sequence" if kind == "sequence" else "plain") for kind in DETECT_KINDS},
    "action": {kind: "plain" for kind in ACTION_TYPES},
}

# The state of a child location, by (state, key); int stands for any list index.
_CHILD_STATE: dict[tuple[str, Any], str] = {
    ("rule", "where"): "condition",
    ("rule", "detect"): "detect",
    ("rule", "actions"): "actions",
    ("actions", int): "action",
    ("all", "all"): "conditions",
    ("any", "any"): "conditions",
    ("conditions", int): "condition",
    ("not", "not"): "condition",
    ("sequence", "steps"): "steps",
    ("steps", int): "step",
    ("step", "where"): "condition",
}


def user_path(loc: tuple[Any, ...], document: Any) -> list[str | int]:
    """The location as the author wrote it: tags dropped, `action`/`conditions` forms restored."""
    out: list[str | int] = []
    state, data, parts = "rule", document, list(loc)
    while parts:
        segment = parts.pop(0)
        tags = _UNION_TAGS.get(state, {})
        if isinstance(segment, str) and segment in tags:
            state = tags[segment]
            continue
        if state == "rule" and segment == "actions" and _has(data, "action") and not _has(data, "actions"):
            out.append("action")
            if parts and isinstance(parts[0], int):
                parts.pop(0)
            state, data = "action", data["action"]
            continue
        written = segment
        if state in ("all", "any") and segment == state and _has(data, "conditions") and not _has(data, state):
            written = "conditions"  # the seed form {logic, conditions} was normalised to all/any
        out.append(written)
        state = _CHILD_STATE.get((state, int if isinstance(segment, int) else segment), "plain")
        data = _child(data, written)
    return out


def _has(data: Any, key: str) -> bool:
    return isinstance(data, dict) and key in data


def _child(data: Any, segment: str | int) -> Any:
    if isinstance(data, dict):
        return data.get(segment)
    if isinstance(data, list) and isinstance(segment, int) and 0 <= segment < len(data):
        return data[segment]
    return None


def dotted(path: list[str | int]) -> str:
    """A pydantic location as a field path: `actions.0.endpoint`."""
    return ".".join(str(segment) for segment in path)


def node_line(node: yaml.Node | None, path: list[str | int]) -> int | None:
    """1-based line of the deepest node of `path` found in a YAML node tree (the key's line)."""
    if node is None:
        return None
    line = node.start_mark.line + 1
    for segment in path:
        if isinstance(node, yaml.MappingNode):
            found = next(
                ((key, value) for key, value in node.value if isinstance(key, yaml.ScalarNode) and key.value == str(segment)),
                None,
            )
            if found is None:
                return line
            line, node = found[0].start_mark.line + 1, found[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(segment, int) and 0 <= segment < len(node.value):
            node = node.value[segment]
            line = node.start_mark.line + 1
        else:
            return line
    return line


_SCALARS = (str, int, float, bool, type(None))


def error_message(error: Any) -> str:
    """Pydantic's message, reworded where it is vague, with the offending value appended."""
    kind, message, given = error["type"], error["msg"], error.get("input")
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "missing":
        return "required field is missing"
    if kind in ("detect_kind", "action_type") and isinstance(given, dict):
        key = "kind" if kind == "detect_kind" else "type"
        return f"{message} (got {key}: {given.get(key)!r})" if key in given else message
    if isinstance(given, _SCALARS) and kind != "rule" and "(got" not in message:
        return f"{message} (got {given!r})"
    return message


def validation_problems(
    exc: ValidationError,
    document: Any,
    source: str,
    *,
    index: int | None = None,
    node: yaml.Node | None = None,
) -> list[Problem]:
    """One `Problem` per pydantic error, with the author's field path and, given `node`, its line."""
    rule = document.get("name") if isinstance(document, dict) else None
    problems = []
    for error in exc.errors(include_url=False):
        path = user_path(tuple(error["loc"]), document)
        problems.append(
            Problem(
                source=source,
                message=error_message(error),
                field=dotted(path),
                document=index,
                line=node_line(node, path),
                rule=rule if isinstance(rule, str) else None,
            )
        )
    return problems
