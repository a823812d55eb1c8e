"""Declarative base: a naming convention so Alembic names constraints the same way every time."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import TIMESTAMP, BigInteger, CheckConstraint, Identity, MetaData, Text, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """All cepflow tables. `dict` columns are JSONB and `datetime` columns carry a time zone."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {
        dict[str, Any]: JSONB,
        list[dict[str, Any]]: JSONB,
        datetime: TIMESTAMP(timezone=True),
    }


class CreatedAt:
    """`created_at` set by the database clock, so every writer agrees on time."""

    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class Timestamps:
    """`created_at` plus `updated_at`, which the ORM sets to now() on every UPDATE."""

    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())


class RevisionColumns(CreatedAt):
    """What every revision table holds besides its owner's id and name: the version it made, the
    change (`action`), the document after it, the fields that changed and who changed it.
    """

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    version: Mapped[int]
    action: Mapped[str] = mapped_column(Text)
    spec: Mapped[dict[str, Any]]
    changes: Mapped[list[dict[str, Any]]] = mapped_column(server_default="[]")
    changed_by: Mapped[str] = mapped_column(Text)


def one_of(column: str, values: Sequence[str]) -> CheckConstraint:
    """CHECK that `column` holds one of `values`; named `ck_<table>_<column>` by the convention."""
    allowed = ", ".join(f"'{value}'" for value in values)
    return CheckConstraint(f"{column} IN ({allowed})", name=column)
