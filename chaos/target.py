"""The webhook target of the chaos suite: records every request, verifies its signature with the
official Standard Webhooks library (not our own `actions/signing.py`), and can go down.

Down means down: the listening socket is closed and connections kept alive by the engine are
dropped without an answer, so the engine sees connection errors (not HTTP statuses); up again
listens on the same port. What arrives while down is not received, so it is not recorded.
"""

from __future__ import annotations

import base64
import secrets
import threading

from standardwebhooks import Webhook, WebhookVerificationError

from cepflow.receiver import ReceivedRequest, Receiver
from chaos.history import Delivery, ExecKey


def new_secret() -> str:
    """A random `whsec_` signing secret (the engine's CEPFLOW_WEBHOOK_SIGNING_SECRET)."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def delivery_of(request: ReceivedRequest, verifier: Webhook) -> Delivery:
    """A received request as a `Delivery`: its execution read from the chaos body, if any."""
    try:
        verifier.verify(request.body, request.headers, json_parse=False)
        signature_ok = True
    except (WebhookVerificationError, ValueError):
        signature_ok = False
    body = request.json if isinstance(request.json, dict) else {}
    key: ExecKey | None = None
    try:
        key = (str(body["rule"]), str(body["group"]), int(body["at"]))
    except (KeyError, TypeError, ValueError):
        key = None
    event = body.get("event")
    return Delivery(webhook_id=request.headers.get("webhook-id", ""), key=key,
                    event_id=str(event) if event else None, received_wall=request.received_wall,
                    signature_ok=signature_ok)


class Target:
    """A `Receiver` on a fixed loopback port that outlives its own downtime."""

    def __init__(self, secret: str, path: str = "/chaos") -> None:
        self.secret = secret
        self.path = path
        self._verifier = Webhook(secret)
        self._lock = threading.Lock()
        self._deliveries: list[Delivery] = []
        self._receiver: Receiver | None = None
        self._down = threading.Event()
        self.port = 0

    def _record(self, request: ReceivedRequest) -> None:
        if self._down.is_set():
            message = "the chaos target is down"
            raise ConnectionAbortedError(message)  # the server drops the connection, no answer
        delivery = delivery_of(request, self._verifier)
        with self._lock:
            self._deliveries.append(delivery)

    def up(self) -> None:
        self._down.clear()
        receiver = Receiver(port=self.port, on_request=self._record)
        self._receiver = receiver.__enter__()
        self.port = receiver.port

    def down(self) -> None:
        self._down.set()
        if self._receiver is not None:
            self._receiver.__exit__(None, None, None)
            self._receiver = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    @property
    def deliveries(self) -> list[Delivery]:
        with self._lock:
            return list(self._deliveries)

    def __enter__(self) -> Target:
        self.up()
        return self

    def __exit__(self, *exc: object) -> None:
        self.down()
