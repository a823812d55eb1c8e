"""`webhook`: one HTTP request per attempt; the retry stage decides whether to try again.

Classification (RULES.md §5): 2xx succeeds; 5xx, 429, connection errors and timeouts are
retryable; every other status fails at once — redirects included, since they are not followed
(a redirect could lead past the target guard). Nothing here raises for an HTTP problem: every
failure is an `ActionOutcome` with the reason.

Every request carries the Standard Webhooks headers `webhook-id` (the caller's idempotency key,
identical on every attempt and replay), `webhook-timestamp` and, with a signing secret,
`webhook-signature` over the exact bytes sent.

An attempt is bounded as a whole: it ends by `action.timeout` after it starts, and never after
the batch deadline (`action_deadline_s`) it is given — connect, headers and body included.
What is recorded of the URL is `redact_url` of it (no userinfo, query or token-like path
segments); error texts never quote the URL, headers or the target's exception messages.
"""

from __future__ import annotations

import email.utils
import time
from dataclasses import replace
from datetime import UTC
from typing import Any
from urllib.parse import urlencode

import orjson
import urllib3

from actions.outcome import ActionOutcome
from actions.pinned_http import DeadlineExceeded, HttpReply, PinnedHttp
from actions.signing import secret_key, sign
from actions.ssrf import ResolutionTimedOut, TargetGuard, TargetRefused
from actions.webhook_url import redact_url
from rules.model import WebhookAction

BODYLESS_METHODS = frozenset({"GET", "DELETE"})
RESPONSE_EXCERPT_CHARS = 512
# Longer responses are cut here; their connection is then closed rather than returned to the pool.
MAX_RESPONSE_BYTES = 64 * 1024
USER_AGENT = "cepflow-webhook"
# Header names are HTTP tokens; values hold no line breaks or NULs (no header injection).
_TOKEN_CHARS = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_SET_BY_ENGINE = frozenset({"host", "content-length", "transfer-encoding", "connection"})


def retry_after_s(value: str | None) -> float | None:
    """Seconds asked for by a `Retry-After` header (delta-seconds or HTTP-date), if any."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - time.time())


def _query_value(value: Any) -> str:
    """A query parameter as text; booleans and structures the JSON way."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool | dict | list):
        return orjson.dumps(value).decode()
    return str(value)


def query_params(params: dict[str, Any]) -> list[tuple[str, str]]:
    """`params` as query pairs: a list repeats its key, a None value is left out."""
    pairs: list[tuple[str, str]] = []
    for key, value in params.items():
        for item in value if isinstance(value, list) else [value]:
            if item is not None:
                pairs.append((key, _query_value(item)))
    return pairs


def request_body(action: WebhookAction) -> bytes | None:
    """The JSON bytes to send; none for a GET or DELETE without `body`."""
    if action.body is None and action.method in BODYLESS_METHODS:
        return None
    return orjson.dumps(action.body)


def _excerpt(body: bytes) -> str:
    # 4 bytes per char at most: enough bytes for the excerpt, however it is encoded.
    return body[: 4 * RESPONSE_EXCERPT_CHARS].decode("utf-8", "replace")[:RESPONSE_EXCERPT_CHARS]


def header_problem(headers: dict[str, str]) -> str | None:
    """Why these headers cannot be sent (naming the header, not its value), or None."""
    for name, value in headers.items():
        if not name or not set(name) <= _TOKEN_CHARS:
            return f"header name {name[:40]!r} is not a valid HTTP token"
        if any(c in value for c in "\r\n\0"):
            return f"header {name!r} contains a line break or NUL"
        if name.lower() in _SET_BY_ENGINE:
            return f"header {name!r} is set by the engine"
    return None


def _error_brief(exc: BaseException) -> str:
    """A short cause without the URL or anything the target sent: the OS reason, else the type."""
    seen: object = exc
    innermost = exc
    for _ in range(10):  # a chain of causes, not a cycle
        if not isinstance(seen, BaseException):
            break
        if isinstance(seen, OSError) and seen.strerror:
            return seen.strerror
        innermost = seen
        args = [a for a in seen.args if isinstance(a, BaseException)]
        seen = getattr(seen, "reason", None) or (args[0] if args else None) or seen.__cause__ or seen.__context__
    inner = "" if innermost is exc else f" ({type(innermost).__name__})"
    return f"{type(exc).__name__}{inner}"


