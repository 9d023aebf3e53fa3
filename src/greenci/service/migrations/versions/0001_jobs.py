"""The jobs table: request, decision, status and outcome of every accepted job."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_jobs"
down_revision = None


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("idempotency_key", sa.String(200), unique=True, nullable=True),
        sa.Column("repo", sa.String(200), nullable=False, index=True),
        sa.Column("workflow", sa.String(200), nullable=False),
        sa.Column("job_name", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("region", sa.String(64), nullable=False),
        sa.Column("start_s", sa.BigInteger, nullable=False),
        sa.Column("submitted_s", sa.BigInteger, nullable=False),
        sa.Column("created_s", sa.Float, nullable=False),
        sa.Column("request", sa.Text, nullable=False),
        sa.Column("decision", sa.Text, nullable=False),
        sa.Column("started_s", sa.Float, nullable=True),
        sa.Column("completed_s", sa.Float, nullable=True),
        sa.Column("runtime_s", sa.Float, nullable=True),
        sa.Column("measured_kwh", sa.Float, nullable=True),
        sa.Column("actual_g", sa.Float, nullable=True),
        sa.Column("outcome", sa.Text, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("jobs")
