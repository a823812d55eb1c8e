"""Refuse webhook targets inside the network the engine runs in (RULES.md §5).

A rule author must not be able to make the engine call its own database, a cloud metadata
service or anything else on loopback or a private network — unless the deployment allow-lists
that host or range. By construction:

- the URL is parsed once (`actions.webhook_url`), strictly; the sender uses those parts;
- the host is resolved once, and every address it resolves to is checked: one non-global
  answer among public ones is enough to refuse;
- the request then goes to the checked addresses only (`PinnedTarget.addresses`), with
  the original name as `Host` and TLS server name — a DNS answer that changes between the check
  and the connection (DNS rebinding) cannot move it.

Denied: every address that is not global (Python's `is_global`), the special-purpose ranges
listed in `DENIED_NETWORKS` (some of which `is_global` lets through), cloud metadata addresses,
and IPv6 forms that carry a denied IPv4 address (IPv4-mapped, 6to4, Teredo, NAT64).
"""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass

from actions.webhook_url import UnsafeUrl, WebhookUrl, parse_webhook_url

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Sequence[str]]

METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata.goog", "metadata"})
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, Oracle, DigitalOcean, ...
        "169.254.170.2",  # AWS ECS task credentials
        "169.254.169.123",  # AWS time sync
        "169.254.169.253",  # AWS DNS
        "100.100.100.200",  # Alibaba Cloud
        "192.0.0.192",  # Oracle Cloud (legacy)
        "fd00:ec2::254",  # AWS IMDS over IPv6
        "fd00:ec2::23",  # AWS DNS over IPv6
        "fd00:ec2::123",  # AWS time sync over IPv6
    )
)
# IANA special-purpose ranges, denied even where `is_global` says otherwise.
DENIED_NETWORKS = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
        "192.0.0.0/24", "192.0.2.0/24", "192.31.196.0/24", "192.52.193.0/24", "192.88.99.0/24",
        "192.168.0.0/16", "192.175.48.0/24", "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24",
        "224.0.0.0/4", "240.0.0.0/4",
        "::/96", "::ffff:0:0/96", "64:ff9b::/96", "64:ff9b:1::/48", "100::/64", "2001::/23",
        "2001:db8::/32", "2002::/16", "2620:4f:8000::/48", "3fff::/20", "5f00::/16", "fc00::/7",
        "fe80::/10", "fec0::/10", "ff00::/8",
    )
)
NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))


# getaddrinfo cannot be interrupted: a slow name server (the rule author may run it) would hold
# the attempt past its deadline. Lookups run here; an attempt waits for them only until then.
_LOOKUPS = ThreadPoolExecutor(max_workers=32, thread_name_prefix="cepflow-resolve")


class TargetRefused(Exception):
    """The engine will not send to this URL; the message says why (without the URL's secrets)."""


class ResolutionTimedOut(Exception):
    """The host did not resolve before the attempt's deadline (worth retrying)."""


@dataclass(frozen=True)
class PinnedTarget:
    """A checked URL and the checked addresses the request may connect to, in resolver order."""

    url: WebhookUrl
    addresses: tuple[str, ...]

    @property
    def address(self) -> str:
        """The first address: the one tried first."""
        return self.addresses[0]


def resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to for a TCP connection (the system resolver)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]).split("%", 1)[0] for info in infos]  # drop an IPv6 zone id


def _embedded_v4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (mapped, 6to4, Teredo, NAT64), if any."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]  # the client's address
    if any(ip in net for net in NAT64):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def _forbidden(ip: IPAddress) -> str | None:
    """What kind of internal address this is, or None for a public one."""
    checks = (
        ("a cloud metadata address", ip in METADATA_ADDRESSES),
        ("an unspecified address", ip.is_unspecified),
        ("a loopback address", ip.is_loopback),
        ("a link-local address", ip.is_link_local),
        ("a multicast address", ip.is_multicast),
        ("a private address", ip.is_private),
        ("a reserved address", ip.is_reserved),
        ("a special-purpose address", any(ip in net for net in DENIED_NETWORKS)),
        ("not a public address", not ip.is_global),
    )
    return next((kind for kind, hit in checks if hit), None)


class TargetGuard:
    """Decides whether the engine may send a request to a URL.

    `allow_hosts` entries match the URL's host exactly (`hooks.internal`) or with its port
    (`hooks.internal:8443`, `[::1]:8080`); an allowed host's addresses are not checked.
    `allow_cidrs` ranges (`10.1.0.0/16`, `127.0.0.1/32`) allow the addresses inside them.
    """

    def __init__(
        self,
        allow_hosts: Sequence[str] = (),
        allow_cidrs: Sequence[str] = (),
        *,
        resolver: Resolver = resolve,
    ) -> None:
        self._allow_hosts = frozenset(h.strip().lower() for h in allow_hosts if h.strip())
        self._allow_nets = tuple(ipaddress.ip_network(c.strip(), strict=False) for c in allow_cidrs)
        self._resolve = resolver

    def check(self, url: str) -> str | None:
        """None when the URL may be called, else why not."""
        try:
            self.pin(url)
        except TargetRefused as exc:
            return str(exc)
        return None

    def pin(self, url: str, deadline: float | None = None) -> PinnedTarget:
        """The parsed URL and the checked addresses to connect to; TargetRefused says why not.

        An allow-listed host is resolved (the connection needs an address) but not checked.
        With a `deadline` (a `time.monotonic()` instant), ResolutionTimedOut when the name has
        not resolved by then.
        """
        try:
            parsed = parse_webhook_url(url)
        except UnsafeUrl as exc:
            raise TargetRefused(str(exc)) from None
        allowed = self._host_allowed(parsed)
        if not allowed and parsed.host in METADATA_HOSTS:
            msg = f"{parsed.host} is a cloud metadata host"
            raise TargetRefused(msg)
        if parsed.is_literal:
            addresses = [ipaddress.ip_address(parsed.host)]
        else:
            addresses = self._addresses(parsed, deadline)
        for ip in addresses if not allowed else ():
            if (reason := self._address_refused(ip)) is not None:
                said = f"{parsed.host} is" if parsed.is_literal else f"{parsed.host} resolves to {ip},"
                msg = f"{said} {reason}"
                raise TargetRefused(msg)
        return PinnedTarget(parsed, tuple(dict.fromkeys(str(ip) for ip in addresses)))

    def _addresses(self, parsed: WebhookUrl, deadline: float | None) -> list[IPAddress]:
        try:
            if deadline is None:
                answers = self._resolve(parsed.host, parsed.port)
            else:
                lookup = _LOOKUPS.submit(self._resolve, parsed.host, parsed.port)
                answers = lookup.result(timeout=max(0.0, deadline - time.monotonic()))
            addresses = [ipaddress.ip_address(a) for a in answers]
        except FutureTimeout:
            raise ResolutionTimedOut from None
        except (OSError, UnicodeError, ValueError):
            msg = "cannot resolve host"
            raise TargetRefused(msg) from None
        if not addresses:
            msg = "cannot resolve host"
            raise TargetRefused(msg)
        return addresses

    def _host_allowed(self, url: WebhookUrl) -> bool:
        host, port = url.host, url.port
        names = {host, f"{host}:{port}", f"[{host}]", f"[{host}]:{port}"}
        return not self._allow_hosts.isdisjoint(names)

    def _address_refused(self, ip: IPAddress) -> str | None:
        target = _embedded_v4(ip) or ip  # where the packets really go
        if any(a in net for a in (ip, target) for net in self._allow_nets):
            return None
        return _forbidden(target) or _forbidden(ip)
