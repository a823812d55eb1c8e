"""Sandboxed `{{ ... }}` templates in action fields (RULES.md §5).

Choices a rule author can rely on:

- A missing field renders as an empty string, at any depth (`{{ event.a.b.c }}` with no `a` is
  `""`): a webhook with one empty value is more useful than an action that never runs, and it is
  what ElastAlert2 and Alertmanager users expect. `{% if event.x is defined %}` still tells.
- `None` renders as `""`, booleans as `true`/`false`, dicts and lists as JSON — events are JSON,
  so their values come out as JSON rather than as Python reprs.
- On a dict, a key wins over a method of the same name: `{{ event.items }}` is the field `items`.
- Output is always text: `"{{ event.value }}"` renders `"95"`, never the number 95.
- The sandbox refuses private and internal attributes (`{{ ''.__class__ }}`) and calls to unsafe
  callables with a `TemplateError`. It does not bound CPU or memory: loops are capped by the
  sandboxed `range`, but a rule author can still write an expensive template.

Strings without `{{` or `{%` are returned untouched, without touching Jinja (fast path).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import orjson
from jinja2 import ChainableUndefined, Template, TemplateSyntaxError, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

TEMPLATE_MARKERS = ("{{", "{%")
CACHE_SIZE = 4096


class TemplateError(ValueError):
    """A template that cannot be compiled, is refused by the sandbox, or failed while rendering."""

    def __init__(self, template: str, reason: str) -> None:
        super().__init__(f"template {template!r}: {reason}")
        self.template = template
        self.reason = reason


class _Environment(ImmutableSandboxedEnvironment):
    """The sandbox, with unsafe access raising at once and dict keys preferred over methods."""

    def getattr(self, obj: Any, attribute: str) -> Any:
        if isinstance(obj, Mapping) and attribute in obj:
            return obj[attribute]
        return super().getattr(obj, attribute)

    def unsafe_undefined(self, obj: Any, attribute: str) -> Any:
        # The stock sandbox returns an Undefined that renders as "" — a silent refusal. Say so.
        message = f"access to attribute {attribute!r} of {type(obj).__name__!r} object is unsafe"
        raise SecurityError(message)


def _finalize(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list | tuple):
        return orjson.dumps(value, default=str).decode()
    return value


# Stateless after construction: shared by every thread of the process.
_ENV = _Environment(undefined=ChainableUndefined, autoescape=False, finalize=_finalize)


def is_template(text: str) -> bool:
    """True when the string holds template syntax and must go through Jinja."""
    return any(marker in text for marker in TEMPLATE_MARKERS)


def _dunder_names(tree: nodes.Template) -> list[str]:
    """`__special__` names written literally in the template (`x.__class__`, `x['__init__']`).

    Only dunders: a field like `_id` is a legitimate event key, checked by the sandbox at render.
    """
    names = [n.attr for n in tree.find_all(nodes.Getattr)]
    names += [n.arg.value for n in tree.find_all(nodes.Getitem) if isinstance(n.arg, nodes.Const)]
    return [name for name in names if isinstance(name, str) and name.startswith("__")]


@lru_cache(maxsize=CACHE_SIZE)
def compile_template(text: str) -> Template:
    """The compiled template (per-process LRU cache: a rule renders the same text thousands of times).

    Raises `TemplateError` on a syntax error or a literal `__special__` name; failures are not cached.
    """
    try:
        tree = _ENV.parse(text)
    except TemplateSyntaxError as exc:
        raise TemplateError(text, f"syntax error: {exc.message} (line {exc.lineno})") from exc
    if unsafe := _dunder_names(tree):
        raise TemplateError(text, f"access to {unsafe[0]!r} is refused by the sandbox")
    return _ENV.from_string(tree)


def check_template(text: str) -> str | None:
    """Why this string would fail to compile (checked when a rule is applied), or None."""
    if not is_template(text):
        return None
    try:
        compile_template(text)
    except TemplateError as exc:
        return exc.reason
    return None


def _render_text(text: str, context: Mapping[str, Any]) -> str:
    if not is_template(text):
        return text
    template = compile_template(text)
    try:
        return template.render(context)
    except SecurityError as exc:
        raise TemplateError(text, f"refused by the sandbox: {exc}") from exc
    except Exception as exc:  # a template is user code: any failure is the action's, not the engine's
        raise TemplateError(text, f"{type(exc).__name__}: {exc}") from exc


def render(value: Any, context: Mapping[str, Any]) -> Any:
    """`value` with every template string inside it rendered; dict keys and non-strings untouched."""
    if isinstance(value, str):
        return _render_text(value, context)
    if isinstance(value, dict):
        return {key: render(item, context) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [render(item, context) for item in value]
    return value
