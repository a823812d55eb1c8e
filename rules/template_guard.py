"""Resource bounds of template rendering: time, loop iterations and the size of every value.

A template is code written by a rule author and runs inside the engine (and the offline runner),
so a render must end quickly and small whatever it says. The stock sandbox bounds `range` only:
nested loops ran for hours and `{{ x * 300000000 }}` allocated 900 MB (issue 11).

How the bounds hold, by construction rather than by a list of payloads:

- **Size.** Every operation that can make a value larger than its inputs (repetition `*`, power
  `**`, `%`-formatting, padding, replacing, joining, and any integer argument of a call or a
  filter) is checked *before* it runs; every other call, filter, `+` and `~` is checked after —
  its result is at most a small multiple of inputs that were already bounded. The rendered text is
  streamed and stops at the bound.
- **Iterations.** Every `for` loop and `range` draws from one budget per render, so nesting does
  not multiply past it.
- **Time.** The render's deadline is checked at each iteration, guarded operation and output
  chunk; between two checks only bounded work can happen.

Constructs that capture output outside the stream (`{% set %}...{% endset %}`, `{% filter %}`,
macros, call blocks, recursive loops) and the ones that load other templates are refused when the
template is compiled (`unsafe_constructs`), so a rule is refused when applied, not when it fires.
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, cast

from jinja2 import nodes
from jinja2.visitor import NodeTransformer

LOOP_FILTER = "_cepflow_loop"
SIZE_FILTER = "_cepflow_size"
MAX_JSON_INDENT = 16
REMOVED_FILTERS = ("urlize",)  # HTML output, inserts its arguments once per link found
REMOVED_GLOBALS = ("lipsum",)  # placeholder text, up to any size


@dataclass(frozen=True, slots=True)
class TemplateLimits:
    """Bounds of one render. `output_chars` also bounds every intermediate string or list: it is
    above the largest event (`max_message_bytes`, 1 MB by default) so `{{ event }}` still renders.
    """

    time_s: float = 1.0
    iterations: int = 100_000
    output_chars: int = 2_000_000
    int_bits: int = 4096


DEFAULT_LIMITS = TemplateLimits()


class LimitExceeded(Exception):
    """A render went past one of its `TemplateLimits`."""


class Budget:
    """What is left of one render's iterations and time."""

    __slots__ = ("deadline", "left", "limits")

    def __init__(self, limits: TemplateLimits) -> None:
        self.limits = limits
        self.deadline = time.monotonic() + limits.time_s
        self.left = limits.iterations

    def tick(self, count: int = 1) -> None:
        self.left -= count
        if self.left < 0:
            msg = f"more than {self.limits.iterations} loop iterations"
            raise LimitExceeded(msg)
        if count > 1 or not self.left % 64:  # one clock read per 64 iterations: bounded work between
            self.check_time()

    def check_time(self) -> None:
        if time.monotonic() > self.deadline:
            msg = f"rendering took longer than {self.limits.time_s} s"
            raise LimitExceeded(msg)


_BUDGET: ContextVar[Budget | None] = ContextVar("cepflow_template_budget", default=None)


def current() -> Budget:
    """The budget of the render in progress. Outside one — Jinja folding constants while it
    compiles (`{{ 'ab'|slice(999999) }}` would run then, unbounded) — `LimitExceeded`, which Jinja
    takes as "not foldable": every guarded operation runs at render time, under its limits.
    """
    budget = _BUDGET.get()
    if budget is None:
        msg = "guarded operations run only while rendering"
        raise LimitExceeded(msg)
    return budget


@contextmanager
def rendering(limits: TemplateLimits) -> Iterator[Budget]:
    """Scope of one render: the guards of this thread draw from the budget it yields."""
    budget = Budget(limits)
    token = _BUDGET.set(budget)
    try:
        yield budget
    finally:
        _BUDGET.reset(token)


