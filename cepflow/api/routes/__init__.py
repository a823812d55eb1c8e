"""One router per resource; `ROUTERS` is the order they appear in the OpenAPI document."""

from cepflow.api.routes import (
    dead_letters,
    executions,
    health,
    rules,
    script_apis,
    silences,
    tests,
    tokens,
    trigger,
)

ROUTERS = [
    health.router,
    rules.router,
    tests.router,
    trigger.router,
    executions.router,
    dead_letters.router,
    silences.router,
    script_apis.router,
    tokens.router,
]

__all__ = ["ROUTERS"]
