"""A cap on request bodies: FastAPI reads a whole JSON body into memory before validating it, so
an endless or huge body would otherwise cost the server its memory. Answered `413` in the API's
error shape, whether the size is declared (`Content-Length`) or only found while reading.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cepflow.api.errors import error_body


class _TooLarge(Exception):
    pass


class BodyLimit:
    """ASGI middleware refusing bodies over `max_bytes`."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._refuse(send)
            return
        seen = 0
        over = started = False

        async def limited() -> Message:
            nonlocal seen, over
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    over = True
                    raise _TooLarge
            return message

        async def answer(message: Message) -> None:
            """Pass the app's answer on, unless the body was cut: FastAPI turns the error raised
            while it read the body into a 400 of its own, which becomes the 413 it is.
            """
            nonlocal started
            if over:
                if message["type"] == "http.response.start":
                    started = True
                    await self._refuse(send)
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited, answer)
        except _TooLarge:
            if not started:
                await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        body = error_body(f"request body larger than {self.max_bytes} bytes (CEPFLOW_API_MAX_BODY_BYTES)",
                          [{"field": "body", "message": "too large"}])
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
