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
  callables with a `TemplateError`.
- A render is bounded in time, loop iterations and the size of every value
  (`rules/template_guard.py`); going past a bound is a `TemplateError`, never a hang. Macros,
  block assignments, filter blocks, recursive loops, include/import/extends and `str.format` are
  refused when the template is compiled (the `format` filter remains).

Strings without `{{` or `{%` are returned untouched, without touching Jinja (fast path).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import lru_cache
from typing import Any

import orjson
from jinja2 import ChainableUndefined, Template, TemplateSyntaxError, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

from rules.template_guard import (
    DEFAULT_LIMITS,
    LOOP_FILTER,
    REMOVED_FILTERS,
    REMOVED_GLOBALS,
    SIZE_FILTER,
    BoundLoops,
    Budget,
    LimitExceeded,
    TemplateLimits,
    bounded_range,
    check_arguments,
    check_binop,
    check_method_call,
    check_size,
    counted_loop,
    current,
    guard_filter,
    rendering,
    unsafe_constructs,
)

TEMPLATE_MARKERS = ("{{", "{%")
TEMPLATED_FIELDS = ("endpoint", "headers", "params", "body", "input", "payload")
"""Action fields whose strings are templates (rendered at fire time, compiled when loaded)."""
CACHE_SIZE = 4096


class TemplateError(ValueError):
    """A template that cannot be compiled, is refused by the sandbox, or failed while rendering."""

    def __init__(self, template: str, reason: str) -> None:
        super().__init__(f"template {template!r}: {reason}")
        self.template = template
        self.reason = reason


class _Environment(ImmutableSandboxedEnvironment):
    """The sandbox, with unsafe access raising at once, dict keys preferred over methods, and every
    operation that can grow a value or loop guarded (`rules/template_guard.py`).
    """

    intercepted_binops = frozenset({"*", "**", "%", "+", "-", "/", "//"})

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.filters = {name: guard_filter(name, function) for name, function in self.filters.items()
                        if name not in REMOVED_FILTERS}
        for name in REMOVED_GLOBALS:
            self.globals.pop(name, None)
        self.filters[LOOP_FILTER] = counted_loop
        self.filters[SIZE_FILTER] = check_size
        self.globals["range"] = bounded_range

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        current().check_time()
        check_binop(operator, left, right)
        return check_size(super().call_binop(context, operator, left, right))

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        current().check_time()
        check_arguments(args, kwargs)
        check_method_call(__obj, args, kwargs)
        return check_size(super().call(__context, __obj, *args, **kwargs))

    def wrap_str_format(self, value: Any) -> None:
        # str.format/format_map take widths from the format string itself (`{:>999999999}`).
        if super().wrap_str_format(value) is not None:
            msg = "str.format is refused in templates; use the `format` filter"
            raise SecurityError(msg)

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
    if refused := unsafe_constructs(tree):
        raise TemplateError(text, f"{refused[0]} not allowed in action templates")
    return _ENV.from_string(BoundLoops().visit(tree))


def check_template(text: str) -> str | None:
    """Why this string would fail to compile (checked when a rule is applied), or None."""
    if not is_template(text):
        return None
    try:
        compile_template(text)
    except TemplateError as exc:
        return exc.reason
    return None


def _render_text(text: str, context: Mapping[str, Any], limits: TemplateLimits) -> str:
    if not is_template(text):
        return text
    template = compile_template(text)
    try:
        with rendering(limits) as budget:
            return _bounded_output(template.generate(context), budget)
    except LimitExceeded as exc:
        raise TemplateError(text, f"exceeds a limit: {exc}") from exc
    except SecurityError as exc:
        raise TemplateError(text, f"refused by the sandbox: {exc}") from exc
    except Exception as exc:  # a template is user code: any failure is the action's, not the engine's
        raise TemplateError(text, f"{type(exc).__name__}: {exc}") from exc


def _bounded_output(chunks: Iterator[str], budget: Budget) -> str:
    """The rendered text, stopped as soon as it passes the size bound or the deadline."""
    limit = budget.limits.output_chars
    parts: list[str] = []
    size = 0
    for chunk in chunks:
        size += len(chunk)
        if size > limit:
            msg = f"output longer than {limit} characters"
            raise LimitExceeded(msg)
        budget.check_time()
        parts.append(chunk)
    return "".join(parts)


def render(value: Any, context: Mapping[str, Any], limits: TemplateLimits = DEFAULT_LIMITS) -> Any:
    """`value` with every template string inside it rendered; dict keys and non-strings untouched.

    Each template string is one render with its own `limits`.
    """
    if isinstance(value, str):
        return _render_text(value, context, limits)
    if isinstance(value, dict):
        return {key: render(item, context, limits) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [render(item, context, limits) for item in value]
    return value
