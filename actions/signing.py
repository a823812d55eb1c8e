"""Standard Webhooks signatures (https://www.standardwebhooks.com/).

Receivers can verify with any of the reference libraries that a request came from this engine
and was not altered. The signed content is `f"{webhook-id}.{webhook-timestamp}.{body}"`, the signature
`v1,<base64 HMAC-SHA256>`. Secrets:

- `whsec_<base64>` — the standard form: the key is the base64-decoded part. Give receivers this
  same string and the reference libraries verify out of the box.
- anything else — used as raw text: the key is its UTF-8 bytes. (The reference libraries would
  base64-decode a prefix-less secret instead; a receiver using them must be given
  `"whsec_" + base64(secret)`.)
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Mapping

SECRET_PREFIX = "whsec_"
DEFAULT_TOLERANCE_S = 300  # the reference libraries' window against replayed requests


def secret_key(secret: str) -> bytes:
    """The HMAC key of a secret; raises ValueError on an empty secret or bad `whsec_` base64."""
    if secret.startswith(SECRET_PREFIX):
        encoded = secret[len(SECRET_PREFIX) :]
        try:
            key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
        except binascii.Error as exc:
            message = f"signing secret {SECRET_PREFIX}... is not valid base64"
            raise ValueError(message) from exc
    else:
        key = secret.encode()
    if not key:
        message = "signing secret is empty"
        raise ValueError(message)
    return key


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header value for one request."""
    content = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), content, hashlib.sha256).digest()
    return f"v1,{base64.b64encode(digest).decode()}"


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    tolerance_s: int | None = DEFAULT_TOLERANCE_S,
    now: float | None = None,
) -> bool:
    """True when one of the `v1` signatures in `headers` matches and the timestamp is recent.

    Header names are case-insensitive; `tolerance_s=None` skips the timestamp window.
    """
    lowered = {name.lower(): value for name, value in headers.items()}
    msg_id = lowered.get("webhook-id")
    timestamp = lowered.get("webhook-timestamp", "")
    signatures = lowered.get("webhook-signature", "")
    if not msg_id or not timestamp.isdigit() or not signatures:
        return False
    current = time.time() if now is None else now
    if tolerance_s is not None and abs(current - int(timestamp)) > tolerance_s:
        return False
    expected = sign(secret, msg_id, int(timestamp), body).encode()
    return any(hmac.compare_digest(expected, candidate.encode()) for candidate in signatures.split())
