"""The Alembic migrations build exactly the schema the store's code describes (no drift), on both stores."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("alembic", reason="the service needs greenci[service]: pip install 'greenci[service]'")

from alembic.autogenerate import compare_metadata  # noqa: E402
from alembic.migration import MigrationContext  # noqa: E402

from greenci.service.settings import ServiceSettings  # noqa: E402
from greenci.service.store import JobStore, metadata  # noqa: E402


def test_migrations_match_the_tables_in_code(tmp_path: Path, database_url: str | None) -> None:
    store = JobStore(ServiceSettings(data_dir=tmp_path, database_url=database_url).url)
    try:
        with store.engine.connect() as c:
            diff = compare_metadata(MigrationContext.configure(c), metadata)
    finally:
        store.close()
    assert diff == [], diff


def test_the_dispatcher_poll_reads_only_jobs_it_could_dispatch(tmp_path: Path) -> None:
    """Regression: the poll walked every scheduled job whose start had come (most have no target), so its
    cost grew with the store (33 ms a poll at 100,000 jobs, under the write lock). It now reads the partial
    index of scheduled jobs with a target, and still leases a due job with one."""
    from greenci.service.store import _PICK_DUE_SQLITE, NewJob

    store = JobStore(ServiceSettings(data_dir=tmp_path).url)
    try:
        news = [NewJob.build(key=None, repo="a/b", workflow="w", job_name=f"j{i}", status="scheduled", region="GB",
                             start_s=1_665_561_600 + i, submitted_s=1_665_561_600, request={}, decision={},
                             target={"type": "webhook", "url": "http://127.0.0.1:9/"} if i == 7 else None)
                for i in range(50)]
        store.add_many(news)
        with store.engine.connect() as c:
            plan = " ".join(str(r[-1]) for r in c.exec_driver_sql("EXPLAIN QUERY PLAN " + _PICK_DUE_SQLITE,
                                                                  (2e9, 2e9, 32)))
        assert "ix_jobs_dispatch_due" in plan and "TEMP B-TREE" not in plan, plan
        assert [j.job_name for j in store.claim_due("me", 2e9, 60)] == ["j7"]
        assert store.claim_due("other", 2e9, 60) == []  # leased: nobody else gets it
    finally:
        store.close()
