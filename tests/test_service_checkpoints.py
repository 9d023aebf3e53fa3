"""SQLite's write-ahead log is copied into the database by the service's checkpoint thread, never by a commit."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

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


@contextmanager
def _checkpointed(tmp_path: Path, **options: Any) -> Iterator[tuple[JobStore, Checkpointer]]:
    """A store without checkpointing commits and its running checkpointer, stopped and closed after."""
    store = JobStore(f"sqlite:///{tmp_path / 'jobs.db'}", background_checkpoints=True)
    checkpointer = Checkpointer(store, **options)
    try:
        checkpointer.start()
        yield store, checkpointer
    finally:
        checkpointer.stop()
        store.close()


def test_the_checkpointer_runs_while_the_service_writes(tmp_path: Path) -> None:
    with _checkpointed(tmp_path, interval_s=0.05) as (store, checkpointer):
        t0 = time.monotonic()
        k = 0
        while checkpointer.runs < 3 and time.monotonic() - t0 < 10:
            store.add_many(_jobs(3, f"b{k}"))
            k += 1
            time.sleep(0.01)
        assert checkpointer.runs >= 3


def test_the_checkpointer_checkpoints_once_more_when_it_stops(tmp_path: Path) -> None:
    with _checkpointed(tmp_path, interval_s=3600) as (store, checkpointer):
        store.add_many(_jobs(3, "only"))
        t0 = time.monotonic()
        checkpointer.stop()
        assert time.monotonic() - t0 < 5  # it did not sleep out its interval
        assert checkpointer.runs == 1


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


def test_under_writes_and_reads_the_log_starts_over_once_it_is_long(tmp_path: Path) -> None:
    """Regression: with commits every few ms and reads beside them, a commit seldom found the log wholly
    copied (one that began during the copy appends to it), and the log grew by megabytes a minute (here,
    without the second pass: past 3,000 frames in 2.5 s). A long log is now copied once more with no commit
    in progress, so that the next commit starts it over."""
    restart_after = 300
    import threading

    stop = threading.Event()
    ids: list[str] = []
    largest = 0
    with _checkpointed(tmp_path, interval_s=0.05, restart_after=restart_after) as (store, _):

        def write() -> None:
            k = 0
            while not stop.is_set():
                ids.append(store.add_many(_jobs(4, f"w{k}"))[0][0].id)
                k += 1
                time.sleep(0.002)

        def read() -> None:
            while not stop.is_set():
                if ids:
                    store.get(ids[-1])
                time.sleep(0.001)

        threads = [threading.Thread(target=write)] + [threading.Thread(target=read) for _ in range(3)]
        for t in threads:
            t.start()
        try:
            t0 = time.monotonic()
            while time.monotonic() - t0 < 3:
                time.sleep(0.05)
                largest = max(largest, (tmp_path / "jobs.db-wal").stat().st_size)
        finally:
            stop.set()
            for t in threads:
                t.join()
    frames = largest // 4096
    assert frames < 4 * restart_after, f"the log reached {frames} frames"
