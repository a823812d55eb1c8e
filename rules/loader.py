"""Read rule and script API files (YAML, multi-document, or JSON) into validated specs.

This is the only module of the rule language that touches files. Every problem of every file is
collected before raising, so one `cepflow rules check` run shows them all, each with its file,
document number, line and field path.

YAML choices: dates stay strings (no implicit timestamps, so `value: 2024-01-01` compares as text)
and a key repeated in one mapping is an error instead of silently keeping the last one.

Bounds: a file larger than `MAX_FILE_BYTES` is refused unread, and a file whose nodes, counted
with every alias expanded, pass `MAX_YAML_NODES` is refused while it is composed — a 569-byte
"billion laughs" alias bomb used to hang `rules check` in the walks that follow. Every template
string of a rule's actions is compiled at load time (`template_check.py`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Generic, TypeVar

import yaml
from pydantic import ValidationError

from rules.errors import Problem, RuleFileError, node_line, validation_problems
from rules.model import RuleSpec, ScriptApiSpec
from rules.template_check import template_problems

RULE_FILE_SUFFIXES = (".yaml", ".yml", ".json")
MAX_FILE_BYTES = 10_000_000
MAX_YAML_NODES = 200_000

SpecT = TypeVar("SpecT", RuleSpec, ScriptApiSpec)


@dataclass(frozen=True)  # no slots: `Loaded[RuleSpec](...)` sets `__orig_class__` on the instance
class Loaded(Generic[SpecT]):
    """A validated document and where it came from: file, 1-based document number, first line."""

    spec: SpecT
    path: str
    document: int
    line: int

    @property
    def location(self) -> str:
        return f"{self.path}: document {self.document} (line {self.line})"


LoadedRule = Loaded[RuleSpec]
LoadedScriptApi = Loaded[ScriptApiSpec]


class _RuleYamlLoader(yaml.SafeLoader):
    """SafeLoader without implicit timestamps, with duplicate-key detection, and with the nodes of
    the file counted as if every alias were expanded (refused past `MAX_YAML_NODES`).
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.expanded_nodes = 0
        self._sizes: dict[int, int] = {}  # id(node) -> its expanded size, for the anchors of a document

    def compose_document(self) -> yaml.Node | None:
        self._sizes.clear()
        return super().compose_document()

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark
            node = super().compose_node(parent, index)
            size = self._sizes.get(id(node))
            if size is None:  # an alias of an ancestor: the document would be infinite
                raise yaml.composer.ComposerError(None, None, "recursive alias", mark)
            self._count(size, mark)
            return node
        before = self.expanded_nodes
        node = super().compose_node(parent, index)
        assert node is not None  # composing at a node event always yields one
        self._count(1, node.start_mark)
        self._sizes[id(node)] = self.expanded_nodes - before
        return node

    def _count(self, nodes: int, mark: yaml.Mark) -> None:
        self.expanded_nodes += nodes
        if self.expanded_nodes > MAX_YAML_NODES:
            message = f"more than {MAX_YAML_NODES} nodes with aliases expanded (an alias bomb?)"
            raise yaml.composer.ComposerError(None, None, message, mark)

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[str] = set()
        for key_node, _ in node.value:  # before merging: a key may override one merged with `<<`
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                if key_node.value in seen:
                    msg = "while constructing a mapping"
                    raise yaml.constructor.ConstructorError(
                        msg, node.start_mark,
                        f"found duplicate key {key_node.value!r}", key_node.start_mark,
                    )
                seen.add(key_node.value)
        return super().construct_mapping(node, deep=deep)


_RuleYamlLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


@dataclass(frozen=True, slots=True)
class _Document:
    data: Any
    number: int
    line: int
    node: yaml.Node | None


def _yaml_documents(text: str) -> Iterator[_Document]:
    loader = _RuleYamlLoader(text)
    try:
        number = 0
        while loader.check_node():
            node = loader.get_node()  # check_node() said there is one
            assert node is not None
            number += 1
            data = loader.construct_document(node)
            if data is not None:
                yield _Document(data, number, node.start_mark.line + 1, node)
    finally:
        loader.dispose()


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            msg = f"found duplicate key {key!r}"
            raise ValueError(msg)
        result[key] = value
    return result


def _json_documents(text: str) -> list[_Document]:
    """A JSON file holds one rule object or a list of them; YAML nodes give lines when they can."""
    data = json.loads(text, object_pairs_hook=_no_duplicate_keys)
    try:
        root: yaml.Node | None = yaml.compose(text, Loader=_RuleYamlLoader)
    except yaml.YAMLError:
        root = None
    if not isinstance(data, list):
        return [_Document(data, 1, node_line(root, []) or 1, root)]
    nodes = root.value if isinstance(root, yaml.SequenceNode) and len(root.value) == len(data) else [None] * len(data)
    return [
        _Document(item, number, node.start_mark.line + 1 if node is not None else 1, node)
        for number, (item, node) in enumerate(zip(data, nodes, strict=False), start=1)
    ]


