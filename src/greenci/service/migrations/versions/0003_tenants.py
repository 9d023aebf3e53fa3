"""Tenants: every job belongs to one; API tokens (stored as hashes) with scopes."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_tenants"
down_revision = "0002_dispatch"


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("tenant", sa.String(64), nullable=False, server_default="default"))
        batch.create_index("ix_jobs_tenant", ["tenant", "status"])
    op.create_table(
        "tokens",
        sa.Column("id", sa.String(16), primary_key=True),
        sa.Column("tenant", sa.String(64), nullable=False, index=True),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("scopes", sa.String(200), nullable=False),
        sa.Column("label", sa.String(200), nullable=False, server_default=""),
        sa.Column("created_s", sa.Float, nullable=False),
        sa.Column("revoked_s", sa.Float, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("tokens")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_index("ix_jobs_tenant")
        batch.drop_column("tenant")
