r"""Webhook URLs: parsed once, strictly, and shown only redacted.

The target guard and the HTTP client must agree on the host, or a URL the guard reads as a public
host can connect somewhere else (`http://127.0.0.1:80\\@example.com/`, `http://0177.1/`, ...). So
there is one parse, here, and it accepts only one spelling of each host: ASCII DNS names
(internationalised names in their `xn--` form), dotted-decimal IPv4, bracketed IPv6 without a
zone. Userinfo, backslashes, control characters, spaces and non-ASCII characters before the path,
percent-encoded hosts and numeric hosts that are not dotted-decimal (`2130706433`, `0x7f.1`,
`127.1`) are refused with the reason. As a second line, urllib.parse and urllib3 must read the
same scheme, host and port, or the URL is refused. The sender never parses the URL again: it
gets the pieces (`WebhookUrl`).

`redact_url` is what logs, execution rows and dead letters show of a URL: no userinfo, no query,
no fragment, and path segments that look like tokens (Slack/Teams/Discord-style hooks carry their
secret in the path) replaced by `[redacted]`.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

import urllib3.util

SCHEMES = {"http": 80, "https": 443}
REDACTED = "[redacted]"

_URL = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<authority>[^/?#]*)(?P<rest>[/?#].*)?", re.DOTALL)
_HOST_PORT = re.compile(r"(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<name>[A-Za-z0-9._-]+))(?::(?P<port>[0-9]{1,5}))?")
_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")
_NUMERIC_LABEL = re.compile(r"(?:0x[0-9a-f]*|[0-9]+)")
_PATH_SAFE = "/:@!$&'()*+,;=-._~%"
_QUERY_SAFE = _PATH_SAFE + "?"


class UnsafeUrl(ValueError):
    """A URL the engine will not send to; the message says why, without the URL's secrets."""


@dataclass(frozen=True)
class WebhookUrl:
    """The one parse of a webhook URL: what the guard checks and the sender connects to."""

    scheme: str  # http or https
    host: str  # lower-case DNS name without a trailing dot, or an IP address (IPv6 unbracketed)
    port: int
    target: str  # path and query, percent-encoded, as sent in the request line
    explicit_port: bool

    @property
    def is_literal(self) -> bool:
        """Whether the host is an IP address rather than a name."""
        return _ip(self.host) is not None

    @property
    def host_header(self) -> str:
        """The `Host` header (and what allow-lists match): `name`, `[v6]`, plus `:port` if given."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}" if self.explicit_port else host


def parse_webhook_url(url: str) -> WebhookUrl:
    """The URL's parts, or UnsafeUrl naming what is wrong with it."""
    if "\\" in url:
        msg = "the URL contains a backslash"
        raise UnsafeUrl(msg)
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in url):
        msg = "the URL contains a control character (tab, line break, ...)"
        raise UnsafeUrl(msg)
    match = _URL.fullmatch(url)
    if match is None:
        msg = "the URL is not scheme://host/path"
        raise UnsafeUrl(msg)
    if " " in match["scheme"] + match["authority"]:
        msg = "the URL contains a space before its path"
        raise UnsafeUrl(msg)
    scheme = match["scheme"].lower()
    if scheme not in SCHEMES:
        msg = f"scheme {scheme!r} is not allowed; use http or https"
        raise UnsafeUrl(msg)
    host, port = _authority(match["authority"])
    parsed = WebhookUrl(
        scheme=scheme,
        host=host,
        port=port or SCHEMES[scheme],
        target=_target(match["rest"] or "/"),
        explicit_port=port is not None,
    )
    _same_as_other_parsers(url, parsed)
    return parsed


def _authority(authority: str) -> tuple[str, int | None]:
    if not authority:
        msg = "the URL has no host"
        raise UnsafeUrl(msg)
    if "@" in authority:
        msg = "the URL carries credentials (user@host); send them in a header instead"
        raise UnsafeUrl(msg)
    if not authority.isascii():
        msg = "the host is not ASCII; write an internationalised name in its xn-- form"
        raise UnsafeUrl(msg)
    if "%" in authority:
        msg = "the host is percent-encoded"
        raise UnsafeUrl(msg)
    match = _HOST_PORT.fullmatch(authority)
    if match is None:
        msg = "the URL has no valid host[:port]"
        raise UnsafeUrl(msg)
    port = None if match["port"] is None else int(match["port"])
    if port is not None and not 0 < port < 65536:
        msg = "the URL has an invalid port"
        raise UnsafeUrl(msg)
    if match["v6"] is not None:
        try:
            return str(ipaddress.IPv6Address(match["v6"])), port
        except ValueError:
            msg = "the host is not a valid IPv6 address"
            raise UnsafeUrl(msg) from None
    return _name(match["name"].lower()), port


def _name(name: str) -> str:
    """A DNS name or a dotted-decimal IPv4 address; numeric shorthands are refused."""
    name = name.removesuffix(".")
    labels = name.split(".")
    if _NUMERIC_LABEL.fullmatch(labels[-1]):  # WHATWG reads such a host as an IPv4 number
        try:
            return str(ipaddress.IPv4Address(name))
        except ValueError:
            msg = "a numeric host must be a dotted-decimal IPv4 address (a.b.c.d)"
            raise UnsafeUrl(msg) from None
    if len(name) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        msg = "the host is not a valid DNS name"
        raise UnsafeUrl(msg)
    return name


def _target(rest: str) -> str:
    """Path and query as sent: the fragment dropped, unsafe characters percent-encoded."""
    rest = rest.split("#", 1)[0]
    path, sep, query = rest.partition("?")
    return quote(path or "/", safe=_PATH_SAFE) + sep + quote(query, safe=_QUERY_SAFE)


def _same_as_other_parsers(url: str, parsed: WebhookUrl) -> None:
    """urllib.parse and urllib3 must read this scheme, host and port too (defence in depth)."""
    try:
        split = urlsplit(url)
        ours = urllib3.util.parse_url(url)
        readings = {
            (split.scheme.lower(), (split.hostname or "").removesuffix("."), split.port or SCHEMES[parsed.scheme]),
            (
                (ours.scheme or "").lower(),
                (ours.host or "").strip("[]").lower().removesuffix("."),
                ours.port or SCHEMES[parsed.scheme],
            ),
        }
    except (ValueError, urllib3.exceptions.LocationParseError):
        msg = "the URL is read differently by different parsers"
        raise UnsafeUrl(msg) from None
    mine = (parsed.scheme, parsed.host, parsed.port)
    if any(_normal(reading) != mine for reading in readings):
        msg = "the URL is read differently by different parsers"
        raise UnsafeUrl(msg)


def _normal(reading: tuple[str, str, int]) -> tuple[str, str, int]:
    scheme, host, port = reading
    ip = _ip(host)
    return scheme, host if ip is None else str(ip), port


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


# Redaction -----------------------------------------------------------------------------------


def _secret_like(segment: str) -> bool:
    """A path segment that may be a token: long, or mixing digits with letters."""
    if len(segment) >= 16:
        return True
    has_digit = any(c.isdigit() for c in segment)
    has_alpha = any(c.isalpha() for c in segment)
    return len(segment) >= 8 and has_digit and has_alpha


def redact_url(url: str) -> str:
    """`scheme://host[:port]/path` with token-like segments hidden; never userinfo or query."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return REDACTED
    if ":" in host:
        host = f"[{host}]"
    path = "/".join(REDACTED if _secret_like(s) else s for s in parts.path.split("/"))
    return f"{parts.scheme}://{host}{port}{path}" if parts.scheme or host else path  # a relative Location

