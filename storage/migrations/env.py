"""Alembic environment: online only, on the connection `storage.migrate` hands over.

Offline (`--sql`) mode is not offered: migrations are applied by `storage.migrate.upgrade`.
"""

from __future__ import annotations

from alembic import context

from storage.locks import advisory_xact_lock
from storage.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    msg = "run migrations with storage.migrate.upgrade(url), not the alembic command"
    raise RuntimeError(msg)

context.configure(connection=connection, target_metadata=Base.metadata)
with context.begin_transaction():
    advisory_xact_lock(connection, "cepflow", "migrations")
    context.run_migrations()
