"""Replay CI runs through strategies: what ``greenci simulate`` (and a service's replay page) calls.

The request names the runs (the study's generated runs, or real trace files), the intensity (files, the
shared data, or the labelled synthetic model), the regions, the strategies and the forecast; this module
reads and cleans the runs, aligns a trace from another year by whole weeks into the intensity data, cuts
the grid to the weeks of history the forecasts need plus a tail for the last runs, and replays. A side
result (the same strategies on generated runs, for side-by-side reading) never breaks the main one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from greenci.bounds import MAX_HORIZON_H, check_range
from greenci.errors import GreenciError, InputError
from greenci.forecast import FORECASTERS
from greenci.grid import IntensityGrid, IntensitySeries
from greenci.jobs import JobTable
from greenci.scheduling.eligibility import EligibilityRules
from greenci.scheduling.pools import PoolSet
from greenci.scheduling.strategies import Strategy, make_strategy
from greenci.simulation import SimulationResult, simulate
from greenci.study import HISTORY_DAYS, STUDY_REDUCTIONS, STUDY_REGIONS, STUDY_STRATEGIES, study_runs
from greenci.timeutil import check_time_zone, iso, to_datetime64

ReadSeries = Callable[[Sequence[Path]], list[IntensitySeries]]
Progress = Callable[[int, int], None]
TAIL_S = 2 * 86400  # intensity kept after the last run starts, so that long runs can finish
IMPLAUSIBLE_POLICIES = ("auto", "cap", "exclude", "keep")


def history_span_s(days: float = HISTORY_DAYS) -> int:
    """The weeks of intensity before the first decision that the forecast models learn from."""
    return int(days * 86400)


@dataclass(frozen=True)
class ReplayRequest:
    """What to replay (see the module docstring); names of strategies as :func:`make_strategy` reads them."""

    study: bool = False
    trace: tuple[Path, ...] = ()
    intensity: tuple[Path, ...] = ()
    regions: tuple[str, ...] = STUDY_REGIONS
    start: str | None = None
    days: float = 4.0
    strategies: tuple[str, ...] = STUDY_STRATEGIES
    buffer_h: float = 6.0
    capacity: int | None = None
    wait_price_g_per_kwh_h: float = 0.0
    forecast: str = "ridge"
    seed: int = 2022
    align_to: str | None = None
    implausible: str = "auto"
    nightly_tz: str | None = None
    rules: EligibilityRules = field(default_factory=EligibilityRules)
    keep_placements: bool = False
    #: runner pools per region (read by the caller from a pools file): greenci keeps within them, and every
    #: strategy's placement is accounted as pool energy (busy and idle nodes); None: unlimited, no pool energy
    pools: PoolSet | None = None

    def __post_init__(self) -> None:
        if self.study == bool(self.trace):
            raise InputError("replay either the study's generated runs (study) or real CI histories (trace "
                             "files), exactly one of them", field="trace")
        check_range(self.days, field="days", low=0, high=MAX_HORIZON_H / 24, low_open=True)
        if self.forecast not in (*FORECASTERS, "perfect"):
            raise InputError(f"forecast {self.forecast!r} is unknown: choose one of {', '.join(FORECASTERS)} or "
                             "perfect (the actual intensity, an oracle)", field="forecast")
        if self.nightly_tz is not None:
            check_time_zone(self.nightly_tz, field="nightly_tz")
        check_range(self.buffer_h, field="buffer_h", low=0, high=MAX_HORIZON_H, unit="h")
        check_range(self.wait_price_g_per_kwh_h, field="wait_price", low=0, high=1e6)
        if self.capacity is not None and self.capacity < 1:
            raise InputError(f"capacity {self.capacity} must be at least 1 runner per region (or left out for "
                             "no limit)", field="capacity")
        if self.capacity is not None and self.pools is not None:
            raise InputError("capacity and pools both size the runners: give --capacity N (the same for every "
                             "region) or --pools FILE (per region), not both", field=("capacity", "pools"))
        if self.implausible not in IMPLAUSIBLE_POLICIES:
            raise InputError(f"implausible {self.implausible!r} must be one of {', '.join(IMPLAUSIBLE_POLICIES)}",
                             field="implausible")
        if self.study and self.implausible != "auto":
            raise InputError("implausible applies to real traces only: the study's generated runs have none",
                             field="implausible")
        if self.study and self.align_to:
            raise InputError("align_to applies to real traces only: the study's runs start at start",
                             field="align_to")
        if not self.regions:
            raise InputError("regions is empty: list at least one grid zone", field="regions")
        if len(set(self.regions)) != len(self.regions):
            raise InputError(f"regions repeat: {', '.join(self.regions)}: list each once", field="regions")

    def strategy_capacity(self) -> int | Mapping[str, int] | None:
        """What the strategies are limited to: ``capacity``, or the pools' sizes per region.

        Pools of one size in every replayed region are passed as that one number (what every version of
        ``make_strategy`` takes); pools that differ, or leave a region unlimited, as the region -> runners map.
        """
        if self.pools is None:
            return self.capacity
        sizes = self.pools.sizes()
        uniform = set(sizes.values())
        if len(uniform) == 1 and set(self.regions) <= set(sizes):
            return uniform.pop()
        return {r: n for r, n in sizes.items() if r in self.regions}

    def capacity_note(self) -> str:
        """Which capacity the replay assumes, for its provenance ("unlimited" is said so)."""
        if self.pools is not None:
            return self.pools.describe() + "; pool energy counts busy and idle nodes of every strategy"
        if self.capacity is not None:
            return (f"capacity: every strategy keeps within {self.capacity} runners per region; a run longer "
                    "than its estimate makes the next job of its runner wait")
        return "capacity: unlimited runners in every region (no pools given)"

    def build_strategies(self) -> list[Strategy]:
        return [make_strategy(n, default_buffer_h=self.buffer_h, capacity=self.strategy_capacity(),
                              wait_price_g_per_kwh_h=self.wait_price_g_per_kwh_h, nightly_time_zone=self.nightly_tz,
                              rules=self.rules) for n in self.strategies]


@dataclass(frozen=True, eq=False)
class ReplayOutcome:
    """The replay, the paper's reductions for side-by-side reading, and the generated-runs comparison."""

    result: SimulationResult
    reference: dict[str, float] | None
    generated: dict[str, float] | None
    notes: tuple[str, ...] = ()


