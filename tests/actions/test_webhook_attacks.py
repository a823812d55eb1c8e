"""Attacks on the webhook executor, against real sockets on loopback only.

The victim is a receiver on 127.0.0.1 that the guard does not allow; the only allowed target is
127.0.0.2 (`allow_cidrs`), and the test resolver answers 127.0.0.2 for every name — so a request
that reaches the victim got past the guard by a disagreement between guard and client.
"""

from __future__ import annotations

import gzip
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator

import pytest

from actions.ssrf import TargetGuard
from actions.webhook import WebhookExecutor
from cepflow.receiver import Receiver, Reply
from rules.model import WebhookAction

ALLOWED = "127.0.0.2"
SLACK_TOKEN = "XXXXXXXXXXXXXXXXXXXXXXXX"


def to_allowed(host: str, port: int) -> list[str]:
    return [ALLOWED]


@pytest.fixture
def victim() -> Iterator[Receiver]:
    with Receiver() as receiver:
        yield receiver


@pytest.fixture
def allowed() -> Iterator[Receiver]:
    with Receiver(host=ALLOWED) as receiver:
        yield receiver


@pytest.fixture
def executor() -> Iterator[WebhookExecutor]:
    executor = WebhookExecutor(TargetGuard(allow_cidrs=[f"{ALLOWED}/32"], resolver=to_allowed))
    yield executor
    executor.close()


def send(executor: WebhookExecutor, url: str, **fields):
    return executor.attempt(WebhookAction(endpoint=url, **fields), "key", 1700000000)


# 1. The guard and the client agree on the host -------------------------------------------------


@pytest.mark.parametrize(
    "template",
    [
        "http://127.0.0.1:{port}\\@allowed.test/hook",
        "http://2130706433:{port}/hook",
        "http://0177.0.0.1:{port}/hook",
        "http://0x7f.0.0.1:{port}/hook",
        "http://127.1:{port}/hook",
        "http://localhost:{port}/hook",  # the guard's answer is 127.0.0.2; the system's is 127.0.0.1
        "http://localhost.:{port}/hook",
    ],
)
def test_a_url_the_guard_allows_never_reaches_another_host(victim, executor, template):
    outcome = send(executor, template.format(port=victim.port))
    assert not outcome.ok
    time.sleep(0.05)
    assert victim.requests == []


def test_the_connection_goes_to_the_checked_address_with_the_original_host_header(allowed, executor):
    outcome = send(executor, f"http://localhost:{allowed.port}/hook?a=1", params={"b": "2"})
    assert outcome.ok, outcome.error
    (got,) = allowed.wait_for(1)
    assert got.headers["host"] == f"localhost:{allowed.port}"
    assert got.query == {"a": ["1"], "b": ["2"]}


def test_when_a_checked_address_refuses_the_next_checked_one_is_tried(allowed):
    guard = TargetGuard(allow_cidrs=["127.0.0.0/29"], resolver=lambda host, port: ["127.0.0.3", ALLOWED])
    executor = WebhookExecutor(guard)
    try:
        assert send(executor, f"http://localhost:{allowed.port}/hook").ok
    finally:
        executor.close()
    assert len(allowed.requests) == 1


def test_ipv6_targets_are_pinned_too():
    try:
        server = socket.create_server(("::1", 0), family=socket.AF_INET6)
    except OSError:
        pytest.skip("no IPv6 loopback here")
    received: list[bytes] = []

    def answer() -> None:
        connection, _ = server.accept()
        with connection:
            received.append(connection.recv(65536))
            connection.sendall(b"HTTP/1.1 204 No Content\r\n\r\n")

    threading.Thread(target=answer, daemon=True).start()
    port = server.getsockname()[1]
    executor = WebhookExecutor(TargetGuard(allow_cidrs=["::1/128"]))
    try:
        outcome = send(executor, f"http://[::1]:{port}/v6")
    finally:
        executor.close()
        server.close()
    assert outcome.ok, outcome.error
    assert f"host: [::1]:{port}" in received[0].decode().lower()


def test_an_author_cannot_override_the_host_header(allowed, executor):
    outcome = send(executor, f"http://localhost:{allowed.port}/hook", headers={"Host": "internal"})
    assert not outcome.ok and not outcome.retryable and "set by the engine" in outcome.error
    assert allowed.requests == []


