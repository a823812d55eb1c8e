"""Domain errors raised by the repositories; their messages say what to do next."""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout


class StorageError(Exception):
    """Base class for every error the storage layer raises on purpose."""


class NotFound(StorageError):
    """A rule, script API or revision that the caller named does not exist."""

    def __init__(self, kind: str, ref: object, hint: str | None = None) -> None:
        self.kind = kind
        self.ref = ref
        advice = hint or "check the name or id against the list of what is stored"
        super().__init__(f"{kind} {str(ref)!r} not found: {advice}")


class Conflict(StorageError):
    """The change would break a uniqueness rule (a name already taken by another id)."""


class InvalidSpec(StorageError):
    """The document handed to `apply` lacks what storage needs (a name, a valid id, JSON values)."""


class InvalidRow(StorageError):
    """An execution-log row with unknown fields, missing required ones, or an unknown status."""


def is_outage(exc: BaseException) -> bool:
    """Whether `exc` means "the database did not answer" (wait and try again), not "this row is bad".

    Connection refused or lost, a server shutting down or out of resources, a pool with no
    connection to give, a deadlock: waiting helps. A refused value (`DataError`, `IntegrityError`,
    an encoding error, a program limit such as an index entry too large — psycopg files SQLSTATE
    54000 under `OperationalError`) is not an outage: retrying it forever would stop the partition.
    """
    if isinstance(exc, PoolTimeout):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    if not isinstance(exc, OperationalError | InterfaceError):
        return False
    sqlstate = getattr(exc.orig, "sqlstate", None)
    return sqlstate is None or sqlstate.startswith(OUTAGE_SQLSTATE_PREFIXES)


OUTAGE_SQLSTATE_PREFIXES = ("08", "53", "57P", "40", "55P03", "58")
"""SQLSTATEs worth waiting for: connection (08), insufficient resources (53), operator
intervention such as a shutdown (57P), a rolled-back transaction (40), lock not available,
system errors (58)."""
