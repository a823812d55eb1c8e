"""A local HTTP endpoint that records what it receives: webhook target of the tests and the demo.

In tests::

    with Receiver() as receiver:
        receiver.script("/hook", [500, 500, 200])   # then 200 forever
        ... fire a webhook at receiver.url("/hook") ...
        first, second, third = receiver.wait_for(3, timeout=5)

As a program, `python -m cepflow.receiver --port 8099` prints each request as one JSON line on
stdout (and where it listens on stderr) until interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True)
class Reply:
    """One scripted answer: a status, and optionally headers (e.g. `Retry-After`) and a body."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b'{"ok": true}'


@dataclass(frozen=True)
class ReceivedRequest:
    """One recorded request; `received_at` is `time.monotonic()`, `received_wall` is `time.time()`."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # names lower-cased
    body: bytes
    json: Any  # the parsed body, or None when it is not JSON
    received_at: float
    received_wall: float

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready view (the body as text when it is not JSON)."""
        return {
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "headers": self.headers,
            "json": self.json,
            "body": None if self.json is not None else self.body.decode("utf-8", "replace"),
            "received_at": self.received_at,
            "received_wall": self.received_wall,
        }

    @classmethod
    def from_dict(cls, line: dict[str, Any]) -> ReceivedRequest:
        """The request of one line the program printed (`as_dict`)."""
        body = json.dumps(line["json"]).encode() if line["json"] is not None else line["body"].encode()
        return cls(method=line["method"], path=line["path"], query=line["query"], headers=line["headers"],
                   body=body, json=line["json"], received_at=line["received_at"],
                   received_wall=line["received_wall"])


def _parse_json(body: bytes) -> Any:
    try:
        return json.loads(body) if body else None
    except ValueError:
        return None


class Receiver:
    """A `ThreadingHTTPServer` on 127.0.0.1 (an ephemeral port unless given); thread-safe.

    `delay_s` holds every answer back that long (a slow target). `on_request` is called with each
    recorded request, on the server's thread.
    """

    def __init__(
        self,
        delay_s: float = 0.0,
        host: str = "127.0.0.1",
        port: int = 0,
        on_request: Callable[[ReceivedRequest], None] | None = None,
    ) -> None:
        self.delay_s = delay_s
        self._host = host
        self._on_request = on_request
        self._changed = threading.Condition()
        self._requests: list[ReceivedRequest] = []
        self._scripts: dict[str, deque[Reply]] = {}
        self._fixed: dict[str, Reply] = {}
        self._server = _Server((host, port), _handler_for(self))
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="receiver", daemon=True
        )

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def url(self, path: str = "/hook") -> str:
        return f"http://{self._host}:{self.port}{path}"

    @property
    def requests(self) -> list[ReceivedRequest]:
        """A snapshot of every request received so far, in arrival order."""
        with self._changed:
            return list(self._requests)

    def script(self, path: str, replies: Iterable[int | Reply]) -> None:
        """Answer the next requests on `path` with these statuses in turn, then 200."""
        with self._changed:
            self._scripts[path] = deque(r if isinstance(r, Reply) else Reply(r) for r in replies)

    def always(self, path: str, reply: int | Reply) -> None:
        """Answer every request on `path` (once its script, if any, has run out) with this."""
        with self._changed:
            self._fixed[path] = reply if isinstance(reply, Reply) else Reply(reply)

    def wait_for(self, n: int, timeout: float = 5.0) -> list[ReceivedRequest]:
        """Every request so far, once there are at least `n`; TimeoutError after `timeout` s."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self._requests) >= n, timeout):
                message = f"received {len(self._requests)} of {n} requests in {timeout} s"
                raise TimeoutError(message)
            return list(self._requests)

    def _record(self, request: ReceivedRequest) -> Reply:
        with self._changed:
            self._requests.append(request)
            self._changed.notify_all()
            script = self._scripts.get(request.path)
            reply = script.popleft() if script else self._fixed.get(request.path, Reply(200))
        if self._on_request is not None:
            self._on_request(request)
        return reply


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # closing does not wait for idle keep-alive connections (up to 30 s)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that hang up (a timed-out webhook) are expected here, not worth a traceback."""


def _handler_for(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, so connection pooling is exercised
        timeout = 30  # idle keep-alive connections end eventually
        disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms ACK wait

        def _handle(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            parts = urlsplit(self.path)
            request = ReceivedRequest(
                method=self.command,
                path=parts.path,
                query=parse_qs(parts.query, keep_blank_values=True),
                headers={k.lower(): v for k, v in self.headers.items()},
                body=body,
                json=_parse_json(body),
                received_at=time.monotonic(),
                received_wall=time.time(),
            )
            reply = receiver._record(request)
            if receiver.delay_s:
                time.sleep(receiver.delay_s)
            self.send_response(reply.status)
            for name, value in {"content-type": "application/json", **reply.headers}.items():
                self.send_header(name, value)
            self.send_header("content-length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        def log_message(self, *args: Any) -> None:
            """Quiet: the requests are the output."""

    return Handler


def main(argv: list[str] | None = None) -> None:
    """Serve on loopback and print each request as a JSON line (for debugging webhooks)."""
    parser = argparse.ArgumentParser(description="Print every HTTP request received as a JSON line.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8099)
    args = parser.parse_args(argv)

    printing = threading.Lock()  # requests arrive on several threads: one whole line each

    def show(request: ReceivedRequest) -> None:
        line = json.dumps(request.as_dict())
        with printing:
            print(line, flush=True)

    with Receiver(host=args.host, port=args.port, on_request=show) as receiver:
        print(f"listening on http://{args.host}:{receiver.port}", file=sys.stderr, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":
    main()