def test_redirects_are_not_followed_even_to_allowed_hosts(allowed, victim, executor):
    allowed.always("/hook", Reply(307, {"location": victim.url("/stolen")}))
    outcome = send(executor, f"http://localhost:{allowed.port}/hook")
    assert not outcome.ok and outcome.status_code == 307
    assert len(allowed.requests) == 1 and victim.requests == []


# 5. No ambient credentials, no secrets in what is recorded --------------------------------------


def test_netrc_and_proxy_variables_are_not_used(allowed, victim, executor, tmp_path, monkeypatch):
    netrc = tmp_path / ".netrc"
    netrc.write_text(f"machine localhost login user password hunter2\nmachine {ALLOWED} login user password hunter2\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("NETRC", str(netrc))
    for name in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.setenv(name, f"http://127.0.0.1:{victim.port}")
    for name in ("no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    assert send(executor, f"http://localhost:{allowed.port}/hook").ok
    (got,) = allowed.wait_for(1)
    assert "authorization" not in got.headers
    assert victim.requests == []  # the "proxy"


def test_secrets_in_the_url_are_not_recorded(allowed, executor):
    redirect = Reply(302, {"location": "https://x.test/?token=s3cr3t"})
    allowed.always(f"/services/T0AAAAAAA/B0BBBBBBB/{SLACK_TOKEN}", redirect)
    url = f"http://localhost:{allowed.port}/services/T0AAAAAAA/B0BBBBBBB/{SLACK_TOKEN}?sig=s3cr3t"
    outcome = send(executor, url)
    assert outcome.status_code == 302
    refused = send(executor, f"http://user:pa55word@localhost:{allowed.port}/hook")
    with socket.socket() as probe:
        probe.bind((ALLOWED, 0))
        closed = probe.getsockname()[1]
    unreachable = send(executor, f"http://localhost:{closed}/hooks/{SLACK_TOKEN}?sig=s3cr3t")
    assert unreachable.retryable
    for recorded in (repr(outcome), repr(refused), repr(unreachable)):
        for secret in (SLACK_TOKEN, "s3cr3t", "pa55word", "T0AAAAAAA"):
            assert secret not in recorded
    assert outcome.summary["url"] == f"http://localhost:{allowed.port}/services/[redacted]/[redacted]/[redacted]"


# 6. An attempt is bounded as a whole ------------------------------------------------------------


class Dripper:
    """A TCP server on 127.0.0.1: sends `head` at once, then `drip` one byte every 0.4 s."""

    def __init__(self, head: bytes, drip: bytes, every_s: float = 0.4) -> None:
        self._head = head
        self._drip = drip
        self._every_s = every_s
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        try:
            connection, _ = self._server.accept()
        except OSError:
            return
        with connection:
            try:
                connection.recv(65536)
                connection.sendall(self._head)
                for byte in self._drip:
                    connection.sendall(bytes([byte]))
                    time.sleep(self._every_s)
            except OSError:
                return

    def __enter__(self) -> Dripper:
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.close()


@pytest.fixture
def local_executor() -> Iterator[WebhookExecutor]:
    executor = WebhookExecutor(TargetGuard(allow_hosts=["127.0.0.1"]))
    yield executor
    executor.close()


@pytest.mark.parametrize(
    ("head", "drip"),
    [
        (b"", b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 20),  # the status line and headers drip
        (b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", b"b" * 20),  # the body drips
    ],
    ids=["headers", "body"],
)
def test_a_dripping_target_is_cut_at_the_timeout(local_executor, head, drip):
    # Before: each byte reset the 1 s read timeout, so the attempt lasted the whole drip (~8 s).
    with Dripper(head, drip) as dripper:
        started = time.monotonic()
        outcome = send(local_executor, f"http://127.0.0.1:{dripper.port}/hook", timeout=1000)
        elapsed = time.monotonic() - started
    assert not outcome.ok and outcome.retryable and outcome.error == "timed out after 1000 ms"
    assert elapsed < 1.4


def test_an_attempt_never_outlives_the_batch_deadline(local_executor):
    with Dripper(b"", b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 20) as dripper:
        started = time.monotonic()
        outcome = local_executor.attempt(
            WebhookAction(endpoint=f"http://127.0.0.1:{dripper.port}/hook", timeout=30_000),
            "key",
            1700000000,
            deadline=started + 0.8,
        )
        elapsed = time.monotonic() - started
    assert not outcome.ok and outcome.retryable and "action_deadline_s" in outcome.error
    assert elapsed < 1.2


def test_a_passed_batch_deadline_sends_nothing(victim):
    executor = WebhookExecutor(TargetGuard(allow_hosts=["127.0.0.1"]))
    try:
        outcome = executor.attempt(WebhookAction(endpoint=victim.url()), "key", 1, deadline=time.monotonic() - 1)
    finally:
        executor.close()
    assert not outcome.ok and outcome.retryable and "action_deadline_s" in outcome.error
    assert victim.requests == []


# https: pinned to the address, verified against the name ----------------------------------------


class TlsServer:
    """An https server on 127.0.0.2 with a self-signed certificate for `localhost`."""

    def __init__(self, directory) -> None:
        self.cert, key = str(directory / "cert.pem"), str(directory / "key.pem")
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", key, "-out", self.cert, "-days", "1", "-subj", "/CN=localhost",
             "-addext", "subjectAltName=DNS:localhost"],
            check=True, capture_output=True,
        )
        self.server_names: list[str | None] = []
        self.hosts: list[str] = []
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, key)
        context.sni_callback = lambda sock, name, ctx: self.server_names.append(name)
        self._context = context
        self._server = socket.create_server((ALLOWED, 0))
        self.port = self._server.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                raw, _ = self._server.accept()
            except OSError:
                return
            try:
                with self._context.wrap_socket(raw, server_side=True) as tls:
                    data = b""
                    while b"\r\n\r\n" not in data and (chunk := tls.recv(65536)):
                        data += chunk
                    request = data.decode()
                    self.hosts += [line[6:] for line in request.split("\r\n") if line.lower().startswith("host: ")]
                    tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            except (OSError, ssl.SSLError):
                raw.close()

    def close(self) -> None:
        self._server.close()


