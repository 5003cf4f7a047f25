"""Signed audit chain: each audit row and the chain head carry an HMAC of (seq, hash) under
PARLEY_HISTORY_AUDIT_KEY, so that whoever can write the tables (the owner) cannot recompute
the chain unnoticed. Rows already stored stay unsigned (`verify` counts them).

The grants to the runtime role (PARLEY_HISTORY_RUNTIME_ROLE) are applied after every upgrade
(`migrations/env.py`, `adapters.database.grant_runtime_role`), so that they cover this
revision's columns and any table a later one adds.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("audit_log", "audit_head"):
        op.add_column(table, sa.Column("mac", sa.String(64), nullable=True))
        op.add_column(table, sa.Column("mac_key_id", sa.String(16), nullable=True))


def downgrade() -> None:
    for table in ("audit_head", "audit_log"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("mac_key_id")
            batch.drop_column("mac")
