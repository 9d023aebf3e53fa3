"""Group commit: every write of the requests (new jobs, state changes), many per transaction, on the event loop.

Why: a decision is durable once its job is committed, and a commit waits for the disk (SQLite flushes its
write-ahead log on every commit; PostgreSQL its WAL). Requests that each commit on their own queue behind
the database's one writer and pay one flush each. Here the jobs of one batch of decisions are stored in one
transaction as soon as they are decided (:meth:`JobWriter.store_now`, called by the decisions' batcher),
and the other writes (a job started, completed, cancelled) are handed to the writer, which makes those
queued in one turn of the event loop in one transaction (:meth:`JobWriter.run`). Nothing is answered
before it is stored. When a batch fails, each of its writes is tried again alone, so only the write that
cannot be made fails, with the reason.

Why on the event loop rather than a thread of its own: a commit here is a fraction of a millisecond of
work, but a writer thread had to win the GIL back from the busy event loop at every call into the
database driver; at 500 requests/s a batch waited 10-60 ms for it. Sync endpoints (worker threads) hand
their writes to the loop with :meth:`JobWriter.run_from_thread`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import anyio.from_thread
import sqlalchemy as sa

from greenci.service.batching import Batcher
from greenci.service.store import JobStore, NewJob, StoredJob

__all__ = ["JobWriter"]

logger = logging.getLogger("greenci.service")

Stored = tuple[StoredJob, bool]


@dataclass(frozen=True)
class _Write:
    op: Callable[[sa.Connection], Any] | None  # None: ``new`` is stored (all of a batch's in one statement)
    new: NewJob | None = None  # a new job (its reservation is released once it is committed)


class JobWriter:
    """Makes the writes awaited through :meth:`run` in batches of up to ``max_batch``, one transaction per
    batch, and stores the new jobs of a batch of decisions at once (:meth:`store_now`).

    ``on_stored(new)`` runs after each batch, with its new jobs (the service releases the runner
    reservations it held in memory for them: the store has them now, or never will).
    """

    def __init__(self, store: JobStore, *, max_batch: int = 256,
                 on_stored: Callable[[list[NewJob]], None] | None = None) -> None:
        self.store, self.on_stored = store, on_stored
        # a lock of its own: no other thread runs this batcher's writes
        self._batches: Batcher[_Write, Any] = Batcher(self._write, threading.Lock(), max_batch=max_batch)
        self._stopped = False
        self._connection: sa.Connection | None = None  # kept between batches (see _commit)

    async def run(self, op: Callable[[sa.Connection], Any]) -> Any:
        """Run ``op(connection)`` in the next batch's transaction; what it returned, once committed."""
        return await self._put(_Write(op))

    def store_now(self, new: Sequence[NewJob]) -> list[Stored | BaseException]:
        """Store ``new`` in one transaction now, on the event loop: ``(job, created)`` per job (``created``
        False: its key was stored before), or why it was not. The decisions of one batch, committed as
        soon as they are made (a second batch, a turn of the loop later, only added its fixed cost)."""
        if self._stopped:
            return [RuntimeError("the service is shutting down: retry the request")] * len(new)
        return self._write([_Write(None, n) for n in new])

    def run_from_thread(self, op: Callable[[sa.Connection], Any]) -> Any:
        """:meth:`run`, from a worker thread of the event loop (a sync endpoint)."""
        return anyio.from_thread.run(self.run, op)

    async def _put(self, write: _Write) -> Any:
        if self._stopped:
            raise RuntimeError("the service is shutting down: retry the request")
        return await self._batches.submit(write)

    def stop(self) -> None:
        """Take no more writes (the ones queued are made in the loop's next turns)."""
        self._stopped = True
        self._drop_connection()

    def _drop_connection(self) -> None:
        if self._connection is not None:
            try:
                self._connection.close()
            except Exception:  # noqa: BLE001 - closing a connection that failed: nothing more to do
                pass
            self._connection = None

    def _write(self, batch: Sequence[_Write]) -> list[Any]:
        results = self._commit(list(batch))
        if self._stopped:  # the last writes, made after stop: close the connection they opened
            self._drop_connection()
        if self.on_stored is not None:
            new = [w.new for w in batch if w.new is not None]
            if new:
                self.on_stored(new)
        return [r.error if isinstance(r, _Failed) else r for r in results]

    def _commit(self, batch: list[_Write]) -> list[Any]:
        """The results of the writes, made in one transaction; when it fails, each write alone."""
        try:
            # one connection kept for the writes: a pool checkout, its reset and return per batch cost about
            # a third of a single-job write; after a failure it is replaced (it may be broken)
            if self._connection is None:
                self._connection = self.store.engine.connect()
            c = self._connection
            with self.store.writing(), c.begin():
                # the new jobs first, in one executemany (no write of a batch can be about a job of the same
                # batch: its id is known only once it is answered), then the other writes in order
                stored = iter(self.store.insert_many_in(c, [w.new for w in batch if w.new is not None]))
                results = [next(stored) if w.op is None else w.op(c) for w in batch]
        except Exception as exc:  # noqa: BLE001 - the requests get the reason; the writer goes on
            self._drop_connection()
            if len(batch) == 1:
                logger.error("a write to the job store failed: %s", exc)
                return [_Failed(exc)]
            return [self._commit([w])[0] for w in batch]
        return results


@dataclass(frozen=True)
class _Failed:
    error: BaseException
