"""Domain errors raised by the repositories; their messages say what to do next."""

from __future__ import annotations


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