def _read_documents(path: Path, source: str) -> tuple[list[_Document], list[Problem]]:
    try:
        if (size := path.stat().st_size) > MAX_FILE_BYTES:
            return [], [Problem(source, f"file too large: {size} bytes > {MAX_FILE_BYTES}")]
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return [], [Problem(source, f"cannot read file: {exc}")]
    if path.suffix.lower() == ".json":
        try:
            return _json_documents(text), []
        except json.JSONDecodeError as exc:
            return [], [Problem(source, f"invalid JSON: {exc.msg} (column {exc.colno})", line=exc.lineno)]
        except (ValueError, RecursionError) as exc:
            return [], [Problem(source, f"invalid JSON: {exc}")]
    documents: list[_Document] = []
    try:
        documents.extend(_yaml_documents(text))
    except RecursionError:
        return documents, [Problem(source, "invalid YAML: nested too deeply", document=len(documents) + 1)]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        line = mark.line + 1 if mark is not None else None
        return documents, [Problem(source, f"invalid YAML: {problem}", document=len(documents) + 1, line=line)]
    return documents, []


def expand_paths(paths: Iterable[str | Path]) -> list[Path]:
    """Files as given; a directory stands for its own .yaml/.yml/.json files (not subfolders), sorted."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files.extend(sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in RULE_FILE_SUFFIXES))
        else:
            files.append(path)
    return files


def _validate(model: type[SpecT], document: _Document, source: str) -> SpecT | list[Problem]:
    if not isinstance(document.data, dict):
        return [
            Problem(
                source,
                f"a document must be a mapping of fields (got {type(document.data).__name__})",
                document=document.number,
                line=document.line,
            )
        ]
    try:
        spec = model.model_validate(document.data)
    except ValidationError as exc:
        problems = validation_problems(exc, document.data, source, index=document.number, node=document.node)
        return [p if p.line is not None else replace(p, line=document.line) for p in problems]
    if isinstance(spec, RuleSpec) and (bad := template_problems(spec, source, document.number, document.node, document.line)):
        return bad
    return spec


def _scan(model: type[SpecT], paths: Iterable[str | Path]) -> tuple[list[Loaded[SpecT]], list[Problem]]:
    """Validate every document of every file; duplicate names and ids across them are problems."""
    loaded: list[Loaded[SpecT]] = []
    problems: list[Problem] = []
    first_by_key: dict[tuple[str, str], Loaded[SpecT]] = {}
    for path in expand_paths(paths):
        source = path.as_posix()
        documents, read_problems = _read_documents(path, source)
        for document in documents:
            result = _validate(model, document, source)
            if isinstance(result, list):
                problems.extend(result)
                continue
            item = Loaded(result, source, document.number, document.line)
            clash = _first_clash(item, first_by_key, document)
            if clash is None:
                loaded.append(item)
            else:
                problems.append(clash)
        problems.extend(read_problems)
    return loaded, problems


def _first_clash(item: Loaded[SpecT], first_by_key: dict[tuple[str, str], Loaded[SpecT]], document: _Document,
                 ) -> Problem | None:
    spec = item.spec
    keys = [("name", spec.name)] + ([("id", str(spec.id))] if spec.id is not None else [])
    for field, value in keys:
        first = first_by_key.get((field, value))
        if first is not None:
            return Problem(
                item.path,
                f"duplicate {field} {value!r} (first in {first.location})",
                field=field,
                document=item.document,
                line=node_line(document.node, [field]) or item.line,
                rule=spec.name,
            )
    for field, value in keys:
        first_by_key[(field, value)] = item
    return None


def scan_rule_files(paths: Iterable[str | Path]) -> tuple[list[LoadedRule], list[Problem]]:
    """The valid rules and every problem found, without raising (for `cepflow rules check`)."""
    return _scan(RuleSpec, paths)


def load_rule_files(paths: Iterable[str | Path]) -> list[LoadedRule]:
    """Every rule of `paths`, in file and document order; `RuleFileError` lists all problems."""
    return _valid_or_raise(scan_rule_files(paths))


def scan_script_api_files(paths: Iterable[str | Path]) -> tuple[list[LoadedScriptApi], list[Problem]]:
    """The valid script APIs and every problem found, without raising."""
    return _scan(ScriptApiSpec, paths)


def load_script_api_files(paths: Iterable[str | Path]) -> list[LoadedScriptApi]:
    """Every script API of `paths`; `RuleFileError` lists all problems."""
    return _valid_or_raise(scan_script_api_files(paths))


def _valid_or_raise(scanned: tuple[list[Loaded[SpecT]], list[Problem]]) -> list[Loaded[SpecT]]:
    loaded, problems = scanned
    if problems:
        raise RuleFileError(problems)
    return loaded


def _parse(model: type[SpecT], doc: Any, source: str) -> SpecT:
    if not isinstance(doc, dict):
        raise RuleFileError([Problem(source, f"a document must be a mapping of fields (got {type(doc).__name__})")])
    try:
        spec = model.model_validate(doc)
    except ValidationError as exc:
        raise RuleFileError(validation_problems(exc, doc, source)) from None
    if isinstance(spec, RuleSpec) and (bad := template_problems(spec, source)):
        raise RuleFileError(bad)
    return spec


def parse_rule_document(doc: dict[str, Any], source: str) -> RuleSpec:
    """Validate one rule given as a dict (API input, stored rows); `source` labels the messages."""
    return _parse(RuleSpec, doc, source)


def parse_script_api_document(doc: dict[str, Any], source: str) -> ScriptApiSpec:
    """Validate one script API given as a dict; `source` labels the messages."""
    return _parse(ScriptApiSpec, doc, source)