def check_size(value: Any) -> Any:
    """`value`, or `LimitExceeded` when it is a string/collection or integer past the bounds."""
    limits = current().limits
    if isinstance(value, str | bytes | list | tuple | dict) and len(value) > limits.output_chars:
        msg = f"a value of {len(value)} characters/items (limit {limits.output_chars})"
        raise LimitExceeded(msg)
    if isinstance(value, int) and value.bit_length() > limits.int_bits:
        msg = f"an integer of more than {limits.int_bits} bits"
        raise LimitExceeded(msg)
    return value


def _refuse_past(estimate: int, what: str) -> None:
    limit = current().limits.output_chars
    if estimate > limit:
        msg = f"{what} would make {estimate} characters/items (limit {limit})"
        raise LimitExceeded(msg)


def check_arguments(args: Iterable[Any], kwargs: dict[str, Any]) -> None:
    """Integer arguments (widths, counts, lengths) above the size bound are refused before the call."""
    limit = current().limits.output_chars
    for arg in (*args, *kwargs.values()):
        if isinstance(arg, int) and not isinstance(arg, bool) and abs(arg) > limit:
            msg = f"argument {arg} is larger than {limit}"
            raise LimitExceeded(msg)


_PERCENT_FIELD = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?")


def check_percent_format(text: str) -> None:
    """`%`-format widths/precisions past the size bound (or `*`, taken from the data) are refused."""
    limit = current().limits.output_chars
    for width, precision in _PERCENT_FIELD.findall(text):
        for number in (width, precision):
            if number == "*" or (number and int(number) > limit):
                msg = f"format width or precision {number!r} is not allowed"
                raise LimitExceeded(msg)


def _estimate_replace(text: str, old: str, new: str, count: int = -1) -> int:
    hits = len(text) + 1 if old == "" else text.count(old)
    if count >= 0:
        hits = min(hits, count)
    return len(text) + hits * max(0, len(new) - len(old))


def _estimate_join(items: list[Any], separator: str = "") -> int:
    limit = current().limits.output_chars
    total = len(separator) * max(0, len(items) - 1)
    for item in items:
        total += len(item) if isinstance(item, str) else len(str(item))
        if total > limit:
            break
    return total


def check_binop(operator: str, left: Any, right: Any) -> None:
    """Refuse `*`, `**` and `%` whose result would pass the bounds, before computing it."""
    limits = current().limits
    if operator == "*":
        for seq, times in ((left, right), (right, left)):
            if isinstance(seq, str | list | tuple) and isinstance(times, int):
                _refuse_past(len(seq) * times, "repetition")
        if isinstance(left, int) and isinstance(right, int) and left.bit_length() + right.bit_length() > limits.int_bits:
            msg = f"a product of more than {limits.int_bits} bits"
            raise LimitExceeded(msg)
    elif operator == "**" and isinstance(left, int) and isinstance(right, int) and right > 0:
        if max(left.bit_length() - 1, 0) * right > limits.int_bits:
            msg = f"a power of more than {limits.int_bits} bits"
            raise LimitExceeded(msg)
    elif operator == "%" and isinstance(left, str):
        check_percent_format(left)


