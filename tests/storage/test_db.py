"""The engine factory: what its errors may show."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from storage.db import make_engine, warm_pool


def test_errors_do_not_show_bound_parameters(engine: Engine):
    # Before: "[parameters: {'v': 'hooks/T0AAAAAAA/s3cr3t-token'}]" was part of the message.
    with pytest.raises(DBAPIError) as caught, engine.connect() as connection:
        connection.execute(text("CREATE TEMPORARY TABLE short_values (v varchar(3))"))
        connection.execute(text("INSERT INTO short_values VALUES (:v)"), {"v": "hooks/T0AAAAAAA/s3cr3t-token"})
    assert "s3cr3t-token" not in str(caught.value)
    assert "hidden due to hide_parameters" in str(caught.value)


def test_warm_pool_opens_the_connections_before_they_are_needed(database_url: str):
    fresh = make_engine(database_url, pool_size=3)
    try:
        assert warm_pool(fresh, 3) == 3
        assert fresh.pool.checkedin() == 3  # idle in the pool: the next checkouts connect nothing
    finally:
        fresh.dispose()


def test_warm_pool_with_the_database_down_opens_none_and_raises_nothing():
    down = make_engine("postgresql+psycopg://nobody:x@127.0.0.1:9/nothing", connect_args={"connect_timeout": 2})
    assert warm_pool(down, 3) == 0
