"""An intensity API as a forecast provider: the newest forecast per region, cut at the decision's slot.

Why a provider around the client: decisions ask "what was known at the submission of this job?"; an API
answers "the newest forecast". :class:`ClientForecasts` keeps each region's answer for ``ttl_s`` (a push
that starts a dozen jobs costs one request per region), puts the regions on one grid, and starts it at
the slot boundary at or before the decision. A forecast that starts after that boundary has its first
value held back to it, and the forecast says so.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np

from greenci.errors import SourceError
from greenci.forecast import IssuedForecast
from greenci.grid import IntensityGrid, IntensitySeries
from greenci.sources.clients import IntensityClient
from greenci.timeutil import iso


class ClientForecasts:
    """Forecasts from an API client (any :class:`~greenci.sources.clients.IntensityClient`)."""

    def __init__(self, client: IntensityClient, *, ttl_s: float = 300.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.client = client
        self.name = f"{client.name} forecast"
        self.ttl_s = float(ttl_s)
        self._clock = clock
        self._cache: dict[str, tuple[float, IntensitySeries]] = {}

    @property
    def regions(self) -> tuple[str, ...]:
        return ()

    def _series(self, region: str) -> IntensitySeries:
        now = self._clock()
        hit = self._cache.get(region)
        if hit is not None and now - hit[0] < self.ttl_s:
            return hit[1]
        series = self.client.forecast(region)
        self._cache[region] = (now, series)
        return series

    def forecast(self, regions: Sequence[str], issued_at_s: int, horizon_s: float) -> IssuedForecast:
        grid = IntensityGrid.from_series([self._series(r) for r in regions], span="common").select(list(regions))
        return cut_at(grid, int(issued_at_s), self.name)

    def intensity_over(self, region: str, start_s: int, end_s: int) -> IntensityGrid:
        """One region over ``[start_s, end_s)``: history when that span is past, else the newest forecast."""
        return intensity_over(self.client, region, start_s, end_s)


def cut_at(grid: IntensityGrid, issued_at_s: int, method: str, *, fallback: str | None = None,
           note: str = "") -> IssuedForecast:
    """``grid`` as a forecast issued at ``issued_at_s``: from the slot boundary at or before it.

    A grid that ends before ``issued_at_s`` is stale (a :class:`SourceError`, so a fallback can answer).
    """
    step = grid.step_s
    boundary = grid.start_s + (issued_at_s - grid.start_s) // step * step
    if grid.start_s + grid.n_slots * step <= issued_at_s:
        raise SourceError(f"{method}: the forecast ends {iso(grid.end)}, before the decision at {iso(issued_at_s)}: "
                          "it is stale")
    if boundary < grid.start_s:  # starts after the decision's slot: hold the first value back to it
        lead = -(-(grid.start_s - issued_at_s) // step)
        values = np.concatenate([np.repeat(grid.values[:, :1], lead, axis=1), grid.values], axis=1)
        grid = IntensityGrid(grid.regions, np.datetime64(grid.start_s - lead * step, "s"), step, values,
                             grid.signal, grid.synthetic, grid.sources)
        held = f"the forecast starts {iso(grid.start_s + lead * step)}: its first value is held back to now"
        note = f"{note}; {held}" if note else held
    else:
        grid = grid.between(np.datetime64(int(boundary), "s"))
    return IssuedForecast(grid, int(issued_at_s), method, fallback=fallback, note=note)


def now_s() -> int:
    return int(time.time())


def intensity_over(client: IntensityClient, region: str, start_s: int, end_s: int) -> IntensityGrid:
    """One region over ``[start_s, end_s)`` from an API: its history when that span is past, else its forecast."""
    if end_s <= now_s():
        series = client.history(region, np.datetime64(int(start_s), "s"), np.datetime64(int(end_s), "s"))
    else:
        series = client.forecast(region)
    return IntensityGrid.from_series([series])
