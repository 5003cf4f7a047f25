"""Projects: named groups of a user's conversations.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from parley_history.adapters.orm import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "projects",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("user_id", sa.String(255), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("system_prompt", sa.Text()),
        sa.Column("model", sa.String(255)),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("deleted_at", UTCDateTime()),
    )
    op.create_index("ix_projects_user_id", "projects", ["user_id"])
    # A nullable column without a default: a plain ALTER TABLE ADD COLUMN on SQLite too.
    op.add_column("conversations", sa.Column("project_id", sa.Uuid()))
    op.create_index("ix_conversations_project_id", "conversations", ["project_id"])


def downgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.drop_index("ix_conversations_project_id")
        batch.drop_column("project_id")
    op.drop_index("ix_projects_user_id", table_name="projects")
    op.drop_table("projects")
