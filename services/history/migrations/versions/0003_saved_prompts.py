"""The prompt library: saved system prompts, private or shared.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from parley_history.adapters.orm import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "saved_prompts",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("user_id", sa.String(255), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("tags", sa.Text(), nullable=False),
        sa.Column("shared", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("deleted_at", UTCDateTime()),
    )
    op.create_index("ix_saved_prompts_user_id", "saved_prompts", ["user_id"])
    op.create_index("ix_saved_prompts_shared", "saved_prompts", ["shared"])


def downgrade() -> None:
    op.drop_index("ix_saved_prompts_shared", table_name="saved_prompts")
    op.drop_index("ix_saved_prompts_user_id", table_name="saved_prompts")
    op.drop_table("saved_prompts")
