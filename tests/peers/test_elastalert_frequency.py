"""ElastAlert2's frequency rule with out-of-order input, translated into a cepflow rule.

Source: jertel/elastalert2, tests/rules_test.py, `test_freq_out_of_order`. ElastAlert's
`frequency` with `num_events: 59` and `timeframe: 1h` is cepflow's sliding `count gte 59` over
1 h. `hits(60)` are 60 events one second apart from 2014-09-26T12:00:00Z; they are added in
slices out of order, with 50 events from 11:00:00 ("before the first occurrence") in between.
ElastAlert asserts no match after each slice but the last, and one match after it.

cepflow with `allowed_lateness: 1m`: the slices' disorder (at most 10 s) is within the lateness;
the 11:00:00 events are over an hour late and go to the late-events topic (they are outside
every window that could fire anyway, as in ElastAlert). Each slice is checked at the end of the
input so far (the watermark reaches the largest event time, as in the offline runner).
"""

from __future__ import annotations

from typing import Any

from .helpers import run

T12 = 1_411_732_800_000  # 2014-09-26T12:00:00Z

RULE = {"group_by": ["username"], "time": {"allowed_lateness": "1m"},
        "detect": {"kind": "threshold", "window": {"type": "sliding", "size": "1h"},
                   "aggregate": {"fn": "count"}, "having": {"op": "gte", "value": 59}}}


def hits(size: int) -> list[tuple[int, dict[str, Any]]]:
    return [(T12 + n * 1000, {"username": "qlo"}) for n in range(size)]


EVENTS = hits(60)
BEFORE_THE_FIRST = [(T12 - 3_600_000, {"username": "qlo"})] * 50
SLICES = [EVENTS[:10], BEFORE_THE_FIRST, EVENTS[15:20], EVENTS[10:15], EVENTS[20:55] + EVENTS[57:], EVENTS[55:57]]
EXPECTED_MATCHES = [0, 0, 0, 0, 0, 1]  # ElastAlert's `assert len(rule.matches) == ...` after each slice


def test_freq_out_of_order() -> None:
    so_far: list[tuple[int, dict[str, Any]]] = []
    for slice_, expected in zip(SLICES, EXPECTED_MATCHES, strict=True):
        so_far += slice_
        executions, late = run(RULE, so_far)
        assert len([e for e in executions if e.status == "fired"]) == expected
    assert len(late) == 50  # the 11:00:00 events
    [fire] = executions
    assert (fire.at_ms, fire.value) == (T12 + 58_000, 59)  # the 59th event in time completes the window


def test_freq_out_of_order_in_arrival_order_misses_the_match() -> None:
    """The issue's finding: evaluated as they arrive, 12:00:55 and 12:00:56 only see the window
    ending at their own time (56 and 57 events), and 12:00:57-59 came before them."""
    executions, _ = run({**RULE, "time": {"allowed_lateness": "1m", "order": "arrival"}},
                        [event for slice_ in SLICES for event in slice_])
    assert executions == []
