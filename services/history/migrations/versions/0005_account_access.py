"""Account access: the latest `user.access_changed` of each account, so that access tokens
issued before an admin disabled or demoted it are refused at once, also after a restart.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from parley_history.adapters.orm import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "account_access",
        sa.Column("user_id", sa.String(255), primary_key=True),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("tokens_not_before", UTCDateTime(), nullable=True),
        sa.Column("relevant_until", UTCDateTime(), nullable=False),
        sa.Column("occurred_at", UTCDateTime(), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("account_access")
