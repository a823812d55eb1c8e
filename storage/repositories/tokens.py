"""API tokens: create (the secret is returned once), authenticate by hash, list, revoke."""

from __future__ import annotations

import builtins
import hashlib
import secrets
import uuid

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage.errors import Conflict, InvalidSpec, NotFound
from storage.models import TOKEN_ROLES, ApiToken
from storage.repositories._documents import parse_uuid

SECRET_PREFIX = "cfp_"
# Identities the engine writes itself as `executed_by` (RULES.md §7): a token must not pose as them.
RESERVED_NAMES = frozenset({"stream", "redrive", "cli"})


def hash_secret(secret: str) -> str:
    """The stored form of a secret: sha256 hex. The secret has 256 random bits, so a fast hash
    is enough (there is nothing to brute-force as there would be with a password).
    """
    return hashlib.sha256(secret.encode()).hexdigest()


class TokenRepository:
    """Composes statements on one session and flushes; the caller's unit of work commits."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def create(self, name: str, role: str, created_by: str) -> tuple[ApiToken, str]:
        """A new token and its secret; the secret is not stored and cannot be shown again."""
        if not name.strip() or name != name.strip():
            msg = (
                "token `name` must be non-empty, without surrounding spaces: it is the caller's"
                              " identity in the logs"
            )
            raise InvalidSpec(msg)
        if name in RESERVED_NAMES or ":" in name:
            msg = (
                f"token `name` {name!r} would pose as the engine in `executed_by`"
                              f" ({', '.join(sorted(RESERVED_NAMES))}, chain:<rule>); choose another"
            )
            raise InvalidSpec(msg)
        if role not in TOKEN_ROLES:
            msg = f"token `role` {role!r} is not one of {list(TOKEN_ROLES)}"
            raise InvalidSpec(msg)
        if self.session.scalar(select(ApiToken.id).where(ApiToken.name == name)) is not None:
            msg = f"a token named {name!r} exists (revoked tokens keep their name); choose another name"
            raise Conflict(msg)
        secret = SECRET_PREFIX + secrets.token_urlsafe(32)
        token = ApiToken(name=name, role=role, secret_sha256=hash_secret(secret), created_by=created_by)
        self.session.add(token)
        self.session.flush()
        return token, secret

    def authenticate(self, secret: str) -> ApiToken | None:
        """The live token of `secret` (its last use noted), or None for unknown or revoked ones."""
        token = self.session.scalars(
            select(ApiToken).where(ApiToken.secret_sha256 == hash_secret(secret), ApiToken.revoked_at.is_(None))
        ).one_or_none()
        if token is not None:
            token.last_used_at = func.now()
            self.session.flush()
        return token

    def list(self) -> builtins.list[ApiToken]:
        """Every token, revoked ones included, by name."""
        return builtins.list(self.session.scalars(select(ApiToken).order_by(ApiToken.name)))

    def revoke(self, ref: str | uuid.UUID) -> ApiToken:
        """Revoke the token with this id or name; revoking twice keeps the first time."""
        stmt = select(ApiToken).with_for_update()
        ident = parse_uuid(ref)
        token = self.session.scalars(stmt.where(ApiToken.id == ident)).one_or_none() if ident else None
        token = token or self.session.scalars(stmt.where(ApiToken.name == str(ref))).one_or_none()
        if token is None:
            msg = "token"
            raise NotFound(msg, ref, "list the tokens for its id or name")
        if token.revoked_at is None:
            token.revoked_at = func.now()
            self.session.flush()
            self.session.refresh(token)
        return token
