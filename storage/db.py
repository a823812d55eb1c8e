"""Engine and session factory: one sync engine per process, one session per Bytewax worker."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session, sessionmaker


def make_engine(url: str, **kw: Any) -> Engine:
    """A psycopg 3 engine with a small pool; dead connections are detected before use.

    The pool is small because each worker holds at most one session at a time; pass `pool_size`,
    `max_overflow` or any other `create_engine` argument to override. Errors do not show bound
    parameters (`hide_parameters`): they hold events, rendered actions and log rows — secrets
    included — and error texts end up in logs and in `exec_logs.error_message`.
    """
    options: dict[str, Any] = {"pool_pre_ping": True, "pool_size": 2, "max_overflow": 2, "hide_parameters": True}
    options.update(kw)
    return create_engine(url, **options)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions whose objects stay readable after commit, so callers can use what they wrote."""
    return sessionmaker(bind=engine, expire_on_commit=False)
