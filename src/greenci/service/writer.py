"""Group commit: one thread makes every write of the requests (new jobs, state changes), many per transaction.

Why: a decision is durable once its job is committed, and a commit waits for the disk (SQLite flushes its
write-ahead log on every commit; PostgreSQL its WAL). Requests that each commit on their own queue behind
the database's one writer and pay one flush each. Here a request hands its job to the writer and waits;
the writer takes every job that queued meanwhile, stores them in one transaction (:meth:`JobStore.add_many`)
and answers each request once that commit returned. Under load a flush carries tens of jobs; alone, a
request waits for its own commit only. State changes (started, completed, cancelled) go the same way
(:meth:`JobWriter.run`). Nothing is answered before it is stored. When a batch fails, each of its writes
is tried again alone, so only the write that cannot be made fails, with the reason.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from greenci.service.store import JobStore, NewJob, StoredJob

__all__ = ["JobWriter"]

logger = logging.getLogger("greenci.service")

Stored = tuple[StoredJob, bool]
_STOP = object()


@dataclass(frozen=True)
class _Write:
    op: Callable[[sa.Connection], Any] | None  # None: ``new`` is stored (all of a batch's in one executemany)
    future: Future[Any]
    new: NewJob | None = None  # a new job (its reservation is released once it is committed)


class JobWriter:
    """Makes the writes handed to :meth:`submit` and :meth:`run` in batches of up to ``max_batch``, on its
    own thread, one transaction per batch.

    ``on_stored(new)`` runs after each batch, with its new jobs (the service releases the runner
    reservations it held in memory for them: the store has them now, or never will).
    """

    def __init__(self, store: JobStore, *, max_batch: int = 256,
                 on_stored: Callable[[list[NewJob]], None] | None = None) -> None:
        self.store, self.max_batch, self.on_stored = store, max_batch, on_stored
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._stopped = False
        self.batches = 0  # transactions committed, and the writes they held
        self.written = 0

    def submit(self, new: NewJob) -> Future[Stored]:
        """Store ``new``; the future holds ``(job, created)`` once committed, or the error that failed it."""
        return self._put(_Write(None, Future(), new))

    def run(self, op: Callable[[sa.Connection], Any]) -> Future[Any]:
        """Run ``op(connection)`` in the next batch's transaction; the future holds what it returned."""
        return self._put(_Write(op, Future()))

    def _put(self, write: _Write) -> Future[Any]:
        if self._stopped:
            write.future.set_exception(RuntimeError("the service is shutting down: retry the request"))
            return write.future
        self._ensure_started()
        self._queue.put(write)
        return write.future

    def stop(self, timeout_s: float = 30.0) -> None:
        """Make the writes queued, then end the thread."""
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
            batch: list[_Write] = []
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

    def _write(self, batch: list[_Write]) -> None:
        results = self._commit(batch)
        if self.on_stored is not None:
            new = [w.new for w in batch if w.new is not None]
            if new:
                self.on_stored(new)
        for write, result in zip(batch, results, strict=True):
            if isinstance(result, _Failed):
                write.future.set_exception(result.error)
            else:
                write.future.set_result(result)

    def _commit(self, batch: list[_Write]) -> list[Any]:
        """The results of the writes, made in one transaction; when it fails, each write alone."""
        try:
            with self.store.writing(), self.store.engine.begin() as c:
                # the new jobs first, in one executemany (no write of a batch can be about a job of the same
                # batch: its id is known only once it is answered), then the other writes in order
                stored = iter(self.store.insert_many_in(c, [w.new for w in batch if w.new is not None]))
                results = [next(stored) if w.op is None else w.op(c) for w in batch]
        except Exception as exc:  # noqa: BLE001 - the requests get the reason; the thread goes on
            if len(batch) == 1:
                logger.error("a write to the job store failed: %s", exc)
                return [_Failed(exc)]
            return [self._commit([w])[0] for w in batch]
        self.batches += 1
        self.written += len(batch)
        return results


@dataclass(frozen=True)
class _Failed:
    error: BaseException
