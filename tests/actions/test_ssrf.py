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
        ("http://100.64.0.1/", "special-purpose"),
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
    dns = fake_dns({"hooks.internal": ["10.9.9.9"]})
    guard = TargetGuard(allow_hosts=["127.0.0.1", "Hooks.Internal:8443", "[::1]:9000"], resolver=dns)
    assert guard.check("http://127.0.0.1:5555/hook") is None
    assert guard.check("https://hooks.internal:8443/") is None
    assert guard.check("http://[::1]:9000/") is None
    assert "loopback" in guard.check("http://[::1]:9001/")
    # another port: judged by its addresses
    assert guard.check("https://hooks.internal:9443/") == "hooks.internal resolves to 10.9.9.9, a private address"


def test_an_allow_listed_name_is_still_pinned_to_the_address_it_resolved_to():
    guard = TargetGuard(allow_hosts=["hooks.internal"], resolver=fake_dns({"hooks.internal": ["10.9.9.9", "10.9.9.8"]}))
    target = guard.pin("https://hooks.internal/x?y=1")
    assert (target.address, target.url.host_header, target.url.target) == ("10.9.9.9", "hooks.internal", "/x?y=1")


def test_allow_list_by_cidr_also_covers_ipv4_mapped_addresses():
    guard = TargetGuard(allow_cidrs=["10.20.0.0/16", "127.0.0.1/32"], resolver=fake_dns({"svc.test": ["10.20.1.1"]}))
    assert guard.check("http://10.20.3.4/") is None
    assert guard.check("http://svc.test/") is None
    assert guard.check("http://[::ffff:10.20.3.4]/") is None
    assert guard.check("http://127.0.0.1/") is None
    assert "private" in guard.check("http://10.21.0.1/")


def test_an_allow_listed_host_may_be_a_metadata_name():
    assert (
        TargetGuard(
            allow_hosts=["metadata.google.internal"], resolver=fake_dns({"metadata.google.internal": ["10.0.0.1"]})
        ).check("http://metadata.google.internal/")
        is None
    )


# The guard and the client must read one host ---------------------------------------------------

def public_dns(host: str, port: int) -> list[str]:
    """A resolver for which every name is public: what the guard sees is all that protects."""
    return ["93.184.216.34"]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:80\\@example.com/",  # urllib3: host 127.0.0.1; urllib.parse: example.com
        "http://example.com\\@127.0.0.1/",
        "http://user:pass@example.com/",
        "http://example.com@127.0.0.1/",
        "http://2130706433/",  # decimal IPv4
        "http://0177.0.0.1/",  # octal
        "http://0x7f.0.0.1/",  # hex
        "http://0x7f000001/",
        "http://127.1/",  # shorthand
        "http://0/",
        "http://017700000001/",
        "http://ex%61mple.com/",  # percent-encoded host
        "http://\uff4c\uff4f\uff43\uff41\uff4c\uff48\uff4f\uff53\uff54/",  # fullwidth: IDNA maps it to localhost
        "http://example.com\t/",
        "http://exa\nmple.com/",
        " http://example.com/",
        "http://[fe80::1%25eth0]/",  # zone id
        "http://example.com:/",
        "http://example..com/",
        "http://-x.example.com:80:80/",
    ],
)
def test_urls_read_differently_by_guard_and_client_are_refused(url):
    refusal = TargetGuard(resolver=public_dns).check(url)
    assert refusal is not None


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://192.0.0.1/", "private"),
        ("http://192.0.0.170/", "private"),
        ("http://198.18.0.1/", "private"),
        ("http://100.100.100.200/", "metadata"),
        ("http://169.254.170.2/", "metadata"),
        ("http://[::127.0.0.1]/", "reserved"),  # IPv4-compatible
        ("http://[::ffff:7f00:1]/", "loopback"),
        ("http://[2002:7f00:1::]/", "loopback"),  # 6to4
        ("http://[2002:a9fe:a9fe::1]/", "metadata"),
        ("http://[64:ff9b::127.0.0.1]/", "loopback"),  # NAT64
        ("http://[64:ff9b:1::a00:1]/", "private"),  # local-use NAT64
        ("http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/", "loopback"),  # Teredo, client 127.0.0.1
        ("http://[2002:5db8:d822::1]/", "special-purpose"),  # 6to4 of a public address: still not global
        ("http://127.0.0.1./", "loopback"),
    ],
)
def test_special_purpose_and_embedded_forms_are_refused(url, reason):
    refusal = TargetGuard(resolver=no_dns).check(url)
    assert refusal is not None and reason in refusal


def test_every_resolved_address_is_checked_including_embedded_ipv4():
    guard = TargetGuard(resolver=fake_dns({"sneaky.test": ["93.184.216.34", "::ffff:169.254.169.254"]}))
    assert guard.check("https://sneaky.test/") == "sneaky.test resolves to ::ffff:a9fe:a9fe, a cloud metadata address"


def test_the_pinned_address_is_one_that_was_checked():
    calls = []

    def rebinding(host: str, port: int) -> list[str]:
        calls.append(host)
        return ["93.184.216.34"] if len(calls) == 1 else ["127.0.0.1"]

    target = TargetGuard(resolver=rebinding).pin("https://rebind.test:8443/a")
    assert (target.address, target.url.host, target.url.port) == ("93.184.216.34", "rebind.test", 8443)
    assert calls == ["rebind.test"]  # resolved once
