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
from greenci.grid import IntensityGrid

# jobs x candidates x regions evaluated per chunk: 2 MiB per float64 temporary stays in L2 cache
# (measured: 4M cells per chunk was 1.8x slower on 1M jobs x 12 regions x 6 h windows)
_MAX_CELLS = 262_144


class ActualSurface:
    """Integrals over the actual intensity of a grid (gaps give NaN)."""

    def __init__(self, grid: IntensityGrid) -> None:
        self.grid = grid
        x = grid.values
        nan = np.isnan(x)
        r = x.shape[0]
        self.n_slots = x.shape[1]
        self.n_regions = r
        x0 = np.concatenate([np.where(nan, 0.0, x), np.zeros((r, 1))], axis=1)
        s0 = np.concatenate([np.zeros((r, 1)), np.cumsum(x0[:, :-1], axis=1)], axis=1)
        # slot-major (slots + 1, regions): one window in every region is one contiguous row
        self._x = np.ascontiguousarray(x0.T)
        self._s = np.ascontiguousarray(s0.T)
        self._has_gaps = bool(nan.any())
        self._g = np.ascontiguousarray(
            np.concatenate([np.zeros((r, 1), np.int64), np.cumsum(nan, axis=1)], axis=1).T)
        self.slot_h = grid.step_s / 3600.0

    def integral(self, issue: np.ndarray | None, regions: np.ndarray, t0: np.ndarray, t1: np.ndarray) -> np.ndarray:
        """Integral (g per kW) over ``[t0, t1)`` for ``regions`` x windows; shapes broadcast to (J, R, W)."""
        del issue  # what happened does not depend on when one asks
        t = self.n_slots
        out_of_range = (t0 < 0) | (t1 > t + 1e-9)
        a = np.clip(t0, 0, t)
        b = np.clip(t1, 0, t)
        fa = np.minimum(np.floor(a).astype(np.int64), t)
        fb = np.minimum(np.floor(b).astype(np.int64), t)
        val = (self._s[fb, regions] + (b - fb) * self._x[fb, regions]) - (
            self._s[fa, regions] + (a - fa) * self._x[fa, regions])
        cb = np.minimum(np.ceil(b - 1e-9).astype(np.int64), t)
        gaps = self._g[np.maximum(cb, fa), regions] - self._g[fa, regions]
        val = val * self.slot_h
        return np.where((gaps > 0) | out_of_range, np.nan, val)

    def all_regions(self, issue: np.ndarray | None, t0: np.ndarray, t1: np.ndarray) -> np.ndarray:
        """:meth:`integral` over ``[t0, t1)`` in every region at once: shape ``t0.shape + (regions,)``.

        The same numbers, bit for bit, but each window reads one contiguous row of regions; the
        kernel's cost cube comes out start-major with no transpose.
        """
        del issue
        t = self.n_slots
        bad = ((t0 < 0) | (t1 > t + 1e-9))[..., None]
        a = np.clip(t0, 0, t)
        b = np.clip(t1, 0, t)
        fa = np.minimum(np.floor(a).astype(np.int64), t)
        fb = np.minimum(np.floor(b).astype(np.int64), t)
        val = (self._s[fb] + (b - fb)[..., None] * self._x[fb]) - (
            self._s[fa] + (a - fa)[..., None] * self._x[fa])
        if self._has_gaps:  # a grid without gaps skips two gathers
            cb = np.minimum(np.ceil(b - 1e-9).astype(np.int64), t)
            bad = bad | ((self._g[np.maximum(cb, fa)] - self._g[fa]) > 0)
        return np.where(bad, np.nan, val * self.slot_h)


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
        c = np.ascontiguousarray(cube.transpose(1, 2, 0))
        nan = np.isnan(c)
        c = np.where(nan, 0.0, c)
        self.n_regions = r
        self._x = np.concatenate([c, c[:, -1:, :]], axis=1)
        self._s = np.concatenate([np.zeros((n_issue, 1, r)), np.cumsum(c, axis=1)], axis=1)
        self._has_gaps = bool(nan.any())
        self._g = np.concatenate([np.zeros((n_issue, 1, r), np.int64), np.cumsum(nan, axis=1)], axis=1)
        self._last_nan = nan[:, -1, :]
        self.horizon = h
        self.n_issues = n_issue
        self.first_issue = int(first_issue)
        self.slot_h = step_s / 3600.0

    def integral(self, issue: np.ndarray | None, regions: np.ndarray, t0: np.ndarray, t1: np.ndarray) -> np.ndarray:
        if issue is None:
            raise InputError("a forecast surface needs the issue slot of every decision")
        i = issue - self.first_issue
        if np.any((i < 0) | (i >= self.n_issues)):
            raise InputError("a decision falls outside the issue times of the forecast cube: build it over the trace")
        u0 = np.maximum(t0 - issue, 0.0)
        u1 = np.maximum(t1 - issue, 0.0)
        f0 = np.minimum(np.floor(u0).astype(np.int64), self.horizon)
        f1 = np.minimum(np.floor(u1).astype(np.int64), self.horizon)
        val = (self._s[i, f1, regions] + (u1 - f1) * self._x[i, f1, regions]) - (
            self._s[i, f0, regions] + (u0 - f0) * self._x[i, f0, regions])
        c1 = np.minimum(np.ceil(u1 - 1e-9).astype(np.int64), self.horizon)
        gaps = self._g[i, np.maximum(c1, f0), regions] - self._g[i, f0, regions]
        beyond = (u1 > self.horizon) & self._last_nan[i, regions]
        return np.where((gaps > 0) | beyond, np.nan, val * self.slot_h)

    def all_regions(self, issue: np.ndarray | None, t0: np.ndarray, t1: np.ndarray) -> np.ndarray:
        """:meth:`integral` in every region at once: shape ``t0.shape + (regions,)``; ``issue`` broadcasts
        against ``t0`` (e.g. ``(J, 1)`` for ``(J, W)`` windows)."""
        if issue is None:
            raise InputError("a forecast surface needs the issue slot of every decision")
        i = issue - self.first_issue
        if np.any((i < 0) | (i >= self.n_issues)):
            raise InputError("a decision falls outside the issue times of the forecast cube: build it over the trace")
        width = self.horizon + 1
        s = self._s.reshape(-1, self.n_regions)  # views: (issue, lead) flattened to one row index
        x = self._x.reshape(-1, self.n_regions)
        u0 = np.maximum(t0 - issue, 0.0)
        u1 = np.maximum(t1 - issue, 0.0)
        f0 = np.minimum(np.floor(u0).astype(np.int64), self.horizon)
        f1 = np.minimum(np.floor(u1).astype(np.int64), self.horizon)
        r0 = i * width + f0
        r1 = i * width + f1
        val = (s[r1] + (u1 - f1)[..., None] * x[r1]) - (s[r0] + (u0 - f0)[..., None] * x[r0])
        bad = (u1 > self.horizon)[..., None] & self._last_nan[np.broadcast_to(i, u1.shape)]
        if self._has_gaps:
            g = self._g.reshape(-1, self.n_regions)
            c1 = np.minimum(np.ceil(u1 - 1e-9).astype(np.int64), self.horizon)
            bad = bad | ((g[i * width + np.maximum(c1, f0)] - g[r0]) > 0)
        return np.where(bad, np.nan, val * self.slot_h)


