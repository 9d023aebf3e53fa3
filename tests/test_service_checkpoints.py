"""SQLite's write-ahead log is copied into the database by the service's checkpoint thread, never by a commit."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

pytest.importorskip("alembic", reason="the service needs greenci[service]: pip install 'greenci[service]'")

from greenci.service.checkpoints import Checkpointer  # noqa: E402
from greenci.service.store import JobStore, NewJob  # noqa: E402


def _jobs(n: int, tag: str) -> list[NewJob]:
    return [NewJob.build(key=f"{tag}-{i}", repo="a/b", workflow="w", job_name=f"j{i}", status="scheduled",
                         region="GB", start_s=1_665_561_600 + i, submitted_s=1_665_561_600, request={"i": i},
                         decision={"region": "GB"}) for i in range(n)]


def _autocheckpoint(store: JobStore) -> int:
    with store.engine.connect() as c:
        return int(c.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one())


def test_with_background_checkpoints_no_commit_checkpoints_and_checkpoint_copies_the_whole_log(
        tmp_path: Path) -> None:
    plain = JobStore(f"sqlite:///{tmp_path / 'plain.db'}")
    store = JobStore(f"sqlite:///{tmp_path / 'jobs.db'}", background_checkpoints=True)
    try:
        assert _autocheckpoint(plain) == 1000  # SQLite's default: the commit past 1,000 pages copies the log
        assert _autocheckpoint(store) == 0
        for k in range(20):
            store.add_many(_jobs(5, f"b{k}"))
        got = store.checkpoint()
        assert got is not None
        log, copied = got
        assert log > 0 and copied == log, got  # nothing else was reading or writing: all of it was copied
        assert len(store.list(limit=1000)) == 100
    finally:
        plain.close()
        store.close()


def test_the_checkpointer_runs_while_the_service_writes(tmp_path: Path) -> None:
    store = JobStore(f"sqlite:///{tmp_path / 'jobs.db'}", background_checkpoints=True)
    checkpointer = Checkpointer(store, interval_s=0.05)
    try:
        checkpointer.start()
        t0 = time.monotonic()
        k = 0
        while checkpointer.runs < 3 and time.monotonic() - t0 < 10:
            store.add_many(_jobs(3, f"b{k}"))
            k += 1
            time.sleep(0.01)
        assert checkpointer.runs >= 3
    finally:
        checkpointer.stop()
        store.close()


def test_the_checkpointer_checkpoints_once_more_when_it_stops(tmp_path: Path) -> None:
    store = JobStore(f"sqlite:///{tmp_path / 'jobs.db'}", background_checkpoints=True)
    checkpointer = Checkpointer(store, interval_s=3600)
    try:
        checkpointer.start()
        store.add_many(_jobs(3, "only"))
        t0 = time.monotonic()
        checkpointer.stop()
        assert time.monotonic() - t0 < 5  # it did not sleep out its interval
        assert checkpointer.runs == 1
    finally:
        checkpointer.stop()
        store.close()


def test_a_store_without_a_log_file_has_nothing_to_checkpoint() -> None:
    store = JobStore("sqlite://", background_checkpoints=True)
    try:
        assert not store.checkpoints and store.checkpoint() is None
        checkpointer = Checkpointer(store)
        checkpointer.start()  # no thread: nothing to do
        checkpointer.stop()
        assert checkpointer.runs == 0
    finally:
        store.close()
    with pytest.raises(ValueError, match="interval_s"):
        Checkpointer(store, interval_s=0)
