"""``greenci scale plan``: read the pools, the load and the intensity forecast, plan node counts, render them.

Why a use case: the CLI (and later the service) ask the same question, "how many runners where, hour by
hour, and what does that save", and must not hold the policy themselves. Inputs are read here (pools file,
run history or a constant load, intensity files or the labelled synthetic model); the plan itself is pure
(:mod:`greenci.scheduling.autoscale`); the documents come from :mod:`greenci.integrations.heat`.

The intensity is a forecast issued at the plan's start (the ``ridge`` model on the files' history before
it, as ``greenci plan`` does); with files and no start, the plan starts ``hours`` before the data ends so
that the forecast has weeks of history behind it. Without files it is the synthetic model, labelled.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from greenci.errors import InputError
from greenci.grid import IntensitySeries
from greenci.scheduling.autoscale import (
    HOUR_S,
    LoadForecast,
    PlanSavings,
    ScalePlan,
    WaitObjective,
    constant_load,
    load_from_history,
    plan_savings,
    plan_scaling,
)
from greenci.scheduling.pools import PoolSet, read_pools
from greenci.timeutil import iso, to_datetime64

ReadSeries = Callable[[Sequence[Path]], list[IntensitySeries]]
MAX_HOURS = 72  # the exact solver stays within seconds per region up to about this horizon
FORMATS = ("heat", "keda")
DEFAULT_URGENT_SHARE = 0.5  # of a constant load, when no run history says which runs people wait for


@dataclass(frozen=True)
class ScalePlanRequest:
    """What ``greenci scale plan`` was asked (see the module docstring)."""

    pools: Path
    intensity: tuple[Path, ...] = ()
    history: tuple[Path, ...] = ()
    jobs_per_hour: float | None = None
    job_duration_s: float = 600.0
    urgent_share: float | None = None
    regions: tuple[str, ...] = ()
    start: str | None = None
    hours: int = 24
    max_wait_h: float = 6.0
    headroom: float = 1.0
    forecast: str = "ridge"
    trigger: str = "cron"
    fmt: str = "heat"
    seed: int = 0

    def __post_init__(self) -> None:
        from greenci.integrations.heat import TRIGGERS

        if self.trigger not in TRIGGERS:
            raise InputError(f"trigger {self.trigger!r} is unknown: use cron (Mistral cron triggers at the planned "
                             "hours) or alarm (Aodh alarms on intensity and load)", field="trigger")
        if self.fmt not in FORMATS:
            raise InputError(f"fmt {self.fmt!r} is unknown: use heat or keda", field="fmt")
        if not 1 <= int(self.hours) <= MAX_HOURS:
            raise InputError(f"hours {self.hours} must be between 1 and {MAX_HOURS}", field="hours")
        if bool(self.history) == (self.jobs_per_hour is not None):
            raise InputError("give the load either as a run history (history) or as jobs_per_hour, exactly one",
                             field=("history", "jobs_per_hour"))


@dataclass(frozen=True, eq=False)
class ScalePlanOutcome:
    """The plan, its load, what it saves, the rendered document and what the inputs were."""

    plan: ScalePlan
    load: LoadForecast
    savings: list[PlanSavings]
    document: str
    inputs: tuple[str, ...]
    synthetic: bool
    notes: tuple[str, ...] = field(default=())


def scale_plan(request: ScalePlanRequest, *, read_series: ReadSeries | None = None) -> ScalePlanOutcome:
    """Read the inputs, plan, cost the plan against a fixed fleet, and render the document."""
    from greenci.integrations.heat import render_heat, render_keda

    pools = read_pools(request.pools)
    regions = request.regions or tuple(p.region for p in pools.pools)
    _check_regions(regions, pools)
    series = _series(request, read_series)
    start_s = _start_s(request, series, regions)
    intensity, method, intensity_synthetic = _forecast(request, regions, start_s, series)
    load = _load(request, pools, regions, start_s)
    plan = plan_scaling(load, intensity, pools, WaitObjective(request.max_wait_h, request.headroom))
    savings = plan_savings(plan, load, pools)
    synthetic = intensity_synthetic or load.synthetic
    inputs = (f"pools: {pools.source}", f"load: {load.source}" + (" SYNTHETIC" if load.synthetic else ""),
              f"intensity: {method}" + (" SYNTHETIC" if intensity_synthetic and "SYNTHETIC" not in method else ""),
              f"plan: {request.hours} h from {iso(start_s)}, max wait {request.max_wait_h:g} h, "
              f"headroom {request.headroom:g}")
    if request.fmt == "keda":
        document = render_keda(plan, pools, inputs=inputs, synthetic=synthetic)
    else:
        document = render_heat(plan, pools, trigger=request.trigger, inputs=inputs, synthetic=synthetic)
    return ScalePlanOutcome(plan, load, savings, document, inputs, synthetic, plan.notes)


def _check_regions(regions: Sequence[str], pools: PoolSet) -> None:
    unknown = [r for r in regions if pools.get(r) is None]
    if unknown:
        raise InputError(f"regions {', '.join(unknown)} have no pool in {pools.source} (it has "
                         f"{', '.join(p.region for p in pools.pools)}): add pools for them or choose among those",
                         field="regions")
    if len(set(regions)) != len(regions):
        raise InputError(f"regions repeat: {', '.join(regions)}: list each once", field="regions")


def _series(request: ScalePlanRequest, read_series: ReadSeries | None) -> list[IntensitySeries]:
    if not request.intensity:
        return []
    if read_series is not None:
        return read_series(list(request.intensity))
    from greenci.sources import read_intensity

    return read_intensity(list(request.intensity))


def _start_s(request: ScalePlanRequest, series: list[IntensitySeries], regions: Sequence[str]) -> int:
    """The plan's first hour: the given time (floored to the hour), else the files' end less the plan, else now."""
    if request.start is not None:
        t = int(to_datetime64(request.start, field="start").astype(np.int64))
        return t // HOUR_S * HOUR_S
    if series:
        ends = [int(s.times[-1].astype(np.int64)) + s.step_s() for s in series if s.region in set(regions)]
        if ends:
            return min(ends) // HOUR_S * HOUR_S - int(request.hours) * HOUR_S
    import time

    return int(time.time()) // HOUR_S * HOUR_S


def _forecast(request: ScalePlanRequest, regions: Sequence[str], start_s: int,
              series: list[IntensitySeries]) -> tuple[np.ndarray, str, bool]:
    """Hourly forecast values (regions x hours) issued at the plan's start, how they were made, synthetic?"""
    from greenci.usecases.inputs import forecast_provider

    provider = forecast_provider(regions=regions, at_s=start_s, files=list(request.intensity),
                                 model=request.forecast, read_series=lambda _paths: series, seed=request.seed)
    issued = provider.forecast(list(regions), start_s, request.hours * HOUR_S)
    grid = issued.grid if issued.grid.step_s == HOUR_S else issued.grid.resample(HOUR_S)
    offset = (start_s - grid.start_s) // HOUR_S
    values = grid.values[:, offset:offset + request.hours]
    if values.shape[1] < request.hours:
        raise InputError(f"the forecast from {iso(start_s)} covers {values.shape[1]} h, not {request.hours}: plan "
                         "fewer hours", field="hours")
    return values, issued.method, bool(grid.synthetic)


def _load(request: ScalePlanRequest, pools: PoolSet, regions: Sequence[str], start_s: int) -> LoadForecast:
    if request.jobs_per_hour is not None:
        share = DEFAULT_URGENT_SHARE if request.urgent_share is None else request.urgent_share
        return constant_load(pools, regions, start_s, request.hours, jobs_per_hour=request.jobs_per_hour,
                             job_duration_s=request.job_duration_s, urgent_share=share)
    from greenci.traces import read_trace
    from greenci.traces.cleaning import clean_implausible

    got = read_trace(list(request.history))
    # as the replay does: a recorded "run" of days (queue time, re-runs, late updates) is no load of a runner
    jobs, _ = clean_implausible(got.jobs, policy="cap")
    return load_from_history(jobs, pools, regions, start_s, request.hours, urgent_share=request.urgent_share)