@dataclass(frozen=True)
class Choice:
    """Chosen region index and start slot (float) per job, with the cost the decider expected."""

    region: np.ndarray
    start_slot: np.ndarray
    expected_g_per_kw: np.ndarray
    decided: np.ndarray  # False where every candidate was unknown (gaps) and the fallback was used


def candidate_starts(arrival: np.ndarray, max_wait: np.ndarray) -> np.ndarray:
    """Candidate starts (J, W) in slots: the arrival itself, then every slot boundary up to arrival + max_wait.

    Padded with NaN where a job has fewer candidates than the widest one.
    """
    arrival = np.asarray(arrival, dtype=np.float64)
    max_wait = np.maximum(np.nan_to_num(np.asarray(max_wait, dtype=np.float64)), 0.0)
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
    if surface.n_regions != n_regions:
        raise InputError(f"n_regions {n_regions} does not match the surface's {surface.n_regions} regions")
    cand_all = candidate_starts(arrival, max_wait)
    width = cand_all.shape[1]
    chunk = max(1, _MAX_CELLS // max(1, n_regions * width))
    for a in range(0, n, chunk):
        b = min(a + chunk, n)
        cand = cand_all[a:b]
        issue = np.floor(arrival[a:b] + 1e-9).astype(np.int64)
        t0 = np.nan_to_num(cand, nan=0.0)
        t1 = np.nan_to_num(cand + duration[a:b, None], nan=0.0)
        cost = surface.all_regions(issue[:, None], t0, t1)  # (J, W, R): start-major
        bad = np.isnan(cost) | np.isnan(cand)[:, :, None]
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
    return Choice(region, start, expected, decided)


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
