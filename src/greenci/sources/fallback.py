"""A decision always comes: the fallback chain around a forecast source, and where it keeps what it saw.

When the source fails (network, quota, an outage, a stale answer: any :class:`~greenci.errors.SourceError`),
:class:`FallbackChain` answers, in order, with

1. ``last-good``: the last good forecast, while it is still valid (issued at most ``max_age_s`` ago and
   still covering the decision time);
2. ``profile``: the region's historical profile, the mean of each hour of the week over the past weeks of
   values the chain has seen (and of a history provider's actuals, when one is given);
3. ``run-now``: a flat forecast at each region's last known value, so the job runs now in the region that
   was cleanest then; with nothing known at all, in the first allowed region.

Every forecast it returns names the step in ``fallback`` and the failure in ``note``; the planner puts
both in the decision. Steps 1 and 2 still respect the job's window, and step 3 starts the job at once,
so a failing source never makes a job miss its deadline.

A :class:`ForecastStore` remembers the last good forecast of each region and the values forecasts gave
for past slots (newest revision wins, 8 weeks kept): :class:`MemoryForecastStore` for a service process,
:class:`DirectoryForecastStore` for separate CLI calls (one JSON file a region, written atomically).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from greenci.config import max_intensity_g_per_kwh
from greenci.errors import InputError, SourceError
from greenci.forecast import ForecastProvider, IssuedForecast, profile_forecast
from greenci.grid import IntensityGrid
from greenci.outputs import atomic_open
from greenci.sources.providers import cut_at
from greenci.timeutil import iso

logger = logging.getLogger("greenci.sources.fallback")
KEEP_S = 8 * 7 * 86400  # values older than this (before the newest) are dropped from a store


@dataclass(frozen=True, eq=False)
class RegionMemory:
    """What a store knows of one region: past values (epoch s, g/kWh) and its last good forecast."""

    times_s: np.ndarray
    values: np.ndarray
    last_start_s: int | None = None
    last_step_s: int | None = None
    last_values: np.ndarray | None = None
    last_issued_s: int | None = None
    last_method: str = ""
    signal: str = "average"


@runtime_checkable
class ForecastStore(Protocol):
    """Where the chain keeps what it saw."""

    def load(self, region: str) -> RegionMemory | None: ...

    def save(self, region: str, memory: RegionMemory) -> None: ...


class MemoryForecastStore:
    """Region memories in a dict (one process, e.g. the service)."""

    def __init__(self) -> None:
        self._memory: dict[str, RegionMemory] = {}

    def load(self, region: str) -> RegionMemory | None:
        return self._memory.get(region)

    def save(self, region: str, memory: RegionMemory) -> None:
        self._memory[region] = memory


class DirectoryForecastStore:
    """Region memories as JSON files in a folder (``REGION.json``), written atomically."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)

    def _path(self, region: str) -> Path:
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in region)
        return self.folder / f"{safe}.json"

    def load(self, region: str) -> RegionMemory | None:
        path = self._path(region)
        try:
            return _memory_from(json.loads(path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:  # a damaged cache is not the user's input
            logger.warning("forecast cache %s is unreadable (%s): ignoring it", path, exc)
            return None

    def save(self, region: str, memory: RegionMemory) -> None:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            doc = {"region": region, "signal": memory.signal, "times_s": memory.times_s.tolist(),
                   "values": [None if not np.isfinite(v) else float(v) for v in memory.values],
                   "last": None if memory.last_values is None else {
                       "start_s": memory.last_start_s, "step_s": memory.last_step_s, "issued_s": memory.last_issued_s,
                       "method": memory.last_method,
                       "values": [None if not np.isfinite(v) else float(v) for v in memory.last_values]}}
            with atomic_open(self._path(region)) as fh:  # whole or absent, even with two writers at once
                json.dump(doc, fh)
        except OSError as exc:  # a cache that cannot be written must not break the decision
            logger.warning("forecast cache %s cannot be written (%s)", self.folder, exc)


def _memory_from(doc: object) -> RegionMemory:
    """A region memory from its JSON; anything malformed or implausible is a ValueError (the cache is ignored)."""
    if not isinstance(doc, dict):
        raise ValueError("not a JSON object")
    last = doc.get("last") or {}
    if not isinstance(last, dict):
        raise ValueError("'last' is not an object")
    times = np.asarray(doc["times_s"], dtype=np.int64)
    values = np.asarray([np.nan if v is None else v for v in doc["values"]], dtype=np.float64)
    if times.ndim != 1 or times.shape != values.shape:
        raise ValueError("times_s and values differ in length")
    if times.size and np.any(np.diff(times) <= 0):
        raise ValueError("times_s do not increase")
    last_values = None
    if last.get("values") is not None:
        last_values = np.asarray([np.nan if v is None else v for v in last["values"]], dtype=np.float64)
        if last_values.ndim != 1:
            raise ValueError("last values are not a list of numbers")
        for key in ("start_s", "step_s", "issued_s"):
            if not isinstance(last.get(key), int) or isinstance(last.get(key), bool):
                raise ValueError(f"last {key} is not a whole number")
        if last["step_s"] <= 0:
            raise ValueError("last step_s is not positive")
    bound = max_intensity_g_per_kwh()
    for v in (values, last_values):
        if v is not None and (np.isinf(v).any() or (v[np.isfinite(v)] < 0).any() or (v[np.isfinite(v)] > bound).any()):
            raise ValueError(f"an intensity is negative, not finite or above {bound:g} g/kWh")
    signal = str(doc.get("signal", "average"))
    if signal not in ("average", "marginal"):
        raise ValueError(f"signal {signal!r} is neither average nor marginal")
    return RegionMemory(times, values, last.get("start_s"), last.get("step_s"), last_values, last.get("issued_s"),
                        str(last.get("method", "")), signal)


def remember(memory: RegionMemory | None, grid_row: np.ndarray, start_s: int, step_s: int, issued_s: int,
             method: str, signal: str) -> RegionMemory:
    """``memory`` with a new good forecast: its values join the past values (newest wins), it becomes the last."""
    t = start_s + np.arange(grid_row.size, dtype=np.int64) * step_s
    if memory is not None and memory.times_s.size:
        keep = ~np.isin(memory.times_s, t)
        t = np.concatenate([memory.times_s[keep], t])
        v = np.concatenate([memory.values[keep], grid_row])
        order = np.argsort(t, kind="stable")
        t, v = t[order], v[order]
    else:
        v = grid_row.astype(np.float64)
    recent = t >= t[-1] - KEEP_S
    return RegionMemory(t[recent], v[recent], start_s, step_s, grid_row.astype(np.float64), issued_s, method, signal)


class FallbackChain:
    """A forecast provider that always answers (see the module docstring)."""

    def __init__(self, primary: ForecastProvider, store: ForecastStore | None = None, *,
                 history: IntensityGrid | None = None, max_age_s: float = 24 * 3600.0) -> None:
        self.primary = primary
        self.store = store if store is not None else MemoryForecastStore()
        self.history = history
        self.max_age_s = float(max_age_s)
        self.name = primary.name

    @property
    def regions(self) -> tuple[str, ...]:
        return tuple(self.primary.regions) or (self.history.regions if self.history is not None else ())

    def forecast(self, regions: Sequence[str], issued_at_s: int, horizon_s: float) -> IssuedForecast:
        try:
            got = self.primary.forecast(regions, issued_at_s, horizon_s)
        except SourceError as exc:
            logger.warning("%s failed (%s): using the fallback chain", self.primary.name, exc)
            why = f"{self.primary.name} failed: {exc}"
            return self._fallback(list(regions), int(issued_at_s), float(horizon_s), why)
        for r, row in zip(got.grid.regions, got.grid.values, strict=True):
            self.store.save(r, remember(self.store.load(r), row, got.grid.start_s, got.grid.step_s, got.issued_at_s,
                                        got.method, got.grid.signal))
        return got

    # ------------------------------------------------------------------ the steps
    def _fallback(self, regions: list[str], issued: int, horizon_s: float, why: str) -> IssuedForecast:
        memories = {r: self.store.load(r) for r in regions}
        last = self._last_good(regions, memories, issued, why)
        if last is not None:
            return last
        times, values = self._past(regions, memories, issued)
        rows, hows = [], []
        for r in regions:
            row, how = profile_forecast(times[r], values[r], issued, horizon_s)
            rows.append(row)
            hows.append(how)
        if all(np.isfinite(row).all() for row in rows):
            grid = IntensityGrid(tuple(regions), np.datetime64(issued // 3600 * 3600, "s"), 3600, np.vstack(rows),
                                 self._signal(memories))
            return IssuedForecast(grid, issued, f"fallback: historical profile ({hows[0]})", fallback="profile",
                                  note=why)
        last_known = np.array([values[r][-1] if values[r].size else np.nan for r in regions])
        known = np.isfinite(last_known)
        when = ", ".join(f"{r} {iso(int(times[r][-1]))}" for r in regions if times[r].size) or "nothing known"
        grid = IntensityGrid(tuple(regions), np.datetime64(issued, "s"), 3600, last_known[:, None],
                             self._signal(memories))
        method = ("fallback: run now where it was cleanest at the last known values (" + when + ")" if known.any()
                  else "fallback: no intensity known at all; runs now in the first allowed region")
        return IssuedForecast(grid, issued, method, fallback="run-now", note=why)

    def _last_good(self, regions: list[str], memories: dict[str, RegionMemory | None], issued: int,
                   why: str) -> IssuedForecast | None:
        mems = [memories[r] for r in regions]
        if any(m is None or m.last_values is None or m.last_issued_s is None for m in mems):
            return None
        steps = {m.last_step_s for m in mems}  # type: ignore[union-attr]
        if len(steps) != 1:
            return None
        step = int(steps.pop())  # type: ignore[arg-type]
        lo = max(int(m.last_start_s) for m in mems)  # type: ignore[union-attr,arg-type]
        hi = min(int(m.last_start_s) + m.last_values.size * step for m in mems)  # type: ignore[union-attr]
        oldest = min(int(m.last_issued_s) for m in mems)  # type: ignore[union-attr,arg-type]
        if hi <= issued or lo > issued or issued - oldest > self.max_age_s:
            return None
        rows = [m.last_values[(lo - int(m.last_start_s)) // step:(hi - int(m.last_start_s)) // step]  # type: ignore
                for m in mems]
        grid = IntensityGrid(tuple(regions), np.datetime64(lo, "s"), step, np.vstack(rows), self._signal(memories))
        try:
            return cut_at(grid, issued, f"fallback: last good forecast ({mems[0].last_method}, "  # type: ignore
                                        f"issued {iso(oldest)})", fallback="last-good", note=why)
        except SourceError:
            return None

    def _past(self, regions: list[str], memories: dict[str, RegionMemory | None],
              issued: int) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """Past values per region: the store's, then the history provider's actuals (which win)."""
        times, values = {}, {}
        for r in regions:
            m = memories[r]
            t = m.times_s if m is not None else np.zeros(0, np.int64)
            v = m.values if m is not None else np.zeros(0)
            if self.history is not None and r in self.history.regions:
                row = self.history.values[self.history.regions.index(r)]
                ht = self.history.start_s + np.arange(row.size, dtype=np.int64) * self.history.step_s
                keep = ~np.isin(t, ht)
                t, v = np.concatenate([t[keep], ht]), np.concatenate([v[keep], row])
                order = np.argsort(t, kind="stable")
                t, v = t[order], v[order]
            past = (t < issued) & np.isfinite(v)
            times[r], values[r] = t[past], v[past]
        return times, values

    @staticmethod
    def _signal(memories: dict[str, RegionMemory | None]) -> str:
        signals = {m.signal for m in memories.values() if m is not None}
        if len(signals) > 1:
            raise InputError("the fallback store mixes average and marginal intensity: clear its folder")
        return signals.pop() if signals else "average"
