"""Readiness says why it is not ready; `cepflow serve` serves the app; errors keep their shape."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import requests
from fastapi import APIRouter
from fastapi.testclient import TestClient

from cepflow.api import create_app
from cepflow.resources import Resources
from tests.api.conftest import Api
from tests.integration.harness import ROOT, StackEnv, free_port, wait_until

pytestmark = pytest.mark.integration


def test_not_ready_when_the_database_cannot_be_reached(stack: StackEnv):
    port = free_port()  # nothing listens there
    settings = stack.settings().model_copy(
        update={"database_url": f"postgresql+psycopg://cepflow:cepflow@127.0.0.1:{port}/none"})
    resources = Resources(settings)
    try:
        with TestClient(create_app(settings, resources=resources)) as client:
            assert client.get("/health").status_code == 200
            answer = client.get("/health/ready")
            assert answer.status_code == 503 and answer.json()["reason"].startswith("database: ")
            assert "cepflow" not in answer.text  # no connection string or password leaks
    finally:
        resources.close()


def test_an_unexpected_error_is_a_500_in_the_same_shape(api: Api):
    router = APIRouter()

    @router.get("/boom")
    def boom() -> None:
        raise RuntimeError("secret internals")

    app = api.client.app
    app.include_router(router)
    with TestClient(app, raise_server_exceptions=False) as client:
        answer = client.get("/boom")
    assert answer.status_code == 500
    assert answer.json() == {"detail": "internal error (RuntimeError); the server log has the details", "errors": []}


def test_a_console_is_mounted_at_ui(stack: StackEnv):
    from starlette.responses import PlainTextResponse

    resources = Resources(stack.settings())
    try:
        app = create_app(resources.settings, resources=resources, console=PlainTextResponse("console"))
        with TestClient(app) as client:
            assert client.get("/ui/").text == "console"
    finally:
        resources.close()


def test_cepflow_serve_answers_health_and_docs(stack: StackEnv):
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "cepflow", "serve", "--port", str(port)], cwd=ROOT,
                            env={**os.environ, **stack.env()}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        def up() -> bool:
            try:
                return requests.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200
            except requests.ConnectionError:
                assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
                return False

        wait_until(up, 30, "cepflow serve to answer /health")
        assert requests.get(f"http://127.0.0.1:{port}/health/ready", timeout=5).json()["status"] == "ready"
        assert "/rules/{ref}/trigger" in requests.get(f"http://127.0.0.1:{port}/openapi.json", timeout=5).text
        assert requests.get(f"http://127.0.0.1:{port}/docs", timeout=5).status_code == 200
        assert requests.get(f"http://127.0.0.1:{port}/rules", timeout=5).status_code == 401
    finally:
        proc.terminate()
        proc.wait(10)


def test_bodies_over_the_limit_are_refused_declared_or_streamed(stack: StackEnv):
    settings = stack.settings().model_copy(update={"api_max_body_bytes": 1000})
    resources = Resources(settings)
    try:
        with TestClient(create_app(settings, resources=resources)) as client:
            big = b'{"payload": {"x": "' + b"a" * 2000 + b'"}}'
            declared = client.post("/rules/x/trigger", content=big, headers={"Content-Type": "application/json"})
            assert declared.status_code == 413 and declared.json()["errors"] == [{"field": "body", "message": "too large"}]

            def chunks():  # no Content-Length: the size is only found while reading
                yield big[:800]
                yield big[800:]

            streamed = client.post("/rules/x/trigger", content=chunks(), headers={"Content-Type": "application/json"})
            assert streamed.status_code == 413
            small = client.post("/rules/x/trigger", json={"payload": {}})
            assert small.status_code == 401  # under the limit: on to the token check
    finally:
        resources.close()
