"""Group commit: one thread stores the new jobs of every request, many per transaction.

Why: a decision is durable once its job is committed, and a commit waits for the disk (SQLite flushes its
write-ahead log on every commit; PostgreSQL its WAL). Requests that each commit on their own queue behind
the database's one writer and pay one flush each. Here a request hands its job to the writer and waits;
the writer takes every job that queued meanwhile, stores them in one transaction (:meth:`JobStore.add_many`)
and answers each request once that commit returned. Under load a flush carries tens of jobs; alone, a
request waits for its own commit only. Nothing is answered before it is stored, and a failed commit fails
every request of its batch (none of them stored) with the reason.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future

from greenci.service.store import JobStore, NewJob, StoredJob

__all__ = ["JobWriter"]

logger = logging.getLogger("greenci.service")

Stored = tuple[StoredJob, bool]
_STOP = object()


class JobWriter:
    """Stores jobs handed to :meth:`submit` in batches of up to ``max_batch``, on its own thread.

    ``on_stored(new)`` runs after each commit, with the jobs of the batch (the service releases the runner
    reservations it held in memory for them: the store has them now).
    """

    def __init__(self, store: JobStore, *, max_batch: int = 256,
                 on_stored: Callable[[list[NewJob]], None] | None = None) -> None:
        self.store, self.max_batch, self.on_stored = store, max_batch, on_stored
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._stopped = False
        self.batches = 0  # commits made, and jobs they held: the mean batch size shows in /metrics
        self.written = 0

    def submit(self, new: NewJob) -> Future[Stored]:
        """Queue ``new``; the future holds ``(job, created)`` once committed, or the error that failed it."""
        future: Future[Stored] = Future()
        if self._stopped:
            future.set_exception(RuntimeError("the service is shutting down: retry the request"))
            return future
        self._ensure_started()
        self._queue.put((new, future))
        return future

    def stop(self, timeout_s: float = 30.0) -> None:
        """Store what is queued, then end the thread."""
        self._stopped = True
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join(timeout_s)

    def _ensure_started(self) -> None:
        if self._thread is None:
            with self._start_lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._loop, name="greenci-job-writer", daemon=True)
                    self._thread.start()

    def _loop(self) -> None:
        while True:
            first = self._queue.get()
            batch: list[tuple[NewJob, Future[Stored]]] = []
            stop = first is _STOP
            if not stop:
                batch.append(first)  # type: ignore[arg-type]
            while len(batch) < self.max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stop = True
                    continue
                batch.append(item)  # type: ignore[arg-type]
            if batch:
                self._write(batch)
            if stop and self._queue.empty():
                return

    def _write(self, batch: list[tuple[NewJob, Future[Stored]]]) -> None:
        new = [n for n, _ in batch]
        try:
            results = self.store.add_many(new)
        except Exception as exc:  # noqa: BLE001 - every waiting request gets the reason; the thread goes on
            logger.error("storing %d new job(s) failed: %s", len(batch), exc)
            for _, future in batch:
                future.set_exception(exc)
            results = None
        if self.on_stored is not None:
            self.on_stored(new)
        if results is None:
            return
        self.batches += 1
        self.written += len(batch)
        for (_, future), result in zip(batch, results, strict=True):
            future.set_result(result)
