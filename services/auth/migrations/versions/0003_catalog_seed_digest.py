"""catalogue: the digest of the models file a catalogue nobody changed was seeded from

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 16:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("catalog_state") as batch:
        batch.add_column(sa.Column("seed_digest", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("catalog_state") as batch:
        batch.drop_column("seed_digest")
