"""Example rules on the real stack and the executions they produce, for the detection tests.

- `example_rule` loads a rule of `examples/rules/`, renames it (rule names are unique per test),
  points its webhooks at the test's receiver, restricts its `match` to the test's topic (so it
  never reads another test's events) and applies the changes a test needs (short durations).
- `AppliedRules` stores rules through the repository and deletes them when the test ends, so
  later tests' engines do not evaluate them.
- `logged_executions` reads a rule set's `exec_logs` rows as comparable tuples; `offline_executions`
  gives the same tuples from the offline runner (`cepflow rules test`), for parity.
"""

from __future__ import annotations

import io
import tempfile
import time
from collections.abc import Iterable, Iterator
from copy import deepcopy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from dataflow.offline import run_files
from rules.model import RuleSpec
from storage.models.exec_log import ExecLog
from storage.repositories.rules import RuleRepository
from storage.uow import unit_of_work
from tests.integration.harness import ROOT, EngineProcess, wait_until

EXAMPLES = ROOT / "examples" / "rules"

Execution = tuple[str, str, str, str, int]
"""(rule name, group as JSON, status, value as JSON, at): what parity compares."""


def _set(doc: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for key in parents:
        doc = doc.setdefault(key, {})
    doc[last] = value


def example_rule(
    file: str, *, name: str, url: str, topic: str, changes: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The first rule of `examples/rules/<file>`, made safe to run in one test.

    `changes` maps dotted paths (`detect.window.size`) to new values.
    """
    doc = deepcopy(next(yaml.safe_load_all((EXAMPLES / file).read_text())))
    doc["name"] = name
    doc.setdefault("match", {})["topic"] = [topic]
    actions = doc.get("actions") or [doc["action"]]
    for action in actions:
        if action.get("type", "webhook") == "webhook":
            action["endpoint"] = url
            action["retry"] = {"max_attempts": 1}
    for path, value in (changes or {}).items():
        _set(doc, path, value)
    RuleSpec.model_validate(doc)  # fail here, with the reason, rather than in the engine
    return doc


@dataclass
class AppliedRules:
    """Rules stored for one test; `delete()` removes them (use as a context manager)."""

    sessions: sessionmaker[Session]
    ids: dict[str, str] = field(default_factory=dict)

    def apply(self, *docs: dict[str, Any]) -> AppliedRules:
        with unit_of_work(self.sessions) as session:
            repo = RuleRepository(session)
            for doc in docs:
                rule, _ = repo.apply(doc, "integration-test")
                self.ids[doc["name"]] = str(rule.id)
        return self

    def delete(self) -> None:
        with unit_of_work(self.sessions) as session:
            repo = RuleRepository(session)
            for name in self.ids:
                if repo.get(name) is not None:
                    repo.delete(name, "integration-test")

    def __enter__(self) -> AppliedRules:
        return self

    def __exit__(self, *exc: object) -> None:
        self.delete()

    def rows(self) -> list[ExecLog]:
        """Every `exec_logs` row of these rules, oldest first."""
        with self.sessions() as session:
            stmt = select(ExecLog).where(ExecLog.rule_id.in_(list(self.ids.values()))).order_by(ExecLog.id)
            return list(session.scalars(stmt))

    def wait_rows(
        self, count: int, engine: EngineProcess, timeout: float = 30.0, settle_s: float = 1.0
    ) -> list[ExecLog]:
        """The rows once there are `count`; then waits `settle_s` more and returns them all, so a
        caller asserting exactly `count` rows also catches an extra one arriving just after.
        Fails at once, with the engine's log, if the engine stops."""

        def enough() -> bool:
            assert engine.alive(), f"the engine stopped:\n{engine.log()[-3000:]}"
            return len(self.rows()) >= count

        wait_until(enough, timeout, f"{count} exec_logs rows of {sorted(self.ids)}")
        time.sleep(settle_s)
        assert engine.alive(), f"the engine stopped:\n{engine.log()[-3000:]}"
        return self.rows()


def _json(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def logged_executions(rows: Iterable[ExecLog]) -> set[Execution]:
    """Rows as (rule, group, status, value, at); `success`/`fail` are both a `fired` execution."""
    status = {"success": "fired", "fail": "fired"}
    return {
        (row.rule_name, _json(row.group_key), status.get(row.status, row.status),
         _json(row.references["value"]), row.references["at"])
        for row in rows
    }


def offline_executions(docs: list[dict[str, Any]], events: list[dict[str, Any]]) -> set[Execution]:
    """What `cepflow rules test` says the same rules do with the same events (in that order).

    Through files, like the command: the rules as YAML, the events as JSON Lines. No event may be
    late: the comparisons using this are not about lateness.
    """
    with tempfile.TemporaryDirectory() as folder:
        rules, events_file = Path(folder) / "rules.yaml", Path(folder) / "events.jsonl"
        rules.write_text(yaml.safe_dump_all(docs))
        events_file.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
        out, err = io.StringIO(), io.StringIO()
        assert run_files([rules], events_file, out=out, err=err) == 0, err.getvalue()
    assert err.getvalue() == "", err.getvalue()
    lines = [orjson.loads(line) for line in out.getvalue().splitlines()]
    return {(x["rule"], _json(x["group"]), x["status"], _json(x["value"]), x["at"]) for x in lines}


def now_ms(align_ms: int = 1) -> int:
    """Wall-clock time in epoch ms, rounded up to a multiple of `align_ms` (window alignment)."""
    now = int(time.time() * 1000)
    return now + (-now) % align_ms


def timeline(base: int, *events: tuple[int, dict[str, Any]]) -> list[dict[str, Any]]:
    """Events at `base + offset` ms; each gets `ts` and, unless given, an `id` naming its offset."""
    out = []
    for offset, body in events:
        event = {"id": f"e{offset}", **body, "ts": base + offset}
        out.append(event)
    return out


def by_status(rows: Iterable[ExecLog]) -> Iterator[tuple[str, str | None, Any, int]]:
    """(status, reason, value, at) of each row, for exact assertions."""
    for row in rows:
        yield row.status, row.reason, row.references["value"], row.references["at"]
