"""Listing and statistics without reading every row: an index for the newest jobs of a tenant, and the few
numbers of a decision that statistics add up, as columns."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_listing_and_stats"
down_revision = "0004_reservations"


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("priority", sa.String(64), nullable=False, server_default="normal"))
        batch.add_column(sa.Column("expected_g", sa.Float, nullable=True))
        batch.add_column(sa.Column("saving_g", sa.Float, nullable=True))
        batch.create_index("ix_jobs_tenant_created", ["tenant", "created_s"])


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_index("ix_jobs_tenant_created")
        for name in ("saving_g", "expected_g", "priority"):
            batch.drop_column(name)
