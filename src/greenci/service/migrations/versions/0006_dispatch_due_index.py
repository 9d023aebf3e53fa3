"""The dispatcher's poll reads only jobs it could dispatch: a partial index of scheduled jobs with a target.

Without it the poll walked every scheduled job whose start had come, targets or not (most jobs have none:
their CI polls them), so its cost grew with the store: 33 ms a poll at 100,000 scheduled jobs.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_dispatch_due_index"
down_revision = "0005_listing_and_stats"

WHERE = "status = 'scheduled' AND target IS NOT NULL"


def upgrade() -> None:
    op.drop_index("ix_jobs_due", table_name="jobs")  # (status, start_s): the poll was its only reader
    op.create_index("ix_jobs_dispatch_due", "jobs", ["start_s"], sqlite_where=sa.text(WHERE),
                    postgresql_where=sa.text(WHERE))


def downgrade() -> None:
    op.drop_index("ix_jobs_dispatch_due", table_name="jobs")
    op.create_index("ix_jobs_due", "jobs", ["status", "start_s"])
