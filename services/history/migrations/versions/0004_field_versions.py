"""Field versions: the event that last set each order-sensitive field of a projected row.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from parley_history.adapters.orm import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "field_versions",
        sa.Column("entity_id", sa.Uuid(), primary_key=True),
        sa.Column("field", sa.String(32), primary_key=True),
        sa.Column("occurred_at", UTCDateTime(), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("field_versions")
