"""Tokens and roles: no endpoint answers without a valid token except health; each role is
refused what is above it; secrets are stored hashed and shown once."""

from __future__ import annotations

import hashlib

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from cepflow.cli import main
from storage.errors import InvalidSpec
from storage.models import ApiToken
from storage.repositories.tokens import TokenRepository
from tests.api.conftest import Api

pytestmark = pytest.mark.integration

OPEN = {"/health", "/health/ready"}

# One changing call per role that needs it (method, path, body): what a lower role must not do.
NEEDS = {
    "author": [("PUT", "/rules", {"name": "x"}), ("POST", "/test", {"rules": [], "events": []}),
               ("POST", "/silences", {}), ("POST", "/rules/x/disable", None)],
    "operator": [("POST", "/rules/x/trigger", {}), ("POST", "/dead-letters/redrive", {})],
    "admin": [("PUT", "/script-apis", {"name": "x"}), ("POST", "/script-apis/x/test", {}),
              ("GET", "/tokens", None), ("POST", "/tokens", {"name": "x", "role": "viewer"}),
              ("DELETE", "/tokens/x", None)],
}
LOWER = {"author": ["viewer"], "operator": ["viewer", "author"], "admin": ["viewer", "author", "operator"]}


def _every_operation(api: Api) -> list[tuple[str, str]]:
    paths = api.client.app.openapi()["paths"]
    return [(method.upper(), path.replace("{ref}", "x").replace("{chain_id}", "c").replace("{silence_id}", "s"))
            for path, ops in paths.items() for method in ops]


def test_every_endpoint_but_health_needs_a_token(api: Api):
    operations = _every_operation(api)
    assert len(operations) > 20  # the OpenAPI document lists them all
    for method, path in operations:
        if path in OPEN:
            continue
        missing = api.call(method, path, as_=None)
        assert missing.status_code == 401, (method, path, missing.text)
        assert missing.headers["www-authenticate"] == "Bearer"
        assert missing.json()["errors"] == [{"field": "Authorization", "message": "missing"}]
        wrong = api.call(method, path, as_=None, headers={"Authorization": "Bearer cfp_not-a-token"})
        assert wrong.status_code == 401, (method, path)


def test_health_answers_without_a_token(api: Api):
    assert api.get("/health", as_=None).json() == {"status": "ok"}
    ready = api.get("/health/ready", as_=None)
    assert ready.status_code == 200 and ready.json()["status"] == "ready"


@pytest.mark.parametrize("role", ["author", "operator", "admin"])
def test_lower_roles_are_refused_with_403_naming_the_role_needed(api: Api, role: str):
    for lower in LOWER[role]:
        for method, path, body in NEEDS[role]:
            answer = api.call(method, path, as_=lower, json=body)
            assert answer.status_code == 403, (lower, method, path, answer.text)
            assert f"has role {lower!r}; this needs {role!r}" in answer.json()["detail"]


@pytest.mark.parametrize("role", ["author", "operator", "admin"])
def test_the_role_itself_passes_the_check(api: Api, role: str):
    for method, path, body in NEEDS[role]:
        answer = api.call(method, path, as_=role, json=body)
        assert answer.status_code not in (401, 403), (method, path, answer.text)


def test_me_names_the_caller(api: Api):
    assert api.get("/me", as_="operator").json() == {"name": api.names["operator"], "role": "operator"}


def test_a_token_is_stored_hashed_shown_once_and_stops_working_when_revoked(api: Api, unique: str):
    created = api.post("/tokens", json={"name": f"ci-{unique}", "role": "viewer"})
    assert created.status_code == 201
    secret = created.json()["token"]
    assert created.json()["created_by"] == api.names["admin"]
    with api.resources.sessions() as session:
        row = session.scalars(select(ApiToken).where(ApiToken.name == f"ci-{unique}")).one()
    assert row.secret_sha256 == hashlib.sha256(secret.encode()).hexdigest() != secret
    listed = {t["name"]: t for t in api.get("/tokens", as_="admin").json()}
    assert "token" not in listed[f"ci-{unique}"] and secret not in str(listed)
    headers = {"Authorization": f"Bearer {secret}"}
    assert api.call("GET", "/me", as_=None, headers=headers).status_code == 200
    assert api.get("/tokens", as_="admin").json()  # last use is noted
    revoked = api.delete(f"/tokens/ci-{unique}")
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    again = api.call("GET", "/me", as_=None, headers=headers)
    assert again.status_code == 401 and again.json()["detail"] == "unknown or revoked API token"


def test_token_requests_are_checked(api: Api):
    bad_role = api.post("/tokens", json={"name": "x", "role": "root"})
    assert bad_role.status_code == 400 and bad_role.json()["errors"][0]["field"] == "role"
    bad_name = api.post("/tokens", json={"name": "has space", "role": "viewer"})
    assert bad_name.status_code == 400 and bad_name.json()["errors"][0]["field"] == "name"
    taken = api.post("/tokens", json={"name": api.names["viewer"], "role": "viewer"})
    assert taken.status_code == 409 and "exists" in taken.json()["detail"]
    assert api.delete("/tokens/nobody-has-this").status_code == 404


def test_cli_creates_lists_and_revokes_tokens(api: Api, unique: str, monkeypatch):
    from cepflow.settings import get_settings

    monkeypatch.setenv("CEPFLOW_DATABASE_URL", api.resources.settings.database_url)
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        created = runner.invoke(main, ["tokens", "create", f"cli-{unique}", "--role", "operator"])
        assert created.exit_code == 0, created.output
        secret = created.stdout.strip().splitlines()[-1]
        assert secret.startswith("cfp_")
        me = api.call("GET", "/me", as_=None, headers={"Authorization": f"Bearer {secret}"})
        assert me.json() == {"name": f"cli-{unique}", "role": "operator"}
        listed = runner.invoke(main, ["tokens", "list"])
        assert f"cli-{unique}" in listed.stdout and secret not in listed.stdout
        assert runner.invoke(main, ["tokens", "revoke", f"cli-{unique}"]).exit_code == 0
        assert api.call("GET", "/me", as_=None, headers={"Authorization": f"Bearer {secret}"}).status_code == 401
        bad = runner.invoke(main, ["tokens", "create", f"cli2-{unique}", "--role", "root"])
        assert bad.exit_code == 2
    finally:
        get_settings.cache_clear()


def test_a_token_cannot_pose_as_the_engine(api: Api):
    for name in ("stream", "redrive", "cli"):
        answer = api.post("/tokens", json={"name": name, "role": "admin"})
        assert answer.status_code == 400 and "pose as the engine" in answer.json()["detail"], name
    # the CLI has no name pattern: the repository refuses them as well
    with api.resources.sessions() as session:
        for name in ("chain:web-cpu-hot", " padded", "", "stream"):
            with pytest.raises(InvalidSpec):
                TokenRepository(session).create(name, "admin", "pytest")
