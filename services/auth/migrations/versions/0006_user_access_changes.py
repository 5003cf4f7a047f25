"""users: when an admin last changed the account's access, and since when its tokens count

`access_changed_at` dates the last disable, enable or role change (auth answers the recent
ones to gateways that start); `tokens_not_before` is the last disable: access tokens issued
before it are refused once the account is enabled again.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27 04:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("access_changed_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("tokens_not_before", sa.DateTime(timezone=True), nullable=True))
        batch.create_index("ix_users_access_changed_at", ["access_changed_at"])


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_index("ix_users_access_changed_at")
        batch.drop_column("tokens_not_before")
        batch.drop_column("access_changed_at")
