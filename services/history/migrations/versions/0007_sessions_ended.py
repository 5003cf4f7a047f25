"""account_access: the sessions of the account that ended lately (sign-out, a new password,
a reused refresh token), so that their access tokens are refused at once.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("account_access") as batch:
        batch.add_column(sa.Column("sessions_ended", sa.JSON(), nullable=False, server_default="[]"))


def downgrade() -> None:
    with op.batch_alter_table("account_access") as batch:
        batch.drop_column("sessions_ended")
