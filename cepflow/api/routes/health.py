"""Health (the process answers) and readiness (its database is reachable and migrated).

The only endpoints without a token: probes of load balancers and orchestrators carry none.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from cepflow.api.deps import resources
from storage.migrate import heads as migration_heads

router = APIRouter(tags=["health"])


@router.get("/health")
def health() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/health/ready")
def ready(request: Request) -> JSONResponse:
    """200 when PostgreSQL answers and holds the newest schema; 503 with the reason otherwise."""
    heads = migration_heads()
    try:
        with resources(request).sessions() as session:
            current = set(session.execute(text("SELECT version_num FROM alembic_version")).scalars())
    except Exception as exc:
        return JSONResponse({"status": "not ready", "reason": f"database: {type(exc).__name__}"}, status_code=503)
    if current != heads:
        reason = f"database schema at {sorted(current)}, code expects {sorted(heads)}: run `cepflow db upgrade`"
        return JSONResponse({"status": "not ready", "reason": reason}, status_code=503)
    return JSONResponse({"status": "ready", "schema": sorted(heads)})
