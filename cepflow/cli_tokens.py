"""`cepflow tokens ...`: API tokens of `cepflow serve` (the first admin token comes from here)."""

from __future__ import annotations

import getpass

import click

from cepflow.userio import fail, open_sessions, print_json

ROLES = click.Choice(["viewer", "author", "operator", "admin"])


@click.group()
def tokens() -> None:
    """API tokens: create (the secret is shown once), list, revoke."""


@tokens.command("create")
@click.argument("name")
@click.option("--role", type=ROLES, required=True, help="viewer < author < operator < admin.")
def create(name: str, role: str) -> None:
    """Create a token NAME (its identity in the logs) and print its secret, once."""
    from storage.errors import StorageError
    from storage.repositories.tokens import TokenRepository
    from storage.uow import unit_of_work

    try:
        with unit_of_work(open_sessions()) as session:
            token, secret = TokenRepository(session).create(name, role, getpass.getuser())
    except StorageError as exc:
        fail(str(exc))
    click.echo(f"{token.name} ({token.role}) id={token.id}", err=True)
    click.echo("the secret below is shown once; only its sha256 is stored", err=True)
    click.echo(secret)


@tokens.command("list")
def list_tokens() -> None:
    """Every token (revoked ones too), without secrets."""
    from storage.repositories.tokens import TokenRepository

    with open_sessions()() as session:
        for token in TokenRepository(session).list():
            print_json({"id": str(token.id), "name": token.name, "role": token.role,
                        "created_by": token.created_by, "created_at": token.created_at,
                        "revoked_at": token.revoked_at, "last_used_at": token.last_used_at})


@tokens.command("revoke")
@click.argument("ref")
def revoke(ref: str) -> None:
    """Revoke the token with this name or id: it stops working at once."""
    from storage.errors import NotFound
    from storage.repositories.tokens import TokenRepository
    from storage.uow import unit_of_work

    try:
        with unit_of_work(open_sessions()) as session:
            token = TokenRepository(session).revoke(ref)
    except NotFound as exc:
        fail(str(exc))
    revoked = token.revoked_at.isoformat() if token.revoked_at else "now"
    click.echo(f"{token.name}: revoked at {revoked}")
