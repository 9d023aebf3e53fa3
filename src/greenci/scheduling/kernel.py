"""The one vectorised kernel every strategy shares: cost of every candidate start in every region.

Time inside the kernel is measured in *slots* of the intensity grid (float, 0 = grid start), so that a
job may start mid-slot (at its arrival) and last a fractional number of slots. The integral of a
piecewise-constant intensity over ``[t0, t1)`` is ``F(t1) - F(t0)`` with ``F`` the cumulative integral,
read from prefix sums: O(1) per (job, region, start) whatever the duration.

Two views of intensity exist. :class:`ActualSurface` is what happened (accounting, and the oracle).
:class:`ForecastSurface` is what a decider knew: a cube ``forecast[r, i, h]`` issued at slot boundary
``i`` for slot ``i + h``; a job deciding at time ``t`` reads the forecast issued at ``floor(t)``.

Both surfaces store their prefix sums slot-major (regions on the last axis), so that
:meth:`ActualSurface.all_regions` reads the cost of one window in every region as one contiguous row:
the kernel's hot loop gathers rows of ``R`` values instead of ``R`` scattered values.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from greenci.errors import InputError
from greenci.grid import IntensityGrid, WindowEngine

# jobs x candidates x regions evaluated per chunk: 2 MiB per float64 temporary stays in L2 cache
# (measured: 4M cells per chunk was 1.8x slower on 1M jobs x 12 regions x 6 h windows)
_MAX_CELLS = 262_144


class ActualSurface:
    """Integrals (g per kW) over the actual intensity of a grid (gaps give NaN): what happened."""

    def __init__(self, grid: IntensityGrid) -> None:
        self.grid = grid
        self.engine = grid.windows
        self.n_slots = grid.n_slots
        self.n_regions = len(grid.regions)
        self.slot_h = grid.step_s / 3600.0

    def integral(self, issue: np.ndarray | None, regions: np.ndarray, t0: np.ndarray, t1: np.ndarray) -> np.ndarray:
        """Integral (g per kW) over ``[t0, t1)`` for ``regions`` x windows; shapes broadcast to (J, R, W)."""
        del issue  # what happened does not depend on when one asks
        return self.engine.columns(None, regions, t0, t1) * self.slot_h

    def all_regions(self, issue: np.ndarray | None, t0: np.ndarray, t1: np.ndarray) -> np.ndarray:
        """:meth:`integral` over ``[t0, t1)`` in every region at once: shape ``t0.shape + (regions,)``."""
        del issue
        return self.engine.all_columns(0, t0, t1) * self.slot_h


class ForecastSurface:
    """Integrals over forecasts: ``cube[r, k, h]`` is the forecast issued at boundary ``first_issue + k``
    for slot ``first_issue + k + h``.

    Beyond the horizon the last forecast value is held (a long job's tail costs the same for every
    candidate start, so it barely matters for ranking).
    """

    def __init__(self, cube: np.ndarray, step_s: int, first_issue: int = 0) -> None:
        if cube.ndim != 3:
            raise InputError(f"a forecast cube is regions x issues x horizon, got shape {cube.shape}")
        r, n_issue, h = cube.shape
        # issue x horizon x region: one window in every region is one contiguous row
        self.engine = WindowEngine(np.ascontiguousarray(cube.transpose(1, 2, 0)), hold_last=True)
        self.n_regions = r
        self.horizon = h
        self.n_issues = n_issue
        self.first_issue = int(first_issue)
        self.slot_h = step_s / 3600.0

    def _block(self, issue: np.ndarray | None) -> np.ndarray:
        if issue is None:
            raise InputError("a forecast surface needs the issue slot of every decision")
        i = np.asarray(issue) - self.first_issue
        if np.any((i < 0) | (i >= self.n_issues)):
            raise InputError("a decision falls outside the issue times of the forecast cube: build it over the trace")
        return i

    def integral(self, issue: np.ndarray | None, regions: np.ndarray, t0: np.ndarray, t1: np.ndarray) -> np.ndarray:
        i = self._block(issue)
        return self.engine.columns(i, regions, np.maximum(t0 - issue, 0.0), np.maximum(t1 - issue, 0.0)) * self.slot_h

    def all_regions(self, issue: np.ndarray | None, t0: np.ndarray, t1: np.ndarray) -> np.ndarray:
        """:meth:`integral` in every region at once: shape ``t0.shape + (regions,)``; ``issue`` broadcasts
        against ``t0`` (e.g. ``(J, 1)`` for ``(J, W)`` windows)."""
        i = self._block(issue)
        return self.engine.all_columns(i, np.maximum(t0 - issue, 0.0), np.maximum(t1 - issue, 0.0)) * self.slot_h


@dataclass(frozen=True)
class Choice:
    """Chosen region index and start slot (float) per job, with the cost the decider expected."""

    region: np.ndarray
    start_slot: np.ndarray
    expected_g_per_kw: np.ndarray
    decided: np.ndarray  # False where every candidate was unknown (gaps) and the fallback was used
    now_g_per_kw: np.ndarray | None = None  # (J, R): starting at arrival in every region (NaN: unknown)


def candidate_starts(arrival: np.ndarray, max_wait: np.ndarray) -> np.ndarray:
    """Candidate starts (J, W) in slots: the arrival itself, then every slot boundary up to arrival + max_wait.

    Padded with NaN where a job has fewer candidates than the widest one.
    """
    arrival = np.asarray(arrival, dtype=np.float64)
    max_wait = np.asarray(max_wait, dtype=np.float64)
    max_wait = np.where(max_wait > 0, max_wait, 0.0)  # NaN and negative waits are no wait
    first = np.ceil(arrival - 1e-9)
    first = np.where(first - arrival < 1e-9, first + 1, first)  # boundaries strictly after arrival
    count = np.floor(arrival + max_wait - first + 1e-9).astype(np.int64) + 1
    count = np.maximum(count, 0)
    width = 1 + (int(count.max()) if count.size else 0)
    steps = np.arange(width - 1, dtype=np.float64)
    cand = np.empty((arrival.size, width))
    cand[:, 0] = arrival
    if width > 1:
        more = first[:, None] + steps[None, :]
        cand[:, 1:] = np.where(steps[None, :] < count[:, None], more, np.nan)
    return cand


def choose(surface: ActualSurface | ForecastSurface, *, arrival: np.ndarray, duration: np.ndarray,
           max_wait: np.ndarray, allowed: np.ndarray | None, n_regions: int,
           fallback_region: np.ndarray) -> Choice:
    """The cheapest (region, start) per job among its candidates; ties go to the earlier start.

    ``arrival``, ``duration`` and ``max_wait`` are in slots; ``allowed`` is a (J, R) mask or None for
    every region. A job whose candidates are all unknown runs at arrival in ``fallback_region``.
    """
    n = arrival.size
    region = np.empty(n, dtype=np.int64)
    start = np.empty(n)
    expected = np.empty(n)
    decided = np.empty(n, dtype=bool)
    now = np.empty((n, n_regions))
    if surface.n_regions != n_regions:
        raise InputError(f"n_regions {n_regions} does not match the surface's {surface.n_regions} regions")
    cand_all = candidate_starts(arrival, max_wait)
    width = cand_all.shape[1]
    chunk = max(1, _MAX_CELLS // max(1, n_regions * width))
    for a in range(0, n, chunk):
        b = min(a + chunk, n)
        cand = cand_all[a:b]
        issue = np.floor(arrival[a:b] + 1e-9).astype(np.int64)
        pad = np.isnan(cand)
        t0 = np.where(pad, 0.0, cand)
        t1 = np.where(pad, 0.0, cand + duration[a:b, None])
        cost = surface.all_regions(issue[:, None], t0, t1)  # (J, W, R): start-major
        now[a:b] = cost[:, 0, :]  # the first candidate is the arrival itself
        bad = np.isnan(cost) | pad[:, :, None]
        if allowed is not None:
            bad |= ~allowed[a:b, None, :]
        cost = np.where(bad, np.inf, cost)
        flat = cost.reshape(b - a, width * n_regions)  # start-major: earlier wins ties
        k = np.argmin(flat, axis=1)
        w, r = np.divmod(k, n_regions)
        best = flat[np.arange(b - a), k]
        ok = np.isfinite(best)
        region[a:b] = np.where(ok, r, fallback_region[a:b])
        start[a:b] = np.where(ok, cand[np.arange(b - a), w], arrival[a:b])
        expected[a:b] = np.where(ok, best, np.nan)
        decided[a:b] = ok
    return Choice(region, start, expected, decided, now)


def candidate_costs(surface: ActualSurface | ForecastSurface, *, arrival: np.ndarray, duration: np.ndarray,
                    max_wait: np.ndarray, allowed: np.ndarray | None,
                    wait_price_per_slot: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Every candidate's cost for ranking: ``(cand (J, W), cost (J, W * R))``, start-major (``w * R + r``).

    ``cost`` is g per kW over the run plus ``wait_price_per_slot`` per slot waited; ``inf`` marks a
    candidate that does not exist (padding), is not allowed, has unknown intensity or an unknown duration.
    Capacity-aware placement walks these rankings; :func:`choose` is their argmin without capacity.
    """
    arrival = np.asarray(arrival, dtype=np.float64)
    duration = np.asarray(duration, dtype=np.float64)
    n = arrival.size
    cand = candidate_starts(arrival, max_wait)
    width = cand.shape[1]
    n_regions = surface.n_regions
    out = np.empty((n, width * n_regions))
    chunk = max(1, _MAX_CELLS // max(1, n_regions * width))
    for a in range(0, n, chunk):
        b = min(a + chunk, n)
        c = cand[a:b]
        issue = np.floor(arrival[a:b] + 1e-9).astype(np.int64)
        pad = np.isnan(c) | ~np.isfinite(duration[a:b, None])
        t0 = np.where(pad, 0.0, c)
        t1 = np.where(pad, 0.0, c + np.nan_to_num(duration[a:b, None]))
        cost = surface.all_regions(issue[:, None], t0, t1)  # (J, W, R)
        if wait_price_per_slot:
            cost = cost + (wait_price_per_slot * (t0 - arrival[a:b, None]))[:, :, None]
        bad = np.isnan(cost) | pad[:, :, None]
        if allowed is not None:
            bad |= ~allowed[a:b, None, :]
        out[a:b] = np.where(bad, np.inf, cost).reshape(b - a, width * n_regions)
    return cand, out


def account(surface: ActualSurface, region: np.ndarray, start: np.ndarray, duration: np.ndarray) -> np.ndarray:
    """Actual integral (g per kW) of each job's run; raises if a run leaves the grid or meets a gap."""
    g = surface.integral(None, region, start, start + duration)
    if np.isnan(g).any():
        bad = np.flatnonzero(np.isnan(g))
        raise InputError(
            f"{bad.size} job run(s) fall outside the intensity data or on a gap (first: job #{int(bad[0])}): "
            "give intensity covering the whole trace plus its longest run, or fill gaps with an explicit policy"
        )
    return g
