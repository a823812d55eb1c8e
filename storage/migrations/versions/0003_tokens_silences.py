"""API tokens and silences (issue 15); script API revisions may record a `delete`.

Revision ID: 0003
Revises: 0001
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0003"
down_revision = "0001"
branch_labels = None
depends_on = None

TZ = sa.TIMESTAMP(timezone=True)


def _script_api_actions(actions: str) -> None:
    op.drop_constraint("ck_script_api_revisions_action", "script_api_revisions", type_="check")
    op.create_check_constraint("ck_script_api_revisions_action", "script_api_revisions", f"action IN ({actions})")


def upgrade() -> None:
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Uuid, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("role", sa.Text, nullable=False),
        sa.Column("secret_sha256", sa.Text, nullable=False),
        sa.Column("created_by", sa.Text, nullable=False),
        sa.Column("revoked_at", TZ, nullable=True),
        sa.Column("last_used_at", TZ, nullable=True),
        sa.Column("created_at", TZ, server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_api_tokens"),
        sa.UniqueConstraint("name", name="uq_api_tokens_name"),
        sa.UniqueConstraint("secret_sha256", name="uq_api_tokens_secret_sha256"),
        sa.CheckConstraint("role IN ('viewer', 'author', 'operator', 'admin')", name="ck_api_tokens_role"),
    )
    op.create_table(
        "silences",
        sa.Column("id", sa.Uuid, nullable=False),
        sa.Column("rule_id", sa.Uuid, nullable=True),
        sa.Column("rule_name", sa.Text, nullable=True),
        sa.Column("group_values", JSONB, server_default="{}", nullable=False),
        sa.Column("starts_at", TZ, nullable=False),
        sa.Column("ends_at", TZ, nullable=False),
        sa.Column("comment", sa.Text, nullable=False),
        sa.Column("created_by", sa.Text, nullable=False),
        sa.Column("expired_by", sa.Text, nullable=True),
        sa.Column("created_at", TZ, server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_silences"),
        sa.CheckConstraint("ends_at > starts_at", name="ck_silences_time_order"),
    )
    op.create_index("ix_silences_ends_at", "silences", ["ends_at"])
    _script_api_actions("'create', 'update', 'delete'")


def downgrade() -> None:
    op.execute("DELETE FROM script_api_revisions WHERE action = 'delete'")
    _script_api_actions("'create', 'update'")
    op.drop_table("silences")
    op.drop_table("api_tokens")
