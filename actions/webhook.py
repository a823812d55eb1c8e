"""`webhook`: one HTTP request per attempt; the retry stage decides whether to try again.

Classification (RULES.md §5): 2xx succeeds; 5xx, 429, connection errors and timeouts are
retryable; every other status fails at once — redirects included, since they are not followed
(a redirect could lead past the target guard). Nothing here raises for an HTTP problem: every
failure is an `ActionOutcome` with the reason.

Every request carries the Standard Webhooks headers `webhook-id` (the caller's idempotency key,
identical on every attempt and replay), `webhook-timestamp` and, with a signing secret,
`webhook-signature` over the exact bytes sent.
"""

from __future__ import annotations

import email.utils
import time
from dataclasses import replace
from datetime import UTC
from http.cookiejar import DefaultCookiePolicy
from typing import Any
from urllib.parse import urlsplit

import orjson
import requests
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict

from actions.outcome import RETRY_AFTER_KEY, ActionOutcome
from actions.signing import secret_key, sign
from actions.ssrf import TargetGuard
from rules.model import WebhookAction

BODYLESS_METHODS = frozenset({"GET", "DELETE"})
RESPONSE_EXCERPT_CHARS = 512
# Longer responses are cut here; their connection is then closed rather than returned to the pool.
MAX_RESPONSE_BYTES = 64 * 1024
RETRYABLE_ERRORS = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)


def display_url(url: str) -> str:
    """`scheme://host[:port]/path` — what the log shows, without credentials or query secrets."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


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


def _response_excerpt(response: requests.Response) -> str:
    data = bytearray()
    for chunk in response.iter_content(8192):
        data += chunk
        if len(data) >= MAX_RESPONSE_BYTES:
            break
    # 4 bytes per char at most: enough bytes for the excerpt, however it is encoded.
    return bytes(data[: 4 * RESPONSE_EXCERPT_CHARS]).decode("utf-8", "replace")[:RESPONSE_EXCERPT_CHARS]


def _session(pool_maxsize: int) -> requests.Session:
    session = requests.Session()
    # No urllib3 retries: retrying is the retry stage's job, with backoff and a deadline.
    adapter = HTTPAdapter(pool_maxsize=pool_maxsize, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    # Cookies set by one target must not travel with another rule's webhooks.
    session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
    session.headers["user-agent"] = "cepflow-webhook"
    return session


class WebhookExecutor:
    """Sends webhooks through one pooled session, shared by the sink's action threads.

    `pool_maxsize` should be at least the number of actions run concurrently, so that parallel
    requests to one host reuse connections instead of opening throw-away ones.
    The timeout (`action.timeout`) bounds the connect and each read, not the whole transfer.
    """

    def __init__(self, guard: TargetGuard, signing_secret: str | None = None, pool_maxsize: int = 32) -> None:
        if signing_secret is not None:
            secret_key(signing_secret)  # a bad secret fails at start-up, not on every request
        self._guard = guard
        self._secret = signing_secret
        self._session = _session(pool_maxsize)

    def close(self) -> None:
        """Close pooled connections."""
        self._session.close()

    def attempt(self, action: WebhookAction, webhook_id: str, timestamp: int) -> ActionOutcome:
        """One request; `webhook_id` and `timestamp` are the caller's, the same on every attempt."""
        started = time.monotonic()
        request: dict[str, Any] = {"method": action.method, "url": display_url(action.endpoint)}

        def failed(error: str, retryable: bool) -> ActionOutcome:
            return _finish(ActionOutcome(ok=False, retryable=retryable, error=error, summary=request), started)

        if (reason := self._guard.check(action.endpoint)) is not None:
            return failed(f"target refused: {reason}", retryable=False)
        try:
            body = request_body(action)
        except orjson.JSONEncodeError as exc:
            return failed(f"body is not JSON: {exc}", retryable=False)
        try:
            with self._session.request(
                action.method,
                action.endpoint,
                params=query_params(action.params),
                data=body,
                headers=self._headers(action, webhook_id, timestamp, body),
                timeout=action.timeout / 1000,
                allow_redirects=False,
                stream=True,
            ) as response:
                excerpt = _response_excerpt(response)
        except requests.Timeout:
            return failed(f"timed out after {action.timeout} ms", retryable=True)
        except RETRYABLE_ERRORS as exc:
            return failed(f"connection error: {exc}", retryable=True)
        except requests.RequestException as exc:
            return failed(f"request error: {exc}", retryable=False)
        return _finish(_classify(response, excerpt, request), started)

    def _headers(
        self, action: WebhookAction, webhook_id: str, timestamp: int, body: bytes | None
    ) -> CaseInsensitiveDict[str]:
        headers: CaseInsensitiveDict[str] = CaseInsensitiveDict()
        if body is not None:
            headers["content-type"] = "application/json"  # the action may override it
        headers.update(action.headers)
        headers["webhook-id"] = webhook_id
        headers["webhook-timestamp"] = str(timestamp)
        if self._secret is not None:
            headers["webhook-signature"] = sign(self._secret, webhook_id, timestamp, body or b"")
        return headers


def _classify(response: requests.Response, excerpt: str, request: dict[str, Any]) -> ActionOutcome:
    status = response.status_code
    summary = {**request, "status": status, "response": excerpt}
    if 200 <= status < 300:
        return ActionOutcome(ok=True, retryable=False, status_code=status, summary=summary)
    retryable = status == 429 or status >= 500
    if retryable and (delay := retry_after_s(response.headers.get("retry-after"))) is not None:
        summary[RETRY_AFTER_KEY] = delay
    error = f"HTTP {status}"
    if 300 <= status < 400:
        error += f" redirect to {response.headers.get('location', '?')} (redirects are not followed)"
    return ActionOutcome(ok=False, retryable=retryable, status_code=status, error=error, summary=summary)


def _finish(outcome: ActionOutcome, started: float) -> ActionOutcome:
    """The outcome with this attempt's duration, in the summary too (it is what the log shows)."""
    duration_ms = (time.monotonic() - started) * 1000
    return replace(outcome, duration_ms=duration_ms, summary={**outcome.summary, "duration_ms": round(duration_ms, 3)})
