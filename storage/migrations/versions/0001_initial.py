"""Initial schema: rules, script APIs, their revisions, and the execution log.

Revision ID: 0001
Revises:
Create Date: 2025-11-27
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TZ = sa.TIMESTAMP(timezone=True)


def _timestamps() -> list[sa.Column[datetime]]:
    return [
        sa.Column("created_at", TZ, server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", TZ, server_default=sa.func.now(), nullable=False),
    ]


def _revision_table(table: str, owner: str, actions: tuple[str, ...]) -> None:
    """A revision table: no foreign key to `owner`, so history outlives deleted rows."""
    allowed = ", ".join(f"'{action}'" for action in actions)
    op.create_table(
        table,
        sa.Column("id", sa.BigInteger, sa.Identity(), nullable=False),
        sa.Column(f"{owner}_id", sa.Uuid, nullable=False),
        sa.Column(f"{owner}_name", sa.Text, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("spec", JSONB, nullable=False),
        sa.Column("changes", JSONB, server_default="[]", nullable=False),
        sa.Column("changed_by", sa.Text, nullable=False),
        sa.Column("created_at", TZ, server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=f"pk_{table}"),
        sa.UniqueConstraint(f"{owner}_id", "version", name=f"uq_{table}_{owner}_id_version"),
        sa.CheckConstraint(f"action IN ({allowed})", name=f"ck_{table}_action"),
    )
    op.create_index(f"ix_{table}_{owner}_name", table, [f"{owner}_name"])


def upgrade() -> None:
    op.create_table(
        "rules",
        sa.Column("id", sa.Uuid, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("version", sa.Integer, server_default="1", nullable=False),
        sa.Column("active", sa.Boolean, server_default="true", nullable=False),
        sa.Column("spec", JSONB, nullable=False),
        sa.Column("owner", sa.Text, nullable=True),
        sa.Column("description", sa.Text, server_default="", nullable=False),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name="pk_rules"),
        sa.UniqueConstraint("name", name="uq_rules_name"),
    )
    _revision_table(
        "rule_revisions",
        "rule",
        ("create", "update", "enable", "disable", "rollback", "delete"),
    )
    op.create_table(
        "script_apis",
        sa.Column("id", sa.Uuid, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("type", sa.Text, nullable=False),
        sa.Column("language", sa.Text, nullable=False),
        sa.Column("version", sa.Integer, server_default="1", nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("timeout_ms", sa.Integer, nullable=False),
        sa.Column("memory_mb", sa.Integer, nullable=False),
        sa.Column("spec", JSONB, nullable=False),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name="pk_script_apis"),
        sa.UniqueConstraint("name", name="uq_script_apis_name"),
    )
    _revision_table("script_api_revisions", "script_api", ("create", "update"))
    op.create_table(
        "exec_logs",
        sa.Column("id", sa.BigInteger, sa.Identity(), nullable=False),
        sa.Column("rule_id", sa.Uuid, nullable=True),
        sa.Column("rule_name", sa.Text, nullable=False),
        sa.Column("rule_version", sa.Integer, nullable=True),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("duration_ms", sa.Double, server_default="0", nullable=False),
        sa.Column("references", JSONB, server_default="{}", nullable=False),
        sa.Column("executed_by", sa.Text, nullable=False),
        sa.Column("error_message", sa.Text, nullable=True),
        sa.Column("idempotency_key", sa.Text, nullable=False),
        sa.Column("group_key", JSONB, server_default="{}", nullable=False),
        sa.Column("chain_id", sa.Text, nullable=True),
        sa.Column("created_at", TZ, server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_exec_logs"),
        sa.UniqueConstraint("idempotency_key", name="uq_exec_logs_idempotency_key"),
        sa.CheckConstraint(
            "status IN ('success', 'fail', 'dry_run', 'skipped')", name="ck_exec_logs_status"
        ),
    )
    op.create_index("ix_exec_logs_rule_id_created_at", "exec_logs", ["rule_id", "created_at"])
    op.create_index("ix_exec_logs_chain_id", "exec_logs", ["chain_id"])
    op.create_index("ix_exec_logs_created_at", "exec_logs", ["created_at"])


def downgrade() -> None:
    for table in ("exec_logs", "script_api_revisions", "script_apis", "rule_revisions", "rules"):
        op.drop_table(table)
