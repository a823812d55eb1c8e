"""The execution-log record: one frozen value per `exec_logs` row, field for field (RULES.md §7).

Every path that logs an execution (the stream, manual triggers, chain refusals, redrive) builds
this record and `ExecLogRepository.insert` writes it; a new column is a new field here, in the
model and in a migration (`tests/storage/test_records.py` checks the record and the model agree).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, fields
from typing import Any, Literal

LogStatus = Literal["success", "fail", "dry_run", "skipped"]


@dataclass(frozen=True, slots=True)
class ExecLogRecord:
    """One execution as logged; `reason` is set for `skipped` and `dry_run` rows."""

    rule_name: str
    status: LogStatus
    executed_by: str
    idempotency_key: str
    rule_id: uuid.UUID | str | None = None
    rule_version: int | None = None
    reason: str | None = None
    duration_ms: float = 0.0
    references: dict[str, Any] = field(default_factory=dict)
    error_message: str | None = None
    group_key: dict[str, Any] = field(default_factory=dict)
    chain_id: str | None = None

    def as_row(self) -> dict[str, Any]:
        """The record as column values, for a bulk insert."""
        return {name: getattr(self, name) for name in RECORD_FIELDS}


RECORD_FIELDS = tuple(f.name for f in fields(ExecLogRecord))
