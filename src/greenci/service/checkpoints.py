"""SQLite's write-ahead log is copied into the database file by a thread of its own, not by a commit.

Why: in WAL mode a commit appends to the log; by default the commit that takes the log past 1,000 pages
also copies the log into the database file and flushes it (a *checkpoint*). The service commits its
decisions on the event loop, so that commit held up every request of its process, and, since it holds the
write lock meanwhile, the other workers' commits too: at 1,000 decisions/s one batch in 40 took 5-7 ms
instead of 1. Here the store's connections never checkpoint (:class:`~greenci.service.store.JobStore`
with ``background_checkpoints``) and this thread runs a ``PASSIVE`` checkpoint every ``interval_s``: it
waits for no writer and no writer waits for it, and the SQLite library runs it outside the GIL. (When
the log has grown long, a short second pass holds the write lock, so that the log starts over.)
"""

from __future__ import annotations

import logging
import threading

from greenci.service.store import JobStore

__all__ = ["Checkpointer"]

logger = logging.getLogger("greenci.service")


class Checkpointer:
    """Checkpoints ``store`` every ``interval_s`` until :meth:`stop` (which checkpoints once more); a log of
    ``restart_after`` frames or more is made to start over (see :meth:`JobStore.checkpoint`)."""

    def __init__(self, store: JobStore, interval_s: float = 0.25, restart_after: int = 4000) -> None:
        if not interval_s > 0:
            raise ValueError(f"interval_s {interval_s!r} must be above 0")
        self.store, self.interval_s, self.restart_after = store, float(interval_s), int(restart_after)
        self.runs = 0  # checkpoints made (one that found another running is not counted)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="greenci-wal-checkpoint", daemon=True)

    def start(self) -> None:
        if self.store.checkpoints:
            self._thread.start()

    def stop(self) -> None:
        """Stop the thread after its last checkpoint, so that the log a clean stop leaves behind is short."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(30)

    def _loop(self) -> None:
        while True:
            stopping = self._stop.wait(self.interval_s)
            try:
                if self.store.checkpoint(self.restart_after) is not None:
                    self.runs += 1
            except Exception as exc:  # noqa: BLE001 - a failed checkpoint is retried next time; the log only grows
                logger.warning("checkpointing the job store's write-ahead log failed: %s", exc)
            if stopping:
                return
