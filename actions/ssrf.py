"""Refuse webhook targets inside the network the engine runs in (RULES.md §5).

A rule author must not be able to make the engine call its own database, a cloud metadata
service or anything else on loopback or a private network — unless the deployment allow-lists
that host or range. Every address a host resolves to is checked, so one private answer among
public ones is enough to refuse.

Limit: the check resolves the name once and the HTTP client resolves it again when it connects;
a DNS answer that changes in between (DNS rebinding) is not caught here. Deployments that need
that guarantee also restrict egress at the network layer.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Sequence[str]]

SCHEMES = {"http": 80, "https": 443}
METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata.goog", "metadata"})
METADATA_ADDRESSES = frozenset({ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")})
NAT64 = ipaddress.ip_network("64:ff9b::/96")


def resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to for a TCP connection (the system resolver)."""
    infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    return [str(info[4][0]).split("%", 1)[0] for info in infos]  # drop an IPv6 zone id


def _embedded_v4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (mapped, 6to4, NAT64), if any."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in NAT64:
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
        ("not a public address", not ip.is_global),
    )
    return next((kind for kind, hit in checks if hit), None)


class TargetGuard:
    """Decides whether the engine may send a request to a URL.

    `allow_hosts` entries match the URL's host exactly (`hooks.internal`) or with its port
    (`hooks.internal:8443`, `[::1]:8080`); an allowed host is not resolved at all.
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
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in SCHEMES:
            return f"scheme {scheme or '(none)'!r} is not allowed; use http or https"
        host = (parts.hostname or "").rstrip(".")
        if not host:
            return "the URL has no host"
        try:
            port = parts.port or SCHEMES[scheme]
        except ValueError:
            return "the URL has an invalid port"
        if self._host_allowed(host, port):
            return None
        if host in METADATA_HOSTS:
            return f"{host} is a cloud metadata host"
        return self._check_addresses(host, port)

    def _check_addresses(self, host: str, port: int) -> str | None:
        """A literal address is judged as written; a name by every address it resolves to."""
        try:
            literal = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        if literal is not None:
            reason = self._address_refused(literal)
            return None if reason is None else f"{host} is {reason}"
        try:
            addresses = [ipaddress.ip_address(a) for a in self._resolve(host, port)]
        except (OSError, UnicodeError, ValueError):
            return "cannot resolve host"
        if not addresses:
            return "cannot resolve host"
        for ip in addresses:
            if (reason := self._address_refused(ip)) is not None:
                return f"{host} resolves to {ip}, {reason}"
        return None

    def _host_allowed(self, host: str, port: int) -> bool:
        names = {host, f"{host}:{port}", f"[{host}]", f"[{host}]:{port}"}
        return not self._allow_hosts.isdisjoint(names)

    def _address_refused(self, ip: IPAddress) -> str | None:
        target = _embedded_v4(ip) or ip  # where the packets really go
        if any(a in net for a in (ip, target) for net in self._allow_nets):
            return None
        return _forbidden(target)
