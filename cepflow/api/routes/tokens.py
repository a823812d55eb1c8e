"""API tokens (admins), and `/me`: who the caller's token says they are."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from cepflow.api.auth import ADMIN, Caller, authenticate
from cepflow.api.deps import read_session, writing
from storage.models import ApiToken
from storage.repositories.tokens import TokenRepository

router = APIRouter(tags=["tokens"])


def view(token: ApiToken) -> dict[str, Any]:
    """A token as the API shows it (never its secret)."""
    def iso(moment: Any) -> str | None:
        return moment.isoformat() if moment is not None else None

    return {"id": str(token.id), "name": token.name, "role": token.role, "created_by": token.created_by,
            "created_at": iso(token.created_at), "revoked_at": iso(token.revoked_at),
            "last_used_at": iso(token.last_used_at)}


class TokenRequest(BaseModel):
    """Name and role of a new token."""

    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._@-]*$",
                      description="The identity recorded for what the token does.")
    role: Literal["viewer", "author", "operator", "admin"]


@router.get("/me")
def me(caller: Caller = Depends(authenticate)) -> dict[str, str]:
    """The caller's identity and role."""
    return {"name": caller.name, "role": caller.role}


@router.get("/tokens", dependencies=[ADMIN])
def list_tokens(session: Session = Depends(read_session)) -> list[dict[str, Any]]:
    """Every token, revoked ones included."""
    return [view(token) for token in TokenRepository(session).list()]


@router.post("/tokens", status_code=201)
def create(body: TokenRequest, request: Request, caller: Caller = ADMIN) -> dict[str, Any]:
    """A new token; `token` is the secret, shown this once (only its sha256 is stored)."""
    with writing(request) as session:
        token, secret = TokenRepository(session).create(body.name, body.role, caller.name)
        return {**view(token), "token": secret}


@router.delete("/tokens/{ref}", dependencies=[ADMIN])
def revoke(ref: str, request: Request) -> dict[str, Any]:
    """Revoke a token by id or name: it authenticates no more."""
    with writing(request) as session:
        return view(TokenRepository(session).revoke(ref))
