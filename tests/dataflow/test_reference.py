"""Detection against brute-force reference models of RULES.md §4, on random in-order inputs."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from .helpers import Driver, ev, fired, rule

gaps = st.lists(st.integers(1, 4000), min_size=1, max_size=60)


def times(steps: list[int]) -> list[int]:
    out, t = [], 0
    for gap in steps:
        t += gap
        out.append(t)
    return out


@settings(max_examples=200, deadline=None)
@given(gaps, st.integers(1, 5), st.integers(1000, 10_000))
def test_sliding_count_matches_reference(steps: list[int], n: int, size: int) -> None:
    ts = times(steps)
    r = rule(detect={"kind": "threshold", "window": {"type": "sliding", "size": size},
                     "aggregate": {"fn": "count"}, "having": {"op": "gte", "value": n}})
    expected, floor = [], -1
    for i, t in enumerate(ts):
        count = sum(1 for u in ts[: i + 1] if u > max(floor, t - size))
        if count >= n:
            expected.append((t, count))
            floor = t
    assert fired(Driver(r).feed_all(ev(t, id=str(i)) for i, t in enumerate(ts))) == expected


@settings(max_examples=200, deadline=None)
@given(gaps, st.integers(1, 4), st.integers(1000, 6000), st.sampled_from(["lt", "gte"]))
def test_tumbling_count_matches_reference(steps: list[int], n: int, size: int, op: str) -> None:
    ts = times(steps)
    r = rule(detect={"kind": "threshold", "window": {"type": "tumbling", "size": size},
                     "aggregate": {"fn": "count"}, "having": {"op": op, "value": n}})
    d = Driver(r)
    d.feed_all(ev(t, id=str(i)) for i, t in enumerate(ts))
    end = ts[-1] + 3 * size
    d.advance(end)
    expected = []
    start = ts[0] - ts[0] % size
    while start + size <= end:
        count = sum(1 for t in ts if start <= t < start + size)
        if (count < n) if op == "lt" else (count >= n):
            expected.append((start + size, count))
        start += size
    assert fired(d.out) == expected


@settings(max_examples=200, deadline=None)
@given(gaps, st.integers(500, 5000))
def test_absence_matches_reference(steps: list[int], silence: int) -> None:
    ts = times(steps)
    r = rule(detect={"kind": "absence", "for": silence})
    d = Driver(r)
    d.feed_all(ev(t, id=str(i)) for i, t in enumerate(ts))
    end = ts[-1] + 2 * silence
    d.advance(end)
    expected = [(a + silence, silence) for a, b in itertools.pairwise(ts) if b - a >= silence]
    expected.append((ts[-1] + silence, silence))
    assert fired(d.out) == expected


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 3000), st.booleans()), min_size=1, max_size=60), st.integers(1000, 8000))
def test_each_for_matches_reference(steps: list[tuple[int, bool]], hold: int) -> None:
    ts = times([gap for gap, _ in steps])
    verdicts = [ok for _, ok in steps]
    r = rule(where={"field": "ok", "op": "eq", "value": True}, detect={"kind": "each", "for": hold})
    d = Driver(r)
    d.feed_all(ev(t, {"ok": ok}, id=str(i)) for i, (t, ok) in enumerate(zip(ts, verdicts, strict=False)))
    end = ts[-1] + 2 * hold
    d.advance(end)
    expected, start, done = [], None, False
    for t, ok in zip(ts, verdicts, strict=False):
        if start is not None and not done and t >= start + hold:
            expected.append((start + hold, None))
            done = True
        if ok and start is None:
            start, done = t, False
        elif not ok:
            start, done = None, False
    if start is not None and not done:
        expected.append((start + hold, None))
    assert fired(d.out) == expected
