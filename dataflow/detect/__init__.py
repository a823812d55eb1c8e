"""Detection kinds (RULES.md §4): one pure logic class per kind, with explicit per-group state.

`build_detector(detect, getter, predicate)` turns a `detect` spec into its detector;
`dataflow.runtime.GroupLogic` drives it per (rule, group) and adds cooldown, `for` and lineage.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dataflow.detect.absence import AbsenceDetector
from dataflow.detect.base import NO_VALUE, Detector, Fire, Getter, Predicate, Seen
from dataflow.detect.change import ChangeDetector
from dataflow.detect.each import EachDetector
from dataflow.detect.for_episode import Episode, ForEpisode
from dataflow.detect.new_value import NewValueDetector
from dataflow.detect.sequence import Partial, SequenceDetector, Step
from dataflow.detect.threshold import Aggregate, SlidingThreshold, TumblingThreshold

__all__ = [
    "NO_VALUE", "AbsenceDetector", "Aggregate", "ChangeDetector", "Detector", "EachDetector", "Episode",
    "Fire", "ForEpisode", "Getter", "NewValueDetector", "Partial", "Predicate", "Seen", "SequenceDetector",
    "SlidingThreshold", "Step", "TumblingThreshold", "build_detector",
]


def build_detector(
    detect: Any,
    getter: Callable[[str], Getter],
    predicate: Callable[[Any], Predicate | None],
) -> Detector:
    """The detector of a `detect` spec (`rules.model`).

    `getter(path)` builds a field reader returning `NO_VALUE` when absent; `predicate(condition)`
    compiles a step's `where` (None for no condition).
    """
    kind = detect.kind
    if kind == "each":
        return EachDetector()
    if kind == "threshold":
        agg_spec, having = detect.aggregate, detect.having
        agg = Aggregate(agg_spec.fn, getter(agg_spec.field) if agg_spec.field else None, having.op, having.value)
        for_mode = detect.for_ is not None
        if detect.window.type == "sliding":
            return SlidingThreshold(detect.window.size, agg, for_mode)
        return TumblingThreshold(detect.window.size, agg, for_mode)
    if kind == "sequence":
        steps = [Step(step.name, predicate(step.where), step.absent) for step in detect.steps]
        return SequenceDetector(steps, detect.within, detect.contiguity == "strict")
    if kind == "absence":
        return AbsenceDetector(detect.for_)
    if kind == "change":
        return ChangeDetector(getter(detect.field))
    if kind == "new_value":
        return NewValueDetector(getter(detect.field), detect.max_values)
    msg = f"unknown detect kind {kind!r}"
    raise ValueError(msg)
