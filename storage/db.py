"""Engine and session factory: one sync engine per process, one session per Bytewax worker."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import Engine, create_engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)


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


def warm_pool(engine: Engine, count: int) -> int:
    """Open up to `count` pooled connections now; returns how many opened.

    A new connection costs ~14 ms (TCP, SCRAM authentication) and much more under load. Opened
    lazily, the first executions after a start each paid for one, in series behind the dataflow
    for the GIL (bench figure 5: 120-260 ms event -> webhook for the first second of load, against
    a 15 ms median). A database that is down now is not an error here: executions wait it out.
    """
    opened: list[Any] = []
    try:
        for _ in range(count):
            opened.append(engine.connect())
    except DBAPIError as exc:  # the outage handling of executions reports and waits it out
        log.warning("database connections not opened ahead (%d of %d): %s", len(opened), count, exc.orig)
    for connection in opened:
        connection.close()
    return len(opened)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions whose objects stay readable after commit, so callers can use what they wrote."""
    return sessionmaker(bind=engine, expire_on_commit=False)
