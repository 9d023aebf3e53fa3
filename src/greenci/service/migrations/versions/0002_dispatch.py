"""Dispatch: where a deferred job is started, the lease a dispatcher holds on it, attempts and the last error."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_dispatch"
down_revision = "0001_jobs"


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("target", sa.Text, nullable=True))
        batch.add_column(sa.Column("attempts", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("lease_owner", sa.String(64), nullable=True))
        batch.add_column(sa.Column("lease_until", sa.Float, nullable=True))
        batch.add_column(sa.Column("dispatched_s", sa.Float, nullable=True))
        batch.add_column(sa.Column("last_error", sa.Text, nullable=True))
        batch.create_index("ix_jobs_due", ["status", "start_s"])


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_index("ix_jobs_due")
        for name in ("last_error", "dispatched_s", "lease_until", "lease_owner", "attempts", "target"):
            batch.drop_column(name)
