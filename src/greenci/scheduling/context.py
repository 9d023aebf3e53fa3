"""What a strategy decides on: the slot geometry, forecasts only, and duration estimates.

Decisions see forecasts only (DESIGN.md: decide on what was known then, account on actuals). A
:class:`Context` carries no actual intensity: the replay keeps the actuals for accounting, and gives an
oracle strategy a context whose "forecast" is the actual surface, named so (``forecast_name``), so that
every result made from it is labelled oracle.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

import numpy as np

from greenci.errors import InputError
from greenci.grid import IntensityGrid
from greenci.jobs import DurationEstimates, DurationModel, JobTable, estimate_durations
from greenci.scheduling.kernel import ActualSurface, ForecastSurface

Surface = ActualSurface | ForecastSurface
ORACLE_NAME = "actual intensity (oracle)"
MAX_HORIZON_H = 48.0


@dataclass(frozen=True, eq=False)
class Context:
    """Slot geometry (``start_s``, ``step_s``, ``n_slots``, ``regions``), the forecast deciders read, estimates."""

    regions: tuple[str, ...]
    start_s: int
    step_s: int
    n_slots: int
    forecast: Surface
    estimates: DurationEstimates
    forecast_name: str = ORACLE_NAME
    synthetic: bool = False

    @classmethod
    def build(cls, jobs: JobTable, grid: IntensityGrid, *, forecast: ForecastSurface | None = None,
              forecast_name: str | None = None, duration_model: DurationModel | None = None,
              estimates: DurationEstimates | None = None) -> Context:
        """A context on ``grid``'s slots; without ``forecast`` the deciders see the actual intensity (oracle)."""
        surface: Surface = forecast if forecast is not None else ActualSurface(grid)
        name = forecast_name or (ORACLE_NAME if forecast is None else "forecast")
        return cls(regions=grid.regions, start_s=grid.start_s, step_s=grid.step_s, n_slots=grid.n_slots,
                   forecast=surface, estimates=estimates if estimates is not None else estimate_durations(
                       jobs, duration_model), forecast_name=name, synthetic=grid.synthetic)

    def deciding_on(self, surface: Surface, name: str) -> Context:
        """The same context, deciding on another surface."""
        return replace(self, forecast=surface, forecast_name=name)

    def arrival_slots(self, jobs: JobTable) -> np.ndarray:
        return (jobs.submitted_s - self.start_s) / self.step_s

    def seconds(self, slots: np.ndarray) -> np.ndarray:
        return self.start_s + slots * self.step_s

    def allowed_mask(self, jobs: JobTable) -> np.ndarray | None:
        """(J, R) mask of allowed regions, or None when every job may run anywhere."""
        if jobs.allowed_regions is None or all(a is None for a in jobs.allowed_regions):
            return None
        index = {r: i for i, r in enumerate(self.regions)}
        mask = np.ones((len(jobs), len(self.regions)), dtype=bool)
        for j, allowed in enumerate(jobs.allowed_regions):
            if allowed is None:
                continue
            if len(allowed) == 0:
                raise InputError(f"job {jobs.ids[j]}: allowed-regions is empty: list at least one region or drop "
                                 "the key to allow any")
            unknown = [r for r in allowed if r not in index]
            if unknown:
                raise InputError(f"job {jobs.ids[j]}: allowed region(s) {', '.join(unknown)} are not in the "
                                 f"intensity data ({', '.join(self.regions)}): map cloud regions with "
                                 "greenci.cloud_regions.resolve_regions or add intensity for them")
            mask[j] = False
            mask[j, [index[r] for r in allowed]] = True
        return mask


def forecast_surface(grid: IntensityGrid, model: str, horizon_slots: int, jobs: JobTable) -> ForecastSurface:
    """Forecasts issued at every slot boundary where a job of ``jobs`` decides, as a surface.

    A job deciding at time ``t`` reads the forecast issued at the slot boundary at or before ``t``,
    made from the slots that ended by then.
    """
    from greenci.forecast import forecast_cube

    first = int((int(jobs.submitted_s[0]) - grid.start_s) // grid.step_s)
    last = int((int(jobs.submitted_s[-1]) - grid.start_s) // grid.step_s)
    issues = np.arange(first, last + 1, dtype=np.int64)
    return ForecastSurface(forecast_cube(grid, model, horizon_slots, issues), grid.step_s, first_issue=first)


def needed_horizon_h(waits_s: Iterable[float], estimate_s: np.ndarray) -> float:
    """Forecast horizon the deciders read: the longest wait plus a long run (P99 estimate), at most 48 h.

    Beyond it the last forecast value is held (ForecastSurface), which only touches the tails of long runs.
    """
    longest_wait = max((float(w) for w in waits_s), default=0.0)
    known = estimate_s[np.isfinite(estimate_s)]
    long_run = float(np.percentile(known, 99)) if known.size else 3600.0
    return min(MAX_HORIZON_H, (longest_wait + long_run) / 3600.0 + 1.0)
