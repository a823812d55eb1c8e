"""The webhook target guard: internal addresses are refused unless allow-listed."""

from __future__ import annotations

import socket

import pytest

from actions.ssrf import Resolver, TargetGuard


def no_dns(host: str, port: int) -> list[str]:
    message = f"{host} should not have been resolved"
    raise AssertionError(message)


def fake_dns(answers: dict[str, list[str]]) -> Resolver:
    def resolve(host: str, port: int) -> list[str]:
        if host not in answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return answers[host]

    return resolve


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1/hook", "loopback"),
        ("http://127.1.2.3:8080/", "loopback"),
        ("http://[::1]/", "loopback"),
        ("http://10.0.0.7/", "private"),
        ("http://172.16.5.4/", "private"),
        ("https://192.168.1.1/", "private"),
        ("http://[fd12::1]/", "private"),
        ("http://169.254.169.254/latest/meta-data/", "metadata"),
        ("http://[fd00:ec2::254]/", "metadata"),
        ("http://169.254.10.1/", "link-local"),
        ("http://[fe80::1]/", "link-local"),
        ("http://0.0.0.0/", "unspecified"),
        ("http://[::]/", "unspecified"),
        ("http://224.0.0.251/", "multicast"),
        ("http://[::ffff:127.0.0.1]/", "loopback"),
        ("http://[::ffff:169.254.169.254]/", "metadata"),
        ("http://100.64.0.1/", "not a public address"),
        ("http://metadata.google.internal/computeMetadata/v1/", "metadata"),
        ("http://METADATA.google.internal./", "metadata"),
    ],
)
def test_internal_literal_addresses_and_metadata_hosts_are_refused(url, reason):
    refusal = TargetGuard(resolver=no_dns).check(url)
    assert refusal is not None and reason in refusal


@pytest.mark.parametrize("url", ["ftp://example.com/", "file:///etc/passwd", "gopher://x/", "//example.com/", "x"])
def test_only_http_and_https_are_allowed(url):
    assert "scheme" in TargetGuard(resolver=no_dns).check(url)


def test_malformed_urls_are_refused():
    guard = TargetGuard(resolver=no_dns)
    assert "no host" in guard.check("http:///path")
    assert "invalid port" in guard.check("http://example.com:99999/")


def test_names_are_judged_by_every_address_they_resolve_to():
    guard = TargetGuard(resolver=fake_dns({"mixed.test": ["93.184.216.34", "10.1.2.3"], "ok.test": ["93.184.216.34"]}))
    assert guard.check("https://mixed.test/") == "mixed.test resolves to 10.1.2.3, a private address"
    assert guard.check("https://ok.test/hook") is None


def test_localhost_is_refused_through_the_system_resolver():
    assert "loopback" in TargetGuard().check("http://localhost:9/")


def test_unresolvable_hosts_are_refused():
    guard = TargetGuard(resolver=fake_dns({}))
    assert guard.check("https://no-such-host.invalid/") == "cannot resolve host"


def test_public_literal_address_is_allowed_without_resolving():
    assert TargetGuard(resolver=no_dns).check("http://93.184.216.34/") is None
    assert TargetGuard(resolver=no_dns).check("https://[2606:2800:220:1:248:1893:25c8:1946]/") is None


def test_allow_list_by_host_and_by_host_and_port():
    guard = TargetGuard(allow_hosts=["127.0.0.1", "Hooks.Internal:8443", "[::1]:9000"], resolver=no_dns)
    assert guard.check("http://127.0.0.1:5555/hook") is None
    assert guard.check("https://hooks.internal:8443/") is None
    assert guard.check("http://[::1]:9000/") is None
    assert "loopback" in guard.check("http://[::1]:9001/")
    with pytest.raises(AssertionError, match="resolved"):
        guard.check("https://hooks.internal:9443/")  # another port: judged by its addresses


def test_allow_list_by_cidr_also_covers_ipv4_mapped_addresses():
    guard = TargetGuard(allow_cidrs=["10.20.0.0/16", "127.0.0.1/32"], resolver=fake_dns({"svc.test": ["10.20.1.1"]}))
    assert guard.check("http://10.20.3.4/") is None
    assert guard.check("http://svc.test/") is None
    assert guard.check("http://[::ffff:10.20.3.4]/") is None
    assert guard.check("http://127.0.0.1/") is None
    assert "private" in guard.check("http://10.21.0.1/")


def test_an_allow_listed_host_may_be_a_metadata_name():
    assert (
        TargetGuard(allow_hosts=["metadata.google.internal"], resolver=no_dns).check("http://metadata.google.internal/")
        is None
    )
