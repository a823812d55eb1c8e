"""`create_app(settings)`: the FastAPI app of `cepflow serve` — routers, error shape, `/ui`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.types import ASGIApp

from cepflow.api.errors import install_error_handlers
from cepflow.api.limits import BodyLimit
from cepflow.api.routes import ROUTERS
from cepflow.resources import Resources
from cepflow.settings import Settings

CONSOLE_PATH = "/ui"


def create_app(settings: Settings, *, resources: Resources | None = None, console: ASGIApp | None = None) -> FastAPI:
    """The API over the database and Kafka of `settings` (OpenAPI at `/docs`).

    `resources` default to new ones built from `settings` (the CLI's composition, not a second
    one) and are closed when the server stops; given ones stay the caller's to close. A web console,
    when given, is mounted at `/ui` and calls this same API with a token.
    """
    owned = resources is None
    resources = resources or Resources(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        if owned:
            resources.close()

    app = FastAPI(
        title="cepflow",
        summary="Rules, tests, triggers, the execution log, dead letters, silences and script APIs.",
        version="0.1.0",
        docs_url="/docs",
        lifespan=lifespan,
    )
    app.state.resources = resources
    install_error_handlers(app)
    app.add_middleware(BodyLimit, max_bytes=settings.api_max_body_bytes)
    for router in ROUTERS:
        app.include_router(router)
    if console is not None:
        app.mount(CONSOLE_PATH, console)
    return app
