"""keys: bootstrap mark and revocation; stream tokens: scopes and single use (issue 12)

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from parley.store.tables import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_keys") as batch_op:
        batch_op.add_column(
            sa.Column("bootstrap", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("revoked_at", UTCDateTime(), nullable=True))
    # Keys registered from PARLEY_API_KEY before this revision were named so.
    op.execute("UPDATE api_keys SET bootstrap = true WHERE name = 'PARLEY_API_KEY'")
    with op.batch_alter_table("stream_tokens") as batch_op:
        batch_op.add_column(
            sa.Column("scopes", sa.String(length=400), nullable=False, server_default="")
        )
        batch_op.add_column(sa.Column("used_at", UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("stream_tokens") as batch_op:
        batch_op.drop_column("used_at")
        batch_op.drop_column("scopes")
    with op.batch_alter_table("api_keys") as batch_op:
        batch_op.drop_column("revoked_at")
        batch_op.drop_column("bootstrap")
