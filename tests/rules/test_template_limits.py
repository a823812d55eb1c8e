"""Attacks on template rendering's resources: each must end fast with a `TemplateError`.

Each attack runs in a daemon thread joined with a timeout, so on a renderer without bounds the
test fails (does not hang the suite) and the leftover thread dies with the process.
"""

from __future__ import annotations

import resource
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rules.template_guard import TemplateLimits
from rules.templates import TemplateError, check_template, render

BIG = "x" * 10_000
CONTEXT = {"event": {"s": "abc", "big": BIG, "list": list(range(1000)), "tab": "\t" * 100_000,
                     "lines": "\n" * 100_000}}


def outcome(template: str, limits: TemplateLimits | None = None, within_s: float = 10.0) -> Any:
    """What rendering returned or raised, or fail when it is still running after `within_s`."""
    result: list[Any] = []

    def target() -> None:
        try:
            result.append(render(template, CONTEXT) if limits is None else render(template, CONTEXT, limits))
        except Exception as exc:
            result.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    started = time.monotonic()
    thread.start()
    thread.join(within_s)
    assert result, f"still rendering after {within_s} s: {template!r}"
    assert time.monotonic() - started < within_s
    return result[0]


def refused(template: str, reason: str, limits: TemplateLimits | None = None) -> None:
    error = outcome(template, limits)
    assert isinstance(error, TemplateError), f"{template!r} rendered instead of being refused"
    assert reason in error.reason, error.reason


@pytest.mark.parametrize(
    "template",
    [
        "{% for a in range(1000) %}{% for b in range(1000) %}{% for c in range(1000) %}{% endfor %}{% endfor %}{% endfor %}",
        "{% for a in event.list %}{% for b in event.list %}{% for c in event.list %}{% endfor %}{% endfor %}{% endfor %}",
        "{% for a in event.list if true %}{% for b in event.list %}{{ a }}{% endfor %}{% endfor %}",
        "{{ range(1000000)|list|length }}",
    ],
)
def test_nested_loops_are_cut_at_the_iteration_budget(template: str) -> None:
    refused(template, "loop iterations")


@pytest.mark.parametrize(
    "template",
    [
        "{{ event.s * 300000000 }}",
        "{{ 300000000 * event.s }}",
        "{{ [event.s] * 300000000 }}",
        "{{ event.s|center(1000000000) }}",
        "{{ event.s.ljust(1000000000) }}",
        "{{ event.s.zfill(1000000000) }}",
        "{{ '%1000000000d' % 1 }}",
        "{{ '%*d' % (1000000000, 1) }}",
        "{{ '%1000000000d'|format(1) }}",
        "{{ event.big|replace('', event.big) }}",
        "{{ event.big.replace('', event.big) }}",
        "{{ ([event.big] * 10000)|join }}",
        "{{ (event.big|list)|join(event.big|list) }}",  # found by the property test below: str(d) joins
        "{{ (event.big|list)|join(d=event.big) }}",
        "{{ ''.join([event.big] * 10000) }}",
        "{{ event.tab.expandtabs(1000) }}",
        "{{ event.lines|indent(1000) }}",
        "{{ event.big.translate({120: event.big}) }}",
        "{{ event.big.encode().replace(''.encode(), event.big.encode()) }}",
        "{{ event.big|wordwrap(1, true, wrapstring=event.big) }}",
        "{{ event.big|wordwrap(1, true, event.big) }}",
        "{{ (event.list * 100)|tojson(1000000) }}",
        "{{ ([[1]] * 1000000)|sum(start=[]) }}",
        "{{ [1]|batch(1000000000, 0)|list }}",
    ],
)
def test_values_that_would_outgrow_the_size_bound_are_refused_before_they_are_built(template: str) -> None:
    error = outcome(template)
    assert isinstance(error, TemplateError), f"{template!r} rendered"
    assert "exceeds a limit" in error.reason or "refused" in error.reason, error.reason


@pytest.mark.parametrize(
    "template",
    [
        "{% set ns = namespace(s=event.big) %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
        "{% set ns = namespace(s=event.big) %}{% for i in range(40) %}{% set ns.s = ns.s + ns.s %}{% endfor %}",
        "{% set ns = namespace(l=[event.big]) %}{% for i in range(40) %}{% set ns.l = ns.l + ns.l %}{% endfor %}",
    ],
)
def test_doubling_in_a_loop_stops_at_the_size_bound(template: str) -> None:
    refused(template, "exceeds a limit")


def test_a_long_output_stops_at_the_size_bound() -> None:
    refused("{% for i in range(90000) %}{{ event.big }}{% endfor %}", "output longer than")


def test_integers_are_bounded_before_they_are_computed() -> None:
    refused("{{ 10 ** 100000000 }}", "bits")
    refused("{{ 9 ** 9 ** 9 ** 9 ** 9 ** 9 }}", "bits")
    refused("{% set ns = namespace(n=2) %}{% for i in range(64) %}{% set ns.n = ns.n * ns.n %}{% endfor %}", "bits")


def test_a_render_stops_at_its_deadline() -> None:
    limits = TemplateLimits(time_s=0.05)
    refused("{% for i in range(90000) %}{{ event.list|sort|join(',')|length }}{% endfor %}", "longer than", limits)


