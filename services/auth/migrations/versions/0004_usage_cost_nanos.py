"""usage: cost as an exact integer of nano-units (billionths of the price's currency)

A float column summed one event at a time depends on the order the events arrive
in (float addition is not associative); integer sums do not.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 00:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("usage") as batch:
        batch.add_column(sa.Column("cost_nanos", sa.BigInteger(), nullable=False, server_default="0"))
    op.execute("UPDATE usage SET cost_nanos = ROUND(cost * 1000000000)")
    with op.batch_alter_table("usage") as batch:
        batch.alter_column("cost_nanos", server_default=None)
        batch.drop_column("cost")


def downgrade() -> None:
    with op.batch_alter_table("usage") as batch:
        batch.add_column(sa.Column("cost", sa.Float(), nullable=False, server_default="0"))
    op.execute("UPDATE usage SET cost = cost_nanos / 1000000000.0")
    with op.batch_alter_table("usage") as batch:
        batch.alter_column("cost", server_default=None)
        batch.drop_column("cost_nanos")
