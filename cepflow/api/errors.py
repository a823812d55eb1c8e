"""Every error of the API has one shape: `{"detail": message, "errors": [{"field", "message"}]}`.

Bad input is a 400 naming the field at fault (request validation included: FastAPI's default 422
is turned into the 400 the original system answered); unknown things are 404, name clashes 409.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from rules.errors import RuleFileError
from storage.errors import Conflict, InvalidSpec, NotFound, StorageError

log = logging.getLogger(__name__)

# Where a request-validation location starts: the part of the request, not a field.
_REQUEST_PARTS = ("body", "query", "path", "header")


class ApiError(Exception):
    """An error answered as is: status, message and the fields at fault."""

    def __init__(self, status: int, detail: str, errors: list[dict[str, Any]] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status, self.detail, self.errors, self.headers = status, detail, errors or [], headers


def bad_input(field: str, message: str) -> ApiError:
    """A 400 about one field."""
    return ApiError(400, f"{field}: {message}", [{"field": field, "message": message}])


def error_body(detail: str, errors: list[dict[str, Any]] | None = None) -> bytes:
    """The error shape as bytes, for answers sent below FastAPI (the body-size middleware)."""
    return json.dumps({"detail": detail, "errors": errors or []}).encode()


def _answer(status: int, detail: str, errors: list[dict[str, Any]] | None = None,
            headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail, "errors": errors or []}, status_code=status, headers=headers)


def _field(loc: tuple[Any, ...]) -> str:
    parts = list(loc[1:] if loc and loc[0] in _REQUEST_PARTS else loc)
    return ".".join(str(part) for part in parts) or str(loc[0] if loc else "request")


def _request_error(error: dict[str, Any]) -> dict[str, Any]:
    """One problem of a request; for a body that is not JSON, pydantic's location is a position."""
    loc = tuple(error["loc"])
    if error.get("type") == "json_invalid":
        where = f" at character {loc[1]}" if len(loc) > 1 else ""
        return {"field": "body", "message": f"{error['msg']}{where}"}
    return {"field": _field(loc), "message": error["msg"]}


def _request_invalid(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [_request_error(error) for error in exc.errors()]
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors) or "invalid request"
    return _answer(400, detail, errors)


def _rule_file(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RuleFileError)
    errors = [{"field": p.field, "message": p.message, **({"line": p.line} if p.line else {})} for p in exc.problems]
    return _answer(400, str(exc), errors)


def _storage(_: Request, exc: Exception) -> JSONResponse:
    status = 404 if isinstance(exc, NotFound) else 409 if isinstance(exc, Conflict) else 400
    assert isinstance(exc, StorageError)
    return _answer(status, str(exc))


def _api(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return _answer(exc.status, exc.detail, exc.errors, exc.headers)


def _http(_: Request, exc: Exception) -> JSONResponse:
    """FastAPI's own errors; its only 400 is a body it could not parse (e.g. nested too deeply)."""
    assert isinstance(exc, HTTPException)
    errors = [{"field": "body", "message": str(exc.detail)}] if exc.status_code == 400 else []
    return _answer(exc.status_code, str(exc.detail), errors, headers=getattr(exc, "headers", None))


def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    """A bug or an outage (database, Kafka): 500, logged with its traceback, no internals sent."""
    log.error("unhandled error in the API", exc_info=exc)
    return _answer(500, f"internal error ({type(exc).__name__}); the server log has the details")


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error with the one shape above."""
    app.add_exception_handler(Exception, _unexpected)
    app.add_exception_handler(RequestValidationError, _request_invalid)
    app.add_exception_handler(RuleFileError, _rule_file)
    app.add_exception_handler(NotFound, _storage)
    app.add_exception_handler(Conflict, _storage)
    app.add_exception_handler(InvalidSpec, _storage)
    app.add_exception_handler(StorageError, _storage)
    app.add_exception_handler(ApiError, _api)
    app.add_exception_handler(HTTPException, _http)
