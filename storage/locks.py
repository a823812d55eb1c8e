"""Named lock helpers for keeping one execution of the same rule and group at a time (RULES.md §7).

Advisory locks lock a *name*, not a row, so two workers can agree on "rule R, group G" before any
row exists. Transaction-scoped locks are used: PostgreSQL releases them at commit or rollback, so a
crashed worker cannot leave one behind. Keys come from blake2b, not Python's `hash()`, which is
salted per process and would give every worker a different key for the same name.
"""

from __future__ import annotations

from hashlib import blake2b

from sqlalchemy import ColumnElement, Connection, func, select
from sqlalchemy.orm import Session

LOCK_NOT_AVAILABLE = "55P03"


def advisory_key(namespace: str, key: str) -> int:
    """The signed 64-bit lock id for `namespace:key`, the same in every process and release."""
    digest = blake2b(f"{namespace}:{key}".encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def try_advisory_xact_lock(namespace: str, key: str) -> ColumnElement[bool]:
    """SQL taking the lock for `namespace:key` without waiting: false when another transaction
    holds it. Held until the transaction ends; taking it again in the same transaction succeeds.
    An expression, so that callers fold it into a statement they send anyway.
    """
    return func.pg_try_advisory_xact_lock(advisory_key(namespace, key))


def advisory_xact_lock(session: Session | Connection, namespace: str, key: str) -> None:
    """Wait for the lock for `namespace:key`; held until this session's transaction ends."""
    session.execute(select(func.pg_advisory_xact_lock(advisory_key(namespace, key))))


def is_lock_not_available(exc: BaseException) -> bool:
    """True when `exc` (or the driver error it wraps) is SQLSTATE 55P03, lock_not_available.

    PostgreSQL raises it for `FOR UPDATE NOWAIT` on a locked row and when `lock_timeout` expires.
    """
    current: BaseException | None = exc
    while current is not None:
        if getattr(current, "sqlstate", None) == LOCK_NOT_AVAILABLE:
            return True
        current = getattr(current, "orig", None) or current.__cause__
    return False