def test_https_sends_the_name_as_server_name_and_verifies_the_certificate_against_it(tmp_path):
    server = TlsServer(tmp_path)
    executor = WebhookExecutor(TargetGuard(allow_cidrs=[f"{ALLOWED}/32"], resolver=to_allowed), ca_certs=server.cert)
    try:
        good = send(executor, f"https://localhost:{server.port}/hook", method="GET")  # GET: no body to drain
        wrong_name = send(executor, f"https://other.test:{server.port}/hook", method="GET")  # the same address
    finally:
        executor.close()
        server.close()
    assert good.ok, good.error
    assert server.server_names[0] == "localhost" and server.hosts == [f"localhost:{server.port}"]
    assert not wrong_name.ok and wrong_name.error.startswith("connection error")
    assert "other.test" in server.server_names  # it connected, then refused the certificate


def test_a_slow_name_server_does_not_hold_the_attempt_past_its_timeout(victim):
    def slow_dns(host: str, port: int) -> list[str]:
        time.sleep(3)  # a name server the rule author runs, answering slowly
        return [ALLOWED]

    executor = WebhookExecutor(TargetGuard(allow_cidrs=[f"{ALLOWED}/32"], resolver=slow_dns))
    try:
        started = time.monotonic()
        outcome = send(executor, "http://slow.test/hook", timeout=500)
        elapsed = time.monotonic() - started
    finally:
        executor.close()
    assert not outcome.ok and outcome.retryable
    assert outcome.error == "timed out after 500 ms (resolving the host)"
    assert elapsed < 1.0


def test_a_compressed_answer_is_not_inflated(allowed, executor):
    bomb = gzip.compress(b"\0" * 50_000_000)  # 50 MB of zeros in ~50 KB
    allowed.always("/hook", Reply(500, {"content-encoding": "gzip"}, bomb))
    outcome = send(executor, f"http://localhost:{allowed.port}/hook")
    assert outcome.status_code == 500
    assert outcome.summary["response"].startswith("\x1f\ufffd")  # the gzip magic, stored as sent
