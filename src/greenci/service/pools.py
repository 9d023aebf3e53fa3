"""Runner pools of the service: runners per region, and the runs its earlier decisions reserved.

A decision reserves its region's runner for its estimated run; the next decision sees that runner taken
and, when a pool is full at its best start, moves to the next best start or region (reason ``capacity``).
Within one service process decisions are serialised, so two concurrent requests never both take the last
runner; processes sharing one database count each other's reservations but may, in a race, overbook by
the number of processes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from greenci.service.store import JobStore

__all__ = ["StorePools"]


class StorePools:
    """:class:`~greenci.scheduling.strategies.RunnerPools` over the job store."""

    def __init__(self, store: JobStore, capacity: Mapping[str, int]) -> None:
        self.store = store
        self._capacity = dict(capacity)

    def capacity(self, region: str) -> int | None:
        return self._capacity.get(region)

    def reserved(self, regions: Sequence[str], start_s: int, step_s: int, n_slots: int) -> np.ndarray:
        out = np.zeros((len(regions), n_slots), dtype=np.int32)
        index = {r: i for i, r in enumerate(regions)}
        for region, a, b in self.store.reservations(list(regions), start_s, start_s + n_slots * step_s):
            lo = max(0, int(np.floor((a - start_s) / step_s)))
            hi = min(n_slots, int(np.ceil((b - start_s) / step_s)))
            if hi > lo:
                out[index[region], lo:hi] += 1
        return out
