"""users: email identity folded by NFKC and case, and the look-alike skeleton

`email_norm` was the lower-cased address; it becomes NFKC-folded and case-folded
(a full-width `dev@…` is `dev@…`). A row whose new identity another row already has keeps
its old one (the two accounts stay apart; the next registration of either is refused).
`email_skeleton` maps letters of other scripts drawn like Latin ones to those, so that
`dev@…` spelt with a Cyrillic `e` can be refused beside an existing `dev@…`.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 18:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from parley_auth.domain.accounts import normalize_email, skeleton

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("email_skeleton", sa.String(320), nullable=True))
        batch.create_index("ix_users_email_skeleton", ["email_skeleton"])
    users = sa.table(
        "users",
        sa.column("id", sa.Uuid),
        sa.column("email", sa.String),
        sa.column("email_norm", sa.String),
        sa.column("email_skeleton", sa.String),
    )
    connection = op.get_bind()
    rows = connection.execute(sa.select(users.c.id, users.c.email, users.c.email_norm)).all()
    taken = {row.email_norm for row in rows}
    for row in rows:
        norm = normalize_email(row.email)
        if norm != row.email_norm and norm in taken:
            norm = row.email_norm
        taken.add(norm)
        connection.execute(
            users.update()
            .where(users.c.id == row.id)
            .values(email_norm=norm, email_skeleton=skeleton(norm))
        )


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_index("ix_users_email_skeleton")
        batch.drop_column("email_skeleton")
