"""`api_script`: run a stored script API (the API manager) in the sandboxed script runner.

Error messages and codes are those of the original system (RULES.md §5).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session, sessionmaker

from actions.context import ActionRun, template_context
from actions.outcome import ActionOutcome
from dataflow.rules.model import ApiScriptAction
from storage.repositories.script_apis import ScriptApiRepository

if TYPE_CHECKING:
    from actions.script_runner import ScriptRunner


def script_references(api: Any, result: Any) -> dict[str, Any]:
    return {
        "api_id": str(api.id),
        "name": api.name,
        "version": api.version,
        "duration_ms": result.duration_ms,
        "exit_status": result.exit_status,
    }


class ApiScriptExecutor:
    """One attempt: load the API definition, run it, report `{output, logs, references}`."""

    def __init__(self, sessions: sessionmaker[Session], runner: Callable[[], ScriptRunner]) -> None:
        self._sessions = sessions
        self._runner = runner

    def __call__(self, action: ApiScriptAction, run: ActionRun) -> ActionOutcome:
        started = time.monotonic()
        with self._sessions() as session:
            api = ScriptApiRepository(session).get(action.api_id)
            if api is None:
                return ActionOutcome(ok=False, retryable=False, status_code=404, error="API definition not found")
            if api.type != "script":
                return ActionOutcome(ok=False, retryable=False, status_code=400, error="API is not a script type")
            source, timeout_ms, memory_mb = api.source, api.timeout_ms, api.memory_mb
        from actions.script_runner import ScriptLimits  # the runner starts processes: load on use

        limits = ScriptLimits(timeout_s=timeout_ms / 1000, memory_mb=memory_mb)
        context = template_context(run.execution)
        result = self._runner().run(source, action.params, action.input, context, limits)
        summary = {"output": result.output, "logs": result.logs, "references": script_references(api, result)}
        duration_ms = (time.monotonic() - started) * 1000
        if result.ok:
            return ActionOutcome(ok=True, retryable=False, status_code=200, summary=summary, duration_ms=duration_ms)
        return ActionOutcome(
            ok=False,
            retryable=False,
            status_code=500,
            error=result.error or result.exit_status,
            summary=summary,
            duration_ms=duration_ms,
        )
