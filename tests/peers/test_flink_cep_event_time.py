"""Flink CEP's event-time pattern tests, translated into cepflow rules.

Source: apache/flink, flink-libraries/flink-cep/src/test/java/org/apache/flink/cep/CEPITCase.java.
Flink assigns each element's timestamp and a punctuated watermark of `last timestamp - 5`, i.e.
an allowed lateness of 5 ms here; `followedBy` is cepflow's `contiguity: relaxed`; a Flink
`Event(id, name, price)` is a body `{"pid", "name", "price"}`. The patterns have no `within`
(cepflow requires one: 1 h, far longer than the streams). Each case also shows that
`time.order: arrival` misses the match that event-time order makes.
"""

from __future__ import annotations

from typing import Any

from .helpers import run


def flink_event(pid: int, name: str, price: float) -> dict[str, Any]:
    return {"pid": pid, "name": name, "price": price}


def step(name: str) -> dict[str, Any]:
    return {"name": name, "where": {"field": "name", "op": "eq", "value": name}}


def start_middle_end(within: str = "1h", order: str = "event_time", **fields: Any) -> dict[str, Any]:
    return {"detect": {"kind": "sequence", "within": within,
                       "steps": [step("start"), step("middle"), step("end")]},
            "time": {"allowed_lateness": 5, "order": order}, **fields}


def matches(executions: list) -> list[str]:
    """Flink's `select`: the ids of the start, middle and end events, as "start,middle,end"."""
    return sorted(",".join(str(e.events[name]["pid"]) for name in ("start", "middle", "end"))
                  for e in executions if e.status == "fired")


# testSimplePatternEventTime: (Event, timestamp) in arrival order; the last element only raises
# the watermark ("last element for high final watermark").
SIMPLE = [(5, flink_event(1, "start", 1.0)), (1, flink_event(2, "middle", 2.0)), (3, flink_event(3, "end", 3.0)),
          (10, flink_event(4, "end", 4.0)), (7, flink_event(5, "middle", 5.0)), (100, flink_event(5, "middle", 5.0))]


def test_simple_pattern_event_time() -> None:
    executions, late = run(start_middle_end(), SIMPLE)
    assert late == []
    assert matches(executions) == ["1,5,4"]  # Flink: expected = "1,5,4"


def test_simple_pattern_event_time_in_arrival_order_misses_it() -> None:
    executions, _ = run(start_middle_end(order="arrival"), SIMPLE)
    assert matches(executions) == []


# testSimpleKeyedPatternEventTime: keyed by the event id (cepflow: group_by pid).
KEYED = [(5, flink_event(1, "start", 1.0)), (1, flink_event(1, "middle", 2.0)), (4, flink_event(2, "middle", 2.0)),
         (3, flink_event(2, "start", 2.0)), (3, flink_event(1, "end", 3.0)), (5, flink_event(3, "start", 4.1)),
         (10, flink_event(1, "end", 4.0)), (8, flink_event(2, "end", 2.0)), (7, flink_event(1, "middle", 5.0)),
         (9, flink_event(3, "middle", 6.0)), (7, flink_event(3, "end", 7.0))]


def test_simple_keyed_pattern_event_time() -> None:
    executions, late = run(start_middle_end(group_by=["pid"]), KEYED)
    assert late == []
    assert matches(executions) == ["1,1,1", "2,2,2"]  # Flink: expected = "1,1,1\n2,2,2"
    assert sorted((e.group["pid"], e.at_ms) for e in executions) == [(1, 10), (2, 8)]


def test_simple_keyed_pattern_event_time_in_arrival_order_misses_them() -> None:
    executions, _ = run(start_middle_end(group_by=["pid"], order="arrival"), KEYED)
    assert matches(executions) == []  # each key's start arrives after its first middle


# testTimeoutHandling: within 3 ms. Flink emits the match Right(2.0,2.0,2.0) and the timed-out
# partial match Left(1.0). cepflow emits nothing for an expired partial match (only an absent
# last step fires on expiry), so only the match is compared; the partial match from the start at
# 1 ms gives way to the newer start at 4 ms (one partial match per group, RULES.md §4).
TIMEOUT = [(1, flink_event(1, "start", 1.0)), (5, flink_event(1, "middle", 2.0)), (4, flink_event(1, "start", 2.0)),
           (6, flink_event(1, "end", 2.0))]


def prices(executions: list) -> list[str]:
    return [",".join(str(e.events[name]["price"]) for name in ("start", "middle", "end"))
            for e in executions if e.status == "fired"]


def test_timeout_handling_match() -> None:
    executions, late = run(start_middle_end(within="3ms"), TIMEOUT)
    assert late == []
    assert prices(executions) == ["2.0,2.0,2.0"]  # Flink: Right(2.0,2.0,2.0)


def test_timeout_handling_in_arrival_order_misses_the_match() -> None:
    executions, _ = run(start_middle_end(within="3ms", order="arrival"), TIMEOUT)
    assert prices(executions) == []
