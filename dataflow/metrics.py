"""The engine's Prometheus metrics, in the default registry that Bytewax serves on `/metrics`
(with `BYTEWAX_DATAFLOW_API_ENABLED=true`, port `BYTEWAX_DATAFLOW_API_PORT`, default 3030).

Counters count what the dataflow *processed*: after a crash, the replayed part of the input is
counted again (outputs are at-least-once, BYTEWAX.md §3.2). Each process of a cluster has its own
values; sum them across processes.

Labels stay bounded: `rule` is the rule's name, `status` one of fired/skipped/dry_run, `reason`
the class of a dead letter (its reason up to the first colon, without the details).
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

from prometheus_client import Counter, Gauge

from dataflow.types import Execution

EVENTS_IN = Counter("cepflow_events_in", "Messages read from the input topics (events and chain events).")
DEAD_LETTERS = Counter(
    "cepflow_dead_letters", "Input messages sent to the dead-letter topic, by reason class.", ["reason"]
)
LATE_EVENTS = Counter(
    "cepflow_late_events", "Events older than a rule's watermark, sent to the late-events topic.", ["rule"]
)
EXECUTIONS = Counter("cepflow_executions", "Executions produced by detection, by rule and status.", ["rule", "status"])
ACTIVE_GROUPS = Gauge(
    "cepflow_active_groups", "Group keys holding detection state in this process, by rule.", ["rule"]
)


@lru_cache(maxsize=65536)
def active_groups(rule: str) -> Gauge:
    """`ACTIVE_GROUPS` of one rule, looked up once: it changes per key created or discarded, and
    `labels()` (a lock and a tuple) was 2% of the bench's memory figure.
    """
    return ACTIVE_GROUPS.labels(rule)


def reason_class(reason: str) -> str:
    """`invalid JSON: unexpected character ...` -> `invalid JSON`: the part that names the kind."""
    return reason.split(":", 1)[0].strip()


def count_executions(executions: Iterable[Execution]) -> None:
    """Count executions by rule and status (`cepflow_executions_total`)."""
    for execution in executions:
        EXECUTIONS.labels(execution.rule_name, execution.status).inc()
DEPENDENCY_UP = Gauge(
    "cepflow_dependency_up", "1 while the dependency (postgresql, kafka) answers, 0 during an outage.", ["dependency"]
)
OUTAGE_RETRIES = Counter(
    "cepflow_outage_retries", "Waits of the engine for a dependency that did not answer, by dependency.",
    ["dependency"],
)
