"""The end of each job's planned run, so that runner reservations per region can be counted quickly."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_reservations"
down_revision = "0003_tenants"


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("end_s", sa.BigInteger, nullable=True))
        batch.create_index("ix_jobs_region_start", ["region", "start_s"])


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_index("ix_jobs_region_start")
        batch.drop_column("end_s")
