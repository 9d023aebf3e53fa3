"""Describe intensity, evaluate forecasts, and the demo: the use cases behind ``greenci``, ``greenci demo``,
``greenci intensity summary`` and ``greenci forecast evaluate``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from greenci.bounds import MAX_ENERGY_KWH, MAX_HORIZON_H, check_range
from greenci.errors import InputError
from greenci.grid import IntensityGrid, IntensitySeries, RegionSummary

ReadSeries = Callable[[Sequence[Path]], list[IntensitySeries]]
Progress = Callable[[int, int], None]


def grids_by_region(series: Sequence[IntensitySeries]) -> list[IntensityGrid]:
    """One grid per region and source, each on its own step and span (for describing files side by side).

    Successive files of one source join; a region given by two sources (an hourly export and a 15-minute
    ENTSO-E file) gets one row per source, labelled ``GB (entsoe_csv carbon intensity)``, never a mix.
    """
    def source(s: IntensitySeries) -> tuple[str, int]:  # what the grid refuses to join: another kind or step
        return (s.kind, s.hold_s() if s.times.size > 1 else 0)

    by_region: dict[str, dict[tuple[str, int], list[IntensitySeries]]] = {}
    for s in series:
        by_region.setdefault(s.region, {}).setdefault(source(s), []).append(s)
    grids = []
    for region, groups in by_region.items():
        for (kind, _step), parts in groups.items():
            if len(groups) > 1:
                parts = [replace(p, region=f"{region} ({kind or 'unknown source'})") for p in parts]
            grids.append(IntensityGrid.from_series(parts))
    return grids


@dataclass(frozen=True)
class Description:
    """Per region: span, step, mean, min, max, gaps, greenest hours; and what it was made from."""

    summaries: list[RegionSummary]
    sources: list[str]
    synthetic: bool


def describe(series: Sequence[IntensitySeries] | None) -> Description:
    """Describe the regions of ``series`` (the synthetic default grid when None)."""
    if series:
        grids = grids_by_region(series)
    else:
        from greenci.synthetic import synthetic_grid

        grids = [synthetic_grid()]
    return Description([s for g in grids for s in g.summary()], [src for g in grids for src in g.sources],
                       any(g.synthetic for g in grids))


@dataclass(frozen=True, eq=False)
class Evaluation:
    """Forecast errors per region, model and horizon, and their means over regions."""

    grid: IntensityGrid
    scores: list
    mean: list


def evaluate_forecasts(series: Sequence[IntensitySeries] | None, models: Sequence[str], horizons_h: Sequence[int],
                       issue_every_h: int = 24, progress: Progress | None = None) -> Evaluation:
    """MAE and MAPE of each model, issued only on past data, over the series (default: the shared files)."""
    from greenci.forecast import evaluate, make_forecaster, mean_scores

    if not models:
        raise InputError("no forecast model given: choose from persistence, seasonal-naive, ridge", field="models")
    for m in models:
        make_forecaster(m)
    if not series:
        from greenci.shared_data import require_shared_data
        from greenci.sources import read_intensity

        series = read_intensity([require_shared_data() / "intensity" / "electricitymaps-hourly"])
    grid = IntensityGrid.from_series(list(series), span="common")
    scores = evaluate(grid, list(models), horizons_h=tuple(horizons_h), issue_every_h=issue_every_h, progress=progress)
    return Evaluation(grid, scores, mean_scores(scores))


@dataclass(frozen=True)
class DemoResult:
    """The synthetic grid described, and one example job: run now (dirtiest, cleanest) or at its best start."""

    summaries: list[RegionSummary]
    energy_kwh: float
    duration_s: float
    dirtiest_now: tuple[str, float]
    cleanest_now: tuple[str, float]
    best: tuple[str, str, float]


def demo(hours: float = 72, duration_s: float = 7200, energy_kwh: float = 1.0, seed: int = 0) -> DemoResult:
    """The demo on the built-in synthetic grid (labelled SYNTHETIC by the callers)."""
    from greenci.synthetic import synthetic_grid
    from greenci.timeutil import iso

    check_range(energy_kwh, field="energy_kwh", low=0, high=MAX_ENERGY_KWH, unit="kWh", low_open=True)
    if not (np.isfinite(hours) and duration_s / 3600 <= hours <= MAX_HORIZON_H):
        raise InputError(f"hours {hours:g} must cover the example job ({duration_s / 3600:g} h) and be at most "
                         f"{MAX_HORIZON_H:g}: give e.g. 72", field="hours")
    grid = synthetic_grid(hours=hours, seed=seed)
    power_kw = energy_kwh / (duration_s / 3600)
    now = grid.window_emissions_g(duration_s, power_kw=power_kw)[:, 0]
    worst, cleanest = int(np.nanargmax(now)), int(np.nanargmin(now))
    best = grid.best_window(duration_s, power_kw=power_kw)
    return DemoResult(grid.summary(), energy_kwh, duration_s, (grid.regions[worst], float(now[worst])),
                      (grid.regions[cleanest], float(now[cleanest])),
                      (best.region, iso(best.start), best.emissions_g_per_kw * power_kw))
