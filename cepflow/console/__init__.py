"""The web console: a buildless single page (HTML, one script, one style sheet) served at `/ui`.

It is the HTTP API's client and nothing more — every action it offers is an API call made with the
operator's token (kept in the tab's session storage), so the console can do exactly what the token's
role allows and no page holds logic of its own. Nothing is fetched from the internet at run time.
"""

from __future__ import annotations

from pathlib import Path

from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp

STATIC = Path(__file__).parent / "static"


def console_app() -> ASGIApp:
    """The console's files, `index.html` at the root (mounted by `create_app(..., console=...)`)."""
    return StaticFiles(directory=STATIC, html=True)