def check_method_call(obj: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Pre-checks of the `str`/`bytes` methods whose output can outgrow their arguments."""
    owner, name = getattr(obj, "__self__", None), getattr(obj, "__name__", "")
    if not isinstance(owner, str | bytes | bytearray):
        return
    if name == "translate":  # a table can map each character to a long string
        msg = "translate is not allowed in templates (use replace)"
        raise LimitExceeded(msg)
    text: Any = owner  # str, bytes or bytearray: the estimates only use len, count and the argument types
    if name == "replace" and len(args) >= 2 and isinstance(args[0], type(owner)) and isinstance(args[1], type(owner)):
        count = args[2] if len(args) > 2 and isinstance(args[2], int) else -1
        old: Any = args[0]
        new: Any = args[1]
        _refuse_past(_estimate_replace(text, old, new, count), "replace")
    elif name == "join" and args:
        _refuse_past(_estimate_join(list(args[0]), text), "join")
    elif name == "expandtabs":
        size = args[0] if args and isinstance(args[0], int) else 8
        _refuse_past(len(owner) + text.count("\t" if isinstance(owner, str) else b"\t") * size, "expandtabs")


def _estimate_filter(name: str, value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> int | None:
    """The output size of the default filters that can outgrow their input, None for the others.

    The string filters turn any value into text first (Jinja's `soft_str`), so the estimate does too.
    """
    if name in ("replace", "indent", "wordwrap") and value is not None:
        text = value if isinstance(value, str) else str(value)
        if name == "replace" and len(args) >= 2:
            count = args[2] if len(args) > 2 and isinstance(args[2], int) else kwargs.get("count")
            return _estimate_replace(text, str(args[0]), str(args[1]), count if isinstance(count, int) else -1)
        if name == "indent":
            width = args[0] if args else kwargs.get("width", 4)
            size = width if isinstance(width, int) else len(str(width))
            return len(text) + (text.count("\n") + 1) * size
        if name == "wordwrap":
            width = args[0] if args else kwargs.get("width", 79)
            wrap = args[2] if len(args) > 2 else kwargs.get("wrapstring")
            lines = len(text) // max(width, 1) + text.count("\n") + 1 if isinstance(width, int) else len(text)
            return len(text) + lines * len(str(wrap or "\n"))
    if name == "tojson":
        indent = args[0] if args else kwargs.get("indent")
        if isinstance(indent, int) and indent > MAX_JSON_INDENT:
            msg = f"tojson indent {indent} is larger than {MAX_JSON_INDENT}"
            raise LimitExceeded(msg)
    if name == "sum":
        start = args[1] if len(args) > 1 else kwargs.get("start", 0)
        if not isinstance(start, int | float):  # summing lists or strings is quadratic
            msg = "sum takes a number as start"
            raise LimitExceeded(msg)
    if name == "format":
        check_percent_format(value if isinstance(value, str) else str(value))
    return None


def guard_filter(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """`function` (a Jinja filter) with the pre- and post-checks; keeps Jinja's pass_* markers."""
    takes_first = getattr(function, "jinja_pass_arg", None) is not None  # context/env before value

    @functools.wraps(function)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        current().check_time()
        head = 1 if takes_first else 0
        value, rest = (args[head], args[head + 1 :]) if len(args) > head else (None, ())
        if rest or kwargs:
            check_arguments(rest, kwargs)
        if name == "join" and value is not None:
            items = list(value)
            separator = str(rest[0] if rest else kwargs.get("d", ""))  # Jinja joins with str(d)
            _refuse_past(_estimate_join(items, separator), "join")
            args = (*args[:head], items, *rest)
        elif (estimate := _estimate_filter(name, value, rest, kwargs)) is not None:
            _refuse_past(estimate, name)
        return check_size(function(*args, **kwargs))

    return guarded


def counted_loop(iterable: Any) -> Iterator[Any]:
    """The `for` loop source: each item draws one iteration from the render's budget."""
    budget = current()
    for item in iterable:
        budget.tick()
        yield item


def bounded_range(*args: int) -> range:
    """`range` whose length is drawn from the render's budget up front."""
    result = range(*args)
    current().tick(len(result))
    return result


class BoundLoops(NodeTransformer):
    """Rewrites a parsed template: loop sources go through `counted_loop`, `~` through `check_size`."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = _filter(cast(nodes.Expr, node.iter), LOOP_FILTER)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        return _filter(node, SIZE_FILTER)


def _filter(node: nodes.Expr, name: str) -> nodes.Filter:
    return nodes.Filter(node, name, [], [], None, None, lineno=node.lineno)


_REFUSED = {
    nodes.Macro: "macros", nodes.CallBlock: "call blocks", nodes.AssignBlock: "block assignments ({% set %}...{% endset %})",
    nodes.FilterBlock: "filter blocks", nodes.Include: "include", nodes.Import: "import", nodes.FromImport: "import",
    nodes.Extends: "extends",
}


def unsafe_constructs(tree: nodes.Template) -> list[str]:
    """Constructs refused in action templates, with the line of each (checked at compile time)."""
    found = [f"{label} (line {node.lineno})" for kind, label in _REFUSED.items() for node in tree.find_all(kind)]
    found += [f"recursive loops (line {node.lineno})" for node in tree.find_all(nodes.For) if node.recursive]
    return found