def replay(request: ReplayRequest, *, read_series: ReadSeries | None = None,
           progress: Progress | None = None) -> ReplayOutcome:
    """Read the inputs and replay them through the requested strategies."""
    read = _read_once(read_series or _read_intensity)  # the side-by-side replay reads the same files
    strategies = request.build_strategies()
    jobs, grid = replay_inputs(request, read)
    result = simulate(jobs, grid, strategies, forecast=request.forecast, keep_placements=request.keep_placements,
                      progress=progress, pools=request.pools, capacity=request.strategy_capacity(),
                      notes=(request.capacity_note(),))
    generated, notes = None, ()
    if request.trace:  # the reproduction on generated runs, same regions and forecast, for side-by-side reading
        generated, notes = _generated_side_by_side(request, strategies, read, jobs)
    return ReplayOutcome(result, STUDY_REDUCTIONS, generated, notes)


def _generated_side_by_side(request: ReplayRequest, strategies: list[Strategy], read: ReadSeries,
                            trace: JobTable) -> tuple[dict[str, float] | None, tuple[str, ...]]:
    """The same strategies on the study's generated runs, at the study's dates or else at the trace's."""
    first_day = iso(np.datetime64(int(trace.submitted_s[0]) // 86400 * 86400, "s"))
    errors = []
    for start in (None, first_day):
        try:
            side = replace(request, study=True, trace=(), start=start, days=4.0, implausible="auto", align_to=None)
            gen_jobs, gen_grid = replay_inputs(side, read)
            gen = simulate(gen_jobs, gen_grid, strategies, forecast=request.forecast)
            note = () if start is None else (f"generated runs replayed from {first_day} (the trace's first day): "
                                             "the intensity does not cover the study's dates",)
            return {s.name: s.reduction_vs_round_robin for s in gen.strategies}, note
        except GreenciError as exc:
            errors.append(str(exc))
    return None, (f"the side-by-side replay of generated runs was left out: {errors[-1]}",)


def replay_inputs(request: ReplayRequest, read_series: ReadSeries | None = None) -> tuple[JobTable, IntensityGrid]:
    """Jobs and the intensity grid of a replay."""
    read = read_series or _read_intensity
    if request.trace:
        return _trace_inputs(request, read)
    from greenci.tracegen import STUDY_START, generate_study_trace

    t0 = to_datetime64(request.start or STUDY_START, field="start")
    t1 = t0 + np.timedelta64(int(request.days * 86400), "s")
    jobs = generate_study_trace(start=t0, days=request.days, runs=study_runs(request.days), seed=request.seed)
    intensity = list(request.intensity) or _shared_intensity()
    if intensity:
        grid = _grid_around(intensity, request.regions, int(t0.astype(np.int64)), int(t1.astype(np.int64)), read)
    else:
        from greenci.synthetic import synthetic_grid

        hist = history_span_s()
        span_h = (int((t1 - t0).astype(np.int64)) + hist + TAIL_S) / 3600
        grid = synthetic_grid(list(request.regions), start=t0 - np.timedelta64(hist, "s"), hours=span_h,
                              seed=request.seed)
    return jobs, grid


def _read_once(read: ReadSeries) -> ReadSeries:
    """``read`` that reads each list of paths once per replay (the series are immutable records)."""
    seen: dict[tuple[str, ...], list[IntensitySeries]] = {}

    def cached(paths: Sequence[Path]) -> list[IntensitySeries]:
        key = tuple(str(p) for p in paths)
        if key not in seen:
            seen[key] = read(paths)
        return seen[key]

    return cached


def _read_intensity(paths: Sequence[Path]) -> list[IntensitySeries]:
    from greenci.sources import read_intensity

    return read_intensity(list(paths))


def _shared_intensity() -> list[Path]:
    from greenci.shared_data import find_shared_data

    found = find_shared_data()
    return [found / "intensity" / "electricitymaps-hourly"] if found is not None else []


def _regions_grid(paths: Sequence[Path], regions: Sequence[str], read: ReadSeries) -> IntensityGrid:
    series = [s for s in read(paths) if s.region in set(regions)]
    found = {s.region for s in series}
    missing = [r for r in regions if r not in found]
    if missing:
        held = sorted({s.region for s in read(paths)}) if not series else sorted(found)
        raise InputError(f"no intensity for region(s) {', '.join(missing)} in {', '.join(map(str, paths))} "
                         f"(it holds {', '.join(held) or 'none'}): give files for them or choose regions among those",
                         field="regions")
    return IntensityGrid.from_series(series).select(list(regions))


def _grid_around(paths: Sequence[Path], regions: Sequence[str], t0: int, t1: int, read: ReadSeries) -> IntensityGrid:
    """The regions' grid cut to ``[t0 - history, t1 + tail]`` where the data allows; ``[t0, t1)`` must be inside."""
    grid = _regions_grid(paths, regions, read)
    if t0 < grid.start_s or t1 > grid.start_s + grid.n_slots * grid.step_s:
        raise InputError(f"the span {iso(t0)} .. {iso(t1)} is not inside the intensity data ({iso(grid.start)} .. "
                         f"{iso(grid.end)}): choose start and days inside it, or give intensity for that period",
                         field=("start", "days", "intensity"))
    return grid.between(np.datetime64(max(t0 - history_span_s(), grid.start_s), "s"),
                        np.datetime64(t1 + TAIL_S, "s"))


def _trace_inputs(request: ReplayRequest, read: ReadSeries) -> tuple[JobTable, IntensityGrid]:
    """Real CI histories: read, clean implausible runtimes, align whole weeks into the intensity span."""
    from greenci.traces import read_trace
    from greenci.traces.cleaning import align_into, align_to_weeks, clean_implausible

    got = read_trace(request.trace)
    jobs = got.jobs
    if got.problems:
        first = got.problems[0]
        jobs = replace(jobs, notes=(*jobs.notes, f"{len(got.problems):,} trace rows could not be used (first: "
                                                 f"{first.path} row {first.row}: {first.reason})"))
    if len(jobs) == 0:
        where = ", ".join(map(str, request.trace))
        why = f" (first: {got.problems[0]})" if got.problems else ""
        raise InputError(f"no usable run in {where}{why}: check the trace files", field="trace")
    batch = bool(np.all(jobs.event.astype(str) == "batch"))
    if request.implausible == "keep" or (request.implausible == "auto" and batch):
        why = "batch trace: no CI job limit applies" if batch else "implausible runtimes kept as asked"
        jobs = replace(jobs, notes=(*jobs.notes, f"runtimes kept as read ({why})"))
    else:
        jobs, _ = clean_implausible(jobs, policy="cap" if request.implausible == "auto" else request.implausible)
    intensity = list(request.intensity) or _shared_intensity()
    if not intensity:
        raise InputError("a trace replay needs intensity files or a folder of them (no ../shared data was found "
                         "to default to)", field="intensity")
    grid = _regions_grid(intensity, request.regions, read)
    history = np.timedelta64(history_span_s(), "s")
    if request.align_to:
        jobs, _ = align_to_weeks(jobs, request.align_to)
    elif int(jobs.submitted_s[0]) < int((grid.start + history).astype(np.int64)) or \
            float(np.max(jobs.submitted_s + jobs.duration_s)) > float(grid.end.astype(np.int64)):
        jobs, _ = align_into(jobs, grid.start + history, grid.end - np.timedelta64(TAIL_S, "s"), drop_outside=True)
    if request.start:
        t0 = int(to_datetime64(request.start, field="start").astype(np.int64))
        keep = (jobs.submitted_s >= t0) & (jobs.submitted_s < t0 + request.days * 86400)
        if not keep.any():
            raise InputError(f"no run of the trace falls in start {request.start} + {request.days:g} days after "
                             "alignment: choose start inside the trace", field="start")
        jobs = jobs.take(np.flatnonzero(keep))
    if len(jobs) == 0:
        raise InputError("no run of the trace falls inside the intensity data after alignment: give intensity "
                         "for the trace's period, or align_to a date inside the data", field=("intensity", "align_to"))
    t_first = np.datetime64(int(jobs.submitted_s[0]), "s")
    t_last = np.datetime64(int(np.max(jobs.submitted_s + jobs.duration_s)), "s")
    lo = max(t_first - history, grid.start)
    hi = min(t_last + np.timedelta64(TAIL_S, "s"), grid.end)
    return jobs, grid.between(lo, hi)


def sweep_replay(request: ReplayRequest, *, region_sets: dict[str, list[str]], buffers_h: Sequence[float],
                 seeds: Sequence[int], scheduler: str | None, read_series: ReadSeries | None = None,
                 progress: Progress | None = None, waiting: Callable[[str], None] | None = None) -> list:
    """Every strategy family x buffer x region set x seed, on Dask (``scheduler``) or serially (``"serial"``)."""
    from greenci.scheduling.strategies import strategy_family
    from greenci.sweep import StudyTrace, sweep, sweep_local

    read = read_series or _read_intensity
    sets = region_sets or {"regions": list(request.regions)}
    every = tuple(sorted({r for members in sets.values() for r in members}))
    jobs, grid = replay_inputs(replace(request, regions=every, seed=int(seeds[0]) if seeds else request.seed), read)
    bases = sorted({strategy_family(n) for n in request.strategies})
    trace_factory = None
    if request.study:
        from greenci.tracegen import STUDY_START

        trace_factory = StudyTrace(runs=study_runs(request.days), days=request.days,
                                   start=request.start or STUDY_START)
    kwargs = dict(strategies=bases, buffers_h=list(buffers_h), region_sets=sets, seeds=list(seeds),
                  forecast=request.forecast, trace_factory=trace_factory, progress=progress)
    if scheduler == "serial":
        return sweep_local(None if request.study else jobs, grid, **kwargs)
    return sweep(None if request.study else jobs, grid, scheduler=scheduler, waiting=waiting, **kwargs)
