"""`api_script`: run a stored script API (the API manager) in the sandboxed script runner.

Error messages and codes are those of the original system (RULES.md §5). An API with
`network: true` is refused (status 403, not retried): its runs would need outbound access limited
to public addresses, which the sandbox cannot enforce yet -- every run gets a network namespace
with no interface up (docs/SECURITY.md). So is a stored API whose timeout or memory_mb is
beyond the bounds that apply time checks (a row from before them).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session, sessionmaker

from actions.outcome import ActionOutcome
from dataflow.periodic import Periodic
from dataflow.template_context import ActionRun, template_context
from rules.model import MAX_SCRIPT_MEMORY_MB, MAX_SCRIPT_TIMEOUT_MS, ApiScriptAction
from storage.repositories.script_apis import ScriptApiRepository

if TYPE_CHECKING:
    from actions.script_runner import ScriptRunner


NETWORK_REFUSED = ("network: true is refused: this engine cannot limit a script's network to public addresses,"
                   " so scripts run with no network at all; set network: false")


def refusal(api: ApiDefinition) -> str | None:
    """Why this stored API may not run, or None. Apply time checks the same bounds; a row stored
    before they existed (or written around `cepflow apis apply`) is refused here, not run.
    """
    if api.network:
        return NETWORK_REFUSED
    if not 0 < api.timeout_ms <= MAX_SCRIPT_TIMEOUT_MS or not 0 < api.memory_mb <= MAX_SCRIPT_MEMORY_MB:
        return (f"the API's limits are out of bounds (timeout {api.timeout_ms} ms, memory_mb {api.memory_mb};"
                f" at most {MAX_SCRIPT_TIMEOUT_MS // 1000}s and {MAX_SCRIPT_MEMORY_MB}): apply it again")
    return None


def script_references(api: Any, result: Any) -> dict[str, Any]:
    """The `references` of a script run in the log: which API, which version, how long, how it ended."""
    return {
        "api_id": str(api.id),
        "name": api.name,
        "version": api.version,
        "duration_ms": result.duration_ms,
        "exit_status": result.exit_status,
    }


@dataclass(frozen=True, slots=True)
class ApiDefinition:
    """What a run needs of a stored script API."""

    id: str
    name: str
    version: int
    type: str
    source: str
    timeout_ms: int
    memory_mb: int
    network: bool = False

    @classmethod
    def of(cls, api: Any) -> ApiDefinition:
        """The definition of a stored `ScriptApi` row."""
        return cls(str(api.id), api.name, api.version, api.type, api.source, api.timeout_ms, api.memory_mb,
                   (api.spec or {}).get("network") is True)


class ApiScriptExecutor:
    """One attempt: load the API definition, run it, report `{output, logs, references}`.

    Definitions used once are kept and re-read by a background thread every `fresh_s` (the rule
    refresh period: an edited API is used within it, as an edited rule is). Reading one per run
    cost 3-20 ms under load — more than a trivial script's 10 ms budget. A missing API is looked
    up every time, so one created later is found at once.
    """

    def __init__(self, sessions: sessionmaker[Session], runner: Callable[[], ScriptRunner],
                 fresh_s: float = 1.0) -> None:
        self._sessions = sessions
        self._runner = runner
        self._known: dict[str, ApiDefinition] = {}
        self._refresher = Periodic("cepflow-apis", fresh_s, self._refresh)

    def _load(self, ref: str) -> ApiDefinition | None:
        with self._sessions() as session:
            api = ScriptApiRepository(session).get(ref)
            if api is None:
                return None
            return ApiDefinition.of(api)

    def definition(self, ref: str) -> ApiDefinition | None:
        """The API named or identified by `ref`, at most about `fresh_s` old."""
        known = self._known.get(ref)
        if known is not None:
            return known
        found = self._load(ref)
        if found is not None:
            self._known[ref] = found
            self._refresher.start()
        return found

    def _refresh(self) -> None:
        for ref in list(self._known):
            found = self._load(ref)
            if found is None:
                self._known.pop(ref, None)
            else:
                self._known[ref] = found

    def close(self) -> None:
        self._refresher.stop()

    def __call__(self, action: ApiScriptAction, run: ActionRun) -> ActionOutcome:
        started = time.monotonic()
        api = self.definition(action.api_id)
        if api is None:
            return ActionOutcome(ok=False, retryable=False, status_code=404, error="API definition not found")
        if api.type != "script":
            return ActionOutcome(ok=False, retryable=False, status_code=400, error="API is not a script type")
        refused = refusal(api)
        if refused is not None:
            return ActionOutcome(ok=False, retryable=False, status_code=403, error=refused)
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


def run_once(api: Any, params: Any, input: Any, executed_by: str) -> dict[str, Any]:
    """Run a stored script API once, outside the engine (`cepflow apis run`, the HTTP API's test
    run): `{output, logs, error, references}`. A cold runner per call: test runs are rare.
    """
    from actions.script_runner import ScriptLimits, ScriptRunner

    refused = refusal(ApiDefinition.of(api))
    if refused is not None:  # the same refusals as in the engine: never run what it would not
        return {"output": None, "logs": [], "error": refused, "references": {"api_id": str(api.id), "name": api.name,
                                                                             "version": api.version}}
    runner = ScriptRunner(warm=0)
    try:
        result = runner.run(api.source, params, input, {"executed_by": executed_by},
                            ScriptLimits(api.timeout_ms / 1000, api.memory_mb))
    finally:
        runner.close()
    return {"output": result.output, "logs": result.logs, "error": result.error,
            "references": script_references(api, result)}
