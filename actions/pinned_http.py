"""One HTTP exchange with an address the target guard checked, within a total deadline.

- Pinned: the connection goes to `PinnedTarget.addresses` (the next one when one refuses the
  connection), never to a name resolved again; the original name travels as `Host` and, for
  https, as the TLS server name and the name the certificate must match. Pools are keyed by
  (scheme, address, port, server name), so a connection made for one name is never reused for
  another.
- Bounded: a per-read socket timeout does not bound a target that drips a byte at a time, so a
  watchdog shuts the exchange's socket down when the deadline passes — connect, TLS handshake,
  headers and body included. `DeadlineExceeded` is raised then.
- No ambient credentials: urllib3 alone reads no `~/.netrc`, no proxy variables and keeps no
  cookies; redirects and retries are off (the retry stage retries; a redirect is an answer).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

import certifi
import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from actions.ssrf import PinnedTarget
from actions.webhook_url import WebhookUrl

_local = threading.local()


class DeadlineExceeded(Exception):
    """The exchange was cut off at its deadline."""


@dataclass(frozen=True)
class HttpReply:
    """What came back: the status, the headers, and at most `max_bytes` of the body."""

    status: int
    headers: Mapping[str, str]
    body: bytes


class _Watchdog:
    """Shuts down the sockets of the connections used by one exchange when its deadline passes."""

    def __init__(self, deadline: float) -> None:
        self._lock = threading.Lock()
        self._connections: set[HTTPConnection] = set()
        self.fired = False
        self._timer = threading.Timer(max(0.0, deadline - time.monotonic()), self._fire)
        self._timer.daemon = True

    def watch(self, connection: HTTPConnection) -> None:
        with self._lock:
            self._connections.add(connection)
            if self.fired:
                _shut(connection)

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            for connection in self._connections:
                _shut(connection)

    def __enter__(self) -> _Watchdog:
        _local.watchdog = self
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()
        _local.watchdog = None
        with self._lock:
            self._connections.clear()


def _shut(connection: HTTPConnection) -> None:
    """Wake a blocked reader with EOF; plain `socket.shutdown`, below TLS, works for both."""
    sock = getattr(connection, "sock", None)
    if sock is not None:
        with suppress(OSError):
            socket.socket.shutdown(sock, socket.SHUT_RDWR)


def _watched(connection: HTTPConnection) -> None:
    watchdog = getattr(_local, "watchdog", None)
    if watchdog is not None:
        watchdog.watch(connection)


class _Watched:
    """Puts a connection under the current exchange's watchdog, new or reused from the pool."""

    def connect(self) -> None:
        _watched(self)  # type: ignore[arg-type]
        super().connect()  # type: ignore[misc]

    def request(self, *args: Any, **kwargs: Any) -> None:
        _watched(self)  # type: ignore[arg-type]
        super().request(*args, **kwargs)  # type: ignore[misc]


class _WatchedHTTPConnection(_Watched, HTTPConnection):
    pass


class _WatchedHTTPSConnection(_Watched, HTTPSConnection):
    pass


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


class PinnedHttp:
    """Connection pools for pinned exchanges, shared by the action threads (thread-safe)."""

    def __init__(self, pool_maxsize: int = 32, num_pools: int = 256, ca_certs: str | None = None) -> None:
        """`ca_certs`: a PEM bundle of the CAs to trust for https (default: certifi's)."""
        self._manager = urllib3.PoolManager(
            num_pools=num_pools, maxsize=pool_maxsize, retries=False, ca_certs=ca_certs or certifi.where()
        )
        self._manager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}

    def close(self) -> None:
        """Close pooled connections."""
        self._manager.clear()

    def send(
        self,
        target: PinnedTarget,
        method: str,
        headers: Mapping[str, str],
        body: bytes | None,
        *,
        deadline: float,
        max_bytes: int,
    ) -> HttpReply:
        """One request and its answer by `deadline` (a `time.monotonic()` instant).

        Raises DeadlineExceeded, or a urllib3/OS error for a failed exchange.
        """
        url = target.url
        with _Watchdog(deadline) as watchdog:
            try:
                for number, address in enumerate(target.addresses, 1):
                    try:
                        response = self._request(url, address, method, headers, body, deadline)
                        break
                    except urllib3.exceptions.NewConnectionError:
                        if number == len(target.addresses):
                            raise  # like socket.create_connection: the next address, if any
                data = _read_some(response, max_bytes)
            except Exception:
                if watchdog.fired:
                    raise DeadlineExceeded from None
                raise
        return HttpReply(response.status, response.headers, data)

    def _request(
        self,
        url: WebhookUrl,
        address: str,
        method: str,
        headers: Mapping[str, str],
        body: bytes | None,
        deadline: float,
    ) -> urllib3.BaseHTTPResponse:
        named_tls = url.scheme == "https" and not url.is_literal
        pool_kwargs = {"server_hostname": url.host, "assert_hostname": url.host} if named_tls else {}
        pool = self._manager.connection_from_host(address, url.port, url.scheme, pool_kwargs)
        left = deadline - time.monotonic()
        if left <= 0:
            raise DeadlineExceeded
        return pool.urlopen(
            method,
            url.target,
            body=body,
            headers={**headers, "host": url.host_header},
            retries=False,
            redirect=False,
            assert_same_host=False,
            timeout=urllib3.Timeout(connect=left, read=left),
            preload_content=False,
        )


def _read_some(response: urllib3.BaseHTTPResponse, max_bytes: int) -> bytes:
    """Up to `max_bytes` of the body as sent (never decompressed: no gzip bombs; the request asked
    for `identity`); a connection left with unread bytes is closed, not pooled.
    """
    data = bytearray()
    complete = False
    try:
        while len(data) < max_bytes:
            chunk = response.read(min(8192, max_bytes - len(data)), decode_content=False)
            if not chunk:
                complete = True
                break
            data += chunk
    finally:
        if not complete:
            response.close()
        response.release_conn()
    return bytes(data)
