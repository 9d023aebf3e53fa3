"""Read-only queries of the dashboard over the job store: the columns a page needs, never every document.

Why not ``JobStore.list``: the pages aggregate thousands of jobs, and the stored request and decision are
JSON documents; the columns the store keeps beside them (start, window end, expected gCO2eq, saving,
priority) are enough, read in one query and turned into NumPy arrays for the aggregates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sqlalchemy as sa

from greenci.service.store import JobStore, jobs

__all__ = ["Columns", "QueuedJob", "job_columns", "queued_jobs"]


@dataclass(frozen=True)
class QueuedJob:
    """A deferred job waiting for its start: what the queue table and the window overlay show."""

    id: str
    tenant: str
    repo: str
    workflow: str
    job_name: str
    priority: str
    region: str
    start_s: int
    end_s: int
    submitted_s: int
    expected_g: float | None
    saving_g: float | None


def queued_jobs(store: JobStore, tenant: str | None, limit: int = 500) -> list[QueuedJob]:
    """Scheduled jobs (of ``tenant``; None: every tenant's), soonest start first, at most ``limit``."""
    q = (sa.select(jobs.c.id, jobs.c.tenant, jobs.c.repo, jobs.c.workflow, jobs.c.job_name, jobs.c.priority,
                   jobs.c.region, jobs.c.start_s, jobs.c.end_s, jobs.c.submitted_s, jobs.c.expected_g,
                   jobs.c.saving_g)
         .where(jobs.c.status == "scheduled").order_by(jobs.c.start_s, jobs.c.id).limit(limit))
    if tenant is not None:
        q = q.where(jobs.c.tenant == tenant)
    with store.engine.connect() as c:
        rows = c.execute(q).all()
    return [QueuedJob(r.id, r.tenant, r.repo, r.workflow, r.job_name, r.priority, r.region, int(r.start_s),
                      int(r.end_s if r.end_s is not None else r.start_s), int(r.submitted_s), r.expected_g,
                      r.saving_g) for r in rows]


@dataclass(frozen=True)
class Columns:
    """The latest jobs as columns (NaN where a value is not known yet), oldest decision first."""

    id: np.ndarray
    repo: np.ndarray
    priority: np.ndarray
    status: np.ndarray
    submitted_s: np.ndarray
    start_s: np.ndarray
    started_s: np.ndarray
    completed_s: np.ndarray
    expected_g: np.ndarray
    saving_g: np.ndarray
    actual_g: np.ndarray
    truncated: bool  # more jobs exist than were read

    @property
    def n(self) -> int:
        return int(self.id.size)


def job_columns(store: JobStore, tenant: str | None, limit: int = 5000) -> Columns:
    """The latest ``limit`` jobs of ``tenant`` (None: every tenant's) as NumPy columns."""
    q = (sa.select(jobs.c.id, jobs.c.repo, jobs.c.priority, jobs.c.status, jobs.c.submitted_s, jobs.c.start_s,
                   jobs.c.started_s, jobs.c.completed_s, jobs.c.expected_g, jobs.c.saving_g, jobs.c.actual_g)
         .order_by(jobs.c.created_s.desc()).limit(limit + 1))
    if tenant is not None:
        q = q.where(jobs.c.tenant == tenant)
    with store.engine.connect() as c:
        rows = c.execute(q).all()
    truncated = len(rows) > limit
    rows = rows[:limit][::-1]
    cols = list(zip(*rows, strict=True)) if rows else [()] * 11

    def num(i: int) -> np.ndarray:
        return np.array([np.nan if v is None else float(v) for v in cols[i]], dtype=np.float64)

    def text(i: int) -> np.ndarray:
        return np.array(cols[i], dtype=object)

    order = np.argsort(num(4), kind="stable")  # by submission: the x axis of the outcome charts
    return Columns(id=text(0)[order], repo=text(1)[order], priority=text(2)[order], status=text(3)[order],
                   submitted_s=num(4)[order], start_s=num(5)[order], started_s=num(6)[order],
                   completed_s=num(7)[order], expected_g=num(8)[order], saving_g=num(9)[order],
                   actual_g=num(10)[order], truncated=truncated)
