"""Runner pools of the service: runners per region, and the runs its earlier decisions reserved.

A decision reserves its region's runner for its estimated run; the next decision sees that runner taken
and, when a pool is full at its best start, moves to the next best start or region (reason ``capacity``).
Within one service process decisions are serialised, so two concurrent requests never both take the last
runner: a decision's reservation is held in memory from the moment it is made until its job is committed
(the writer stores jobs in batches), and counted once, by job id, while it is in both. Processes sharing
one database count each other's committed reservations but may, in a race, overbook by the number of
processes.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from greenci.service.store import JobStore

__all__ = ["StorePools"]


class StorePools:
    """:class:`~greenci.scheduling.strategies.RunnerPools` over the job store."""

    def __init__(self, store: JobStore, capacity: Mapping[str, int]) -> None:
        self.store = store
        self._capacity = dict(capacity)
        self._pending: dict[str, tuple[str, int, int]] = {}  # job id -> (region, start, end), not yet committed
        self._lock = threading.Lock()

    def hold(self, job_id: str, region: str, start_s: int, end_s: int) -> None:
        """A decision took a runner of ``region`` over ``[start_s, end_s)``; its job is not stored yet."""
        with self._lock:
            self._pending[job_id] = (region, start_s, end_s)

    def release(self, job_ids: Iterable[str]) -> None:
        """These jobs are committed (or failed to be): the store answers for their runners now."""
        with self._lock:
            for i in job_ids:
                self._pending.pop(i, None)

    def capacity(self, region: str) -> int | None:
        return self._capacity.get(region)

    def reserved(self, regions: Sequence[str], start_s: int, step_s: int, n_slots: int) -> np.ndarray:
        out = np.zeros((len(regions), n_slots), dtype=np.int32)
        index = {r: i for i, r in enumerate(regions)}
        end = start_s + n_slots * step_s
        # pending first, the store second: a job released in between was committed before the query began
        with self._lock:
            pending = [(i, *v) for i, v in self._pending.items() if v[0] in index and v[1] < end and v[2] > start_s]
        stored = self.store.reservations(list(regions), start_s, end)
        seen = {i for i, *_ in stored}
        for _, region, a, b in stored + [p for p in pending if p[0] not in seen]:
            lo = max(0, int(np.floor((a - start_s) / step_s)))
            hi = min(n_slots, int(np.ceil((b - start_s) / step_s)))
            if hi > lo:
                out[index[region], lo:hi] += 1
        return out
