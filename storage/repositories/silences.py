"""Silences: create, list, get, expire; and the ones in force, for the engine's cache."""

from __future__ import annotations

import builtins
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage.errors import InvalidSpec, NotFound
from storage.models import Silence
from storage.repositories._documents import parse_uuid

_EPSILON = timedelta(microseconds=1)


class SilenceRepository:
    """Composes statements on one session and flushes; the caller's unit of work commits."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def create(
        self,
        *,
        rule_id: uuid.UUID | None,
        rule_name: str | None,
        group_values: dict[str, Any],
        starts_at: datetime | None,
        ends_at: datetime,
        comment: str,
        created_by: str,
    ) -> Silence:
        """A new silence; `starts_at` None means now (the database's clock)."""
        if rule_id is None and not group_values:
            msg = "a silence needs a `rule` or `group` values: it would mute everything"
            raise InvalidSpec(msg)
        if not comment.strip():
            msg = "a silence needs a `comment`: say why it mutes, for whoever reads the log"
            raise InvalidSpec(msg)
        for moment in (starts_at, ends_at):
            if moment is not None and moment.tzinfo is None:
                msg = "silence times need an offset, e.g. 2026-12-03T10:00:00+00:00"
                raise InvalidSpec(msg)
        start = starts_at or self.session.execute(select(func.now())).scalar_one()
        if ends_at <= start:
            msg = f"silence `ends_at` {ends_at.isoformat()} must be after its start {start.isoformat()}"
            raise InvalidSpec(msg)
        silence = Silence(rule_id=rule_id, rule_name=rule_name, group_values=group_values, starts_at=start,
                          ends_at=ends_at, comment=comment, created_by=created_by)
        self.session.add(silence)
        self.session.flush()
        return silence

    def get(self, ref: str | uuid.UUID) -> Silence | None:
        ident = parse_uuid(ref)
        return self.session.get(Silence, ident) if ident is not None else None

    def list(self, include_expired: bool = False, limit: int = 200) -> builtins.list[Silence]:
        """Silences not yet ended (or all, newest first), by start."""
        stmt = select(Silence).order_by(Silence.starts_at.desc(), Silence.id).limit(limit)
        if not include_expired:
            stmt = stmt.where(Silence.ends_at > func.now())
        return builtins.list(self.session.scalars(stmt))

    def not_ended(self) -> builtins.list[Silence]:
        """Silences in force or still to come: what the engine keeps and checks by time."""
        return builtins.list(self.session.scalars(
            select(Silence).where(Silence.ends_at > func.now()).order_by(Silence.id)
        ))

    def expire(self, ref: str | uuid.UUID, expired_by: str) -> Silence:
        """End a silence now (one still to come then never starts); an ended one is returned unchanged."""
        ident = parse_uuid(ref)
        silence = self.session.scalars(
            select(Silence).where(Silence.id == ident).with_for_update()
        ).one_or_none() if ident is not None else None
        if silence is None:
            msg = "silence"
            raise NotFound(msg, ref, "list the silences (with expired ones) for its id")
        now = self.session.execute(select(func.now())).scalar_one()
        if silence.ends_at > now:
            silence.starts_at = min(silence.starts_at, now - _EPSILON)
            silence.ends_at = now
            silence.expired_by = expired_by
            self.session.flush()
        return silence
