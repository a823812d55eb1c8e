"""The engine factory: what its errors may show."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError


def test_errors_do_not_show_bound_parameters(engine: Engine):
    # Before: "[parameters: {'v': 'hooks/T0AAAAAAA/s3cr3t-token'}]" was part of the message.
    with pytest.raises(DBAPIError) as caught, engine.connect() as connection:
        connection.execute(text("CREATE TEMPORARY TABLE short_values (v varchar(3))"))
        connection.execute(text("INSERT INTO short_values VALUES (:v)"), {"v": "hooks/T0AAAAAAA/s3cr3t-token"})
    assert "s3cr3t-token" not in str(caught.value)
    assert "hidden due to hide_parameters" in str(caught.value)
