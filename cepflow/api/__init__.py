"""The HTTP API of `cepflow serve` (FastAPI): the CLI's operations over HTTP, with tokens and roles.

`create_app(settings)` builds the app; routers live one per resource in `routes/`; `/ui` is
where a web console is mounted (`create_app(..., console=asgi_app)`).
"""

from cepflow.api.app import create_app

__all__ = ["create_app"]