@pytest.mark.parametrize(
    ("template", "construct"),
    [
        ("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", "macros"),
        ("{% set x %}{{ event.s }}{% endset %}{{ x }}", "block assignments"),
        ("{% filter upper %}{{ event.s }}{% endfilter %}", "filter blocks"),
        ("{% for x in event.list recursive %}{{ loop(x) }}{% endfor %}", "recursive loops"),
        ("{% include 'other' %}", "include"),
        ("{% import 'other' as o %}", "import"),
        ("{% extends 'base' %}", "extends"),
    ],
)
def test_constructs_that_escape_the_bounds_are_refused_when_checked(template: str, construct: str) -> None:
    reason = check_template(template)
    assert reason is not None and construct in reason and "line 1" in reason


def test_str_format_is_refused() -> None:
    refused("{{ '{:>1000000000}'.format(1) }}", "str.format is refused")


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{% for x in event.list[:3] %}{{ x }},{% endfor %}", "0,1,2,"),
        ("{{ event.s * 3 }}", "abcabcabc"),
        ("{{ ['a', 'b']|join('-') }}", "a-b"),
        ("{{ '%05d'|format(42) }}", "00042"),
        ("{{ '%s=%d' % ('n', 3) }}", "n=3"),
        ("{{ event.s|replace('b', 'BB')|upper }}", "ABBC"),
        ("{{ 2 ** 10 }}", "1024"),
        ("{{ range(3)|list }}", "[0,1,2]"),
        ("{{ event.big|length }}", "10000"),
        ("{% set ns = namespace(n=0) %}{% for x in event.list %}{% set ns.n = ns.n + x %}{% endfor %}{{ ns.n }}", "499500"),
    ],
)
def test_ordinary_templates_render_as_before(template: str, expected: str) -> None:
    assert outcome(template) == expected


def test_a_whole_large_event_still_renders() -> None:
    event = {"blob": "y" * 900_000}
    assert len(render("{{ event }}", {"event": event})) > 900_000


SMALL = TemplateLimits(time_s=2.0, iterations=5_000, output_chars=10_000)
ATOMS = st.sampled_from(["event.s", "event.big", "event.list", "'ab'", "[event.s]", "7", "999999", "event.lines"])
GROW = st.sampled_from(["({a} * {b})", "({a} ~ {b})", "({a} + {b})", "({a} ** {b})", "({a}|center({b}))",
                        "({a}|replace('', {a}))", "({a}|join({a}))", "({a}|indent({b}))", "({a}.ljust({b}))",
                        "('%' ~ {b} ~ 's') % {a}", "({a}|batch({b})|list)", "({a}|string|list)",
                        "({a}|string).replace('', {a}|string)", "({a}|string).join({a})", "({a}|wordwrap(1, true, {b}))",
                        "({a}|tojson(indent={b}))", "({a}|sum(start={b}))", "({a}|map('string')|list)",
                        "({a}|format({b}, {b}))", "dict(x={a}, y={b})", "({a}|slice({b})|list)"])


@st.composite
def expressions(draw: st.DrawFn, depth: int = 3) -> str:
    if depth == 0 or draw(st.booleans()):
        return draw(ATOMS)
    return draw(GROW).format(a=draw(expressions(depth - 1)), b=draw(expressions(depth - 1)))


@st.composite
def templates(draw: st.DrawFn) -> str:
    body = "{{ " + draw(expressions()) + " }}"
    for _ in range(draw(st.integers(0, 3))):
        body = "{% for i in " + draw(st.sampled_from(["range(1000)", "event.list", "event.big"])) + " %}" + body + "{% endfor %}"
    return body


@contextmanager
def address_space_cap(extra_bytes: int) -> Iterator[None]:
    """RLIMIT_AS at the current size + `extra_bytes` for the block (then as before)."""
    with open("/proc/self/statm") as statm:
        current = int(statm.read().split()[0]) * resource.getpagesize()
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (current + extra_bytes, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


@settings(max_examples=400, deadline=None)
@given(templates())
def test_any_composition_of_growing_operations_stays_within_the_bounds(template: str) -> None:
    """Compositions no test above spells out: each ends in time with bounded output, or is refused;
    the process's peak memory shows that no intermediate value outgrew the bound either."""
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.monotonic()
    try:
        with address_space_cap(1 << 30):  # on a renderer without bounds: fail, don't eat the machine's memory
            text = render(template, CONTEXT, SMALL)
    except TemplateError as exc:
        assert "MemoryError" not in exc.reason
    else:
        assert len(text) <= SMALL.output_chars
    assert time.monotonic() - started < 10 * SMALL.time_s
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before < 200_000  # KiB


def test_constant_expressions_are_not_run_while_compiling() -> None:
    """Jinja folds constant expressions at compile time, outside any render's limits: guarded
    operations refuse to run there, so they run (and are refused) at render time."""
    template = "{% for i in range(3) %}{{ ('ab'|slice(999998)|list)|format(1) }}{% endfor %}"
    started = time.process_time()
    assert check_template(template) is None
    assert time.process_time() - started < 0.5
    refused(template, "larger than 10000", SMALL)
