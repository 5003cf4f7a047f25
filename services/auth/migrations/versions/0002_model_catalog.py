"""model catalogue: providers, models and the catalogue revision

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 15:45:00
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op


revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('catalog_providers',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('base_url', sa.String(length=2048), nullable=False),
    sa.Column('sealed_key', sa.Text(), nullable=True),
    sa.Column('key_last4', sa.String(length=4), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('catalog_models',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('provider_id', sa.Uuid(), nullable=False),
    sa.Column('upstream', sa.String(length=200), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('context_window', sa.Integer(), nullable=False),
    sa.Column('max_tokens', sa.Integer(), nullable=False),
    sa.Column('input_price_per_mtok', sa.Float(), nullable=False),
    sa.Column('output_price_per_mtok', sa.Float(), nullable=False),
    sa.Column('concurrency', sa.Integer(), nullable=True),
    sa.Column('defaults', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['provider_id'], ['catalog_providers.id'], ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    with op.batch_alter_table('catalog_models', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_catalog_models_provider_id'), ['provider_id'], unique=False)

    state = op.create_table('catalog_state',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('revision', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    # The one row every catalogue change bumps (and locks, so that changes serialize).
    op.bulk_insert(state, [{'id': 1, 'revision': 0, 'updated_at': datetime.now(UTC)}])


def downgrade() -> None:
    op.drop_table('catalog_state')
    with op.batch_alter_table('catalog_models', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_catalog_models_provider_id'))

    op.drop_table('catalog_models')
    op.drop_table('catalog_providers')