class WebhookExecutor:
    """Sends webhooks through pinned, pooled connections shared by the sink's action threads.

    `pool_maxsize` should be at least the number of actions run concurrently, so that parallel
    requests to one host reuse connections instead of opening throw-away ones.
    """

    def __init__(
        self,
        guard: TargetGuard,
        signing_secret: str | None = None,
        pool_maxsize: int = 32,
        *,
        ca_certs: str | None = None,
    ) -> None:
        if signing_secret is not None:
            secret_key(signing_secret)  # a bad secret fails at start-up, not on every request
        self._guard = guard
        self._secret = signing_secret
        self._http = PinnedHttp(pool_maxsize, ca_certs=ca_certs)

    def close(self) -> None:
        """Close pooled connections."""
        self._http.close()

    def attempt(
        self, action: WebhookAction, webhook_id: str, timestamp: int, *, deadline: float | None = None
    ) -> ActionOutcome:
        """One request; `webhook_id` and `timestamp` are the caller's, the same on every attempt.

        It ends by `action.timeout` or by `deadline` (a `time.monotonic()` instant), the earlier.
        """
        started = time.monotonic()
        own_deadline = started + action.timeout / 1000
        cut_by_batch = deadline is not None and deadline < own_deadline
        request: dict[str, Any] = {"method": action.method, "url": redact_url(action.endpoint)}

        def failed(error: str, retryable: bool) -> ActionOutcome:
            return _finish(ActionOutcome(ok=False, retryable=retryable, error=error, summary=request), started)

        ends = own_deadline if deadline is None else min(own_deadline, deadline)
        timed_out = (
            "timed out: the batch deadline (action_deadline_s) passed"
            if cut_by_batch
            else f"timed out after {action.timeout} ms"
        )
        try:
            target = self._guard.pin(_with_params(action), deadline=ends)
        except TargetRefused as exc:
            return failed(f"target refused: {exc}", retryable=False)
        except ResolutionTimedOut:
            return failed(f"{timed_out} (resolving the host)", retryable=True)
        try:
            body = request_body(action)
        except orjson.JSONEncodeError as exc:
            return failed(f"body is not JSON: {exc}", retryable=False)
        if (problem := header_problem(dict(action.headers))) is not None:
            return failed(f"request error: {problem}", retryable=False)
        headers = self._headers(action, webhook_id, timestamp, body)
        try:
            reply = self._http.send(
                target, action.method, headers, body, deadline=ends, max_bytes=MAX_RESPONSE_BYTES
            )
        except urllib3.exceptions.NewConnectionError as exc:  # a subclass of the connect timeout
            return failed(f"connection error: {_error_brief(exc)}", retryable=True)
        except (DeadlineExceeded, urllib3.exceptions.TimeoutError):
            return failed(timed_out, retryable=True)
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            return failed(f"connection error: {_error_brief(exc)}", retryable=True)
        except ValueError as exc:
            return failed(f"request error: {type(exc).__name__}", retryable=False)
        return _finish(_classify(reply, request), started)

    def _headers(self, action: WebhookAction, webhook_id: str, timestamp: int, body: bytes | None) -> dict[str, str]:
        headers = {"user-agent": USER_AGENT}
        if body is not None:
            headers["content-type"] = "application/json"  # the action may override it
        lowered = {name.lower(): value for name, value in action.headers.items()}
        headers.update(lowered)
        headers["webhook-id"] = webhook_id
        headers["webhook-timestamp"] = str(timestamp)
        if self._secret is not None:
            headers["webhook-signature"] = sign(self._secret, webhook_id, timestamp, body or b"")
        return headers


def _with_params(action: WebhookAction) -> str:
    """The endpoint with `params` appended to its query (encoded as forms are)."""
    pairs = query_params(action.params)
    if not pairs:
        return action.endpoint
    base, _, fragment = action.endpoint.partition("#")
    joiner = "&" if "?" in base else "?"
    return base + joiner + urlencode(pairs) + (f"#{fragment}" if fragment else "")


def _classify(reply: HttpReply, request: dict[str, Any]) -> ActionOutcome:
    status = reply.status
    summary = {**request, "status": status, "response": _excerpt(reply.body)}
    if 200 <= status < 300:
        return ActionOutcome(ok=True, retryable=False, status_code=status, summary=summary)
    retryable = status == 429 or status >= 500
    delay = retry_after_s(reply.headers.get("retry-after")) if retryable else None
    error = f"HTTP {status}"
    if 300 <= status < 400:
        error += f" redirect to {redact_url(reply.headers.get('location', '?'))} (redirects are not followed)"
    return ActionOutcome(ok=False, retryable=retryable, status_code=status, error=error, summary=summary,
                         retry_after_s=delay)


def _finish(outcome: ActionOutcome, started: float) -> ActionOutcome:
    """The outcome with this attempt's duration, in the summary too (it is what the log shows)."""
    duration_ms = (time.monotonic() - started) * 1000
    return replace(outcome, duration_ms=duration_ms, summary={**outcome.summary, "duration_ms": round(duration_ms, 3)})
