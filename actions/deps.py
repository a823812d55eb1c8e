"""What the action paths (the sink, manual triggers, redrive) need from their process.

The composition root (`cepflow/resources.py`) builds one object that has all of it; the code here
only names what it uses, so that nothing in `actions/` reaches up to build or look up resources.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from sqlalchemy.orm import Session, sessionmaker

from dataflow.kafka_out import ReliableProducer
from dataflow.watermark import WatermarkClock

if TYPE_CHECKING:
    from actions.pipeline import ActionPipeline
    from actions.registry import ActionRegistry


class ActionSettings(Protocol):
    """The deployment settings the action paths read."""

    @property
    def brokers(self) -> list[str]: ...

    @property
    def action_dead_letter_topic(self) -> str: ...

    @property
    def action_deadline_s(self) -> float: ...


class ActionDeps(Protocol):
    """One process's action machinery, built lazily by the composition root."""

    @property
    def settings(self) -> ActionSettings: ...

    @property
    def sessions(self) -> sessionmaker[Session]: ...

    @property
    def pipeline(self) -> ActionPipeline: ...

    @property
    def registry(self) -> ActionRegistry: ...

    @property
    def producer(self) -> ReliableProducer: ...

    @property
    def clock(self) -> WatermarkClock: ...
