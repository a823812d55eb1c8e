"""Who is calling, and may they: bearer tokens checked against `api_tokens`, roles as a ladder.

Roles: `viewer` reads; `author` also changes rules, runs tests and manages silences; `operator`
also triggers rules and redrives dead letters; `admin` also manages script APIs and tokens.
Each role includes the ones before it. The caller's token name is their identity in every
record they cause (revisions, silences, `executed_by`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from cepflow.api.errors import ApiError
from storage.models import TOKEN_ROLES
from storage.repositories.tokens import TokenRepository
from storage.uow import unit_of_work

RANK = {role: rank for rank, role in enumerate(TOKEN_ROLES)}

_bearer = HTTPBearer(auto_error=False, description="An API token: `cepflow tokens create NAME --role ROLE`.")


@dataclass(frozen=True, slots=True)
class Caller:
    """The authenticated caller: token name (the identity recorded) and role."""

    name: str
    role: str


def authenticate(request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> Caller:
    """The caller of a token sent as `Authorization: Bearer <secret>`; 401 otherwise."""
    if credentials is None:
        msg = "missing API token: send `Authorization: Bearer <token>`"
        raise _unauthorized(msg, "missing")
    with unit_of_work(request.app.state.resources.sessions) as session:
        token = TokenRepository(session).authenticate(credentials.credentials)
        if token is None:
            msg = "unknown or revoked API token"
            raise _unauthorized(msg, "unknown or revoked token")
        return Caller(token.name, token.role)


def _unauthorized(detail: str, why: str) -> ApiError:
    return ApiError(401, detail, [{"field": "Authorization", "message": why}], {"WWW-Authenticate": "Bearer"})


def require(role: str) -> Callable[..., Caller]:
    """A dependency admitting callers whose role is `role` or above; 403 names what is needed."""
    needed = RANK[role]

    def check(caller: Caller = Depends(authenticate)) -> Caller:
        if RANK[caller.role] < needed:
            raise ApiError(403, f"token {caller.name!r} has role {caller.role!r}; this needs {role!r} or above")
        return caller

    return check


VIEWER = Depends(require("viewer"))
AUTHOR = Depends(require("author"))
OPERATOR = Depends(require("operator"))
ADMIN = Depends(require("admin"))
