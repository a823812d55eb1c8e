"""Interpreter settings of an engine process, for latency: the cycle collector and the GIL.

Collector: long-lived objects out of its way.

CPython's cycle collector pauses the whole process while it walks every tracked object of the
generations it collects. An engine holds hundreds of thousands of long-lived objects (compiled
rules, group states), and measured full collections paused the dataflow for 50-350 ms — the
p99 of event -> webhook latency at 5,000 events/s was those pauses (bench figure 5).

- `gc.freeze()` after start-up and after each rule reload moves what exists then (imports,
  compiled rules) to a permanent generation that collections never walk. Acyclic objects are
  still freed by reference counting when dropped; only cyclic garbage among frozen objects would
  be kept (a replaced rule at most: bounded by the number of rule changes).
- A larger young generation (50,000 allocations instead of 700) and rarer older collections
  make collections fewer; each young one walks only what is new.

GIL: the action threads (webhooks, scripts, the execution log) wait for the GIL after each I/O
call while the dataflow thread routes events, up to the switch interval each time (5 ms by
default). An action makes several such calls (database, HTTP), so at 5,000 events/s its webhook came 10-50 ms
later than its I/O took. A 1 ms interval cut the bench's stateful fire p99 from 5,160 ms to
5,100 ms and `each` p99 from 180 ms to 110 ms; figure 2 throughput moved within its noise.
"""

from __future__ import annotations

import gc
import sys

THRESHOLDS = (50_000, 20, 100)
SWITCH_INTERVAL_S = 0.001


def tune_for_latency() -> None:
    """Called once when the engine's dataflow module loads."""
    gc.set_threshold(*THRESHOLDS)
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    freeze_long_lived()


def freeze_long_lived() -> None:
    """Everything alive now is long-lived: keep it out of future collections."""
    gc.freeze()
