"""Scheduling speed: the study replay, and scale to a million jobs. Prints tables; asserts nothing.

Run: ``python benchmarks/bench_scheduling.py [--quick] [--repeats N]``.

(a) Study replay: the 7,392 runs of the seeded study generator (SYNTHETIC runs, 2022-10-12 .. 16) x 12
    regions (the Electricity Maps 2022 hourly files from ``../shared`` when present, else a labelled
    synthetic grid) through round-robin, location, lts-1/3/6, oracle-6 and greenci-6, deciding on the
    'perfect', 'persistence' and 'ridge' forecasts. Reports the wall time of ``simulate`` (median of
    repeats; it includes the forecast cube), the cube build inside those same calls (timed by wrapping
    ``forecast_surface`` where ``greenci.simulation`` looks it up, so it is the cube simulate builds, at
    simulate's horizon) and a per-strategy breakdown. Target: replay < 1 s.
(b) Scale: 10k / 100k / 1M synthetic jobs (arrivals uniform over the year, log-normal runtimes, 3,000
    workflows in 300 repositories, so histories exist) x the same 12-region 1-year hourly grid x LTS-6.
    Times the duration estimate, the placement (``LocationTimeShifting.place``, i.e. the kernel's
    ``choose``) on actual intensity and on a persistence forecast cube, and the accounting; per-job
    cost and the ratio to the 10k row (the baseline run in this process) show linearity. Target:
    1M jobs x 12 regions x 6 h windows < 10 s on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
from rich.console import Console
from rich.table import Table

from greenci import simulation
from greenci.grid import IntensityGrid
from greenci.jobs import JobTable, estimate_durations
from greenci.scheduling.context import Context, forecast_surface
from greenci.scheduling.kernel import ActualSurface
from greenci.scheduling.strategies import (
    GreenciStrategy,
    LocationShifting,
    LocationTimeShifting,
    Oracle,
    RoundRobin,
    Strategy,
    accounted_emissions_g,
)
from greenci.shared_data import find_shared_data
from greenci.simulation import simulate
from greenci.synthetic import synthetic_grid
from greenci.tracegen import generate_study_trace

REGIONS = ("AU-NSW", "AU-VIC", "CA-ON", "DE-LU", "GB", "US-CAL-CISO", "US-MIDA-PJM", "US-NY-NYIS", "US-TEX-ERCO",
           "JP-TK", "KR", "SG")
FORECASTS = ("perfect", "persistence", "ridge")
HORIZON_SLOTS = 48  # the scale table's persistence cube: 48 h ahead, issued hourly
HOUR_S = 3600.0
T = TypeVar("T")


# ------------------------------------------------------------------------------------------ helpers
def timed(fn: Callable[[], T], repeats: int, warmup: bool = True) -> tuple[float, T]:
    """Median wall time (s) of ``repeats`` calls after one warm-up call, and the last result."""
    result = fn() if warmup else None
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result  # type: ignore[return-value]


def fmt_s(seconds: float) -> str:
    return f"{seconds * 1e3:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def study_grid() -> tuple[IntensityGrid, str]:
    """The 12 study regions over 2022, hourly: real Electricity Maps files when found, else synthetic."""
    data = find_shared_data()
    if data is not None:
        folder = data / "intensity" / "electricitymaps-hourly"
        files = [folder / z / f"{z}_2022_hourly.csv" for z in REGIONS]
        if all(f.is_file() for f in files):
            from greenci.sources import read_intensity

            grid = IntensityGrid.from_series(read_intensity(files)).select(list(REGIONS))
            return grid, f"real: Electricity Maps 2022 hourly exports, 12 zones ({folder})"
    grid = synthetic_grid(REGIONS, start="2022-01-01T00:00:00Z", hours=8760, seed=2022)
    return grid, "SYNTHETIC: greenci-synthetic-v1 model of the 12 zones (shared data not found)"


def study_strategies() -> list[Strategy]:
    h = HOUR_S
    return [RoundRobin(), LocationShifting(), LocationTimeShifting(1 * h), LocationTimeShifting(3 * h),
            LocationTimeShifting(6 * h), Oracle(6 * h), GreenciStrategy(6 * h)]


# ------------------------------------------------------------------------------------------ (a) replay
@dataclass(frozen=True)
class ReplayRow:
    forecast: str
    simulate_s: float
    cube_s: float
    reductions: dict[str, float]


def replay_rows(jobs: JobTable, grid: IntensityGrid, strategies: list[Strategy], repeats: int) -> list[ReplayRow]:
    """simulate() per forecast, timed, with the forecast-cube build measured inside the same calls."""
    rows = []
    cube_times: list[float] = []
    build = simulation.forecast_surface

    def timed_build(*args: object, **kwargs: object) -> object:
        t0 = time.perf_counter()
        try:
            return build(*args, **kwargs)  # type: ignore[arg-type]
        finally:
            cube_times.append(time.perf_counter() - t0)

    simulation.forecast_surface = timed_build  # type: ignore[assignment]  # simulate looks it up per call
    try:
        for fc in FORECASTS:
            cube_times.clear()
            sim_s, result = timed(lambda fc=fc: simulate(jobs, grid, strategies, forecast=fc), repeats)
            cube_s = statistics.median(cube_times[1:]) if len(cube_times) > 1 else 0.0  # [0]: the warm-up
            rows.append(ReplayRow(fc, sim_s, cube_s, {s.name: s.reduction_vs_round_robin for s in result.strategies}))
    finally:
        simulation.forecast_surface = build  # type: ignore[assignment]
    return rows


def replay_table(title: str, rows: list[ReplayRow]) -> Table:
    base = rows[0].simulate_s
    table = Table(title=title)
    for col in ("forecast", "simulate (wall)", "forecast cube", "simulate - cube", "vs perfect", "target < 1 s"):
        table.add_column(col, justify="left" if col == "forecast" else "right")
    for r in rows:
        table.add_row(r.forecast, fmt_s(r.simulate_s), "none (actuals)" if r.forecast == "perfect" else fmt_s(r.cube_s),
                      fmt_s(r.simulate_s - r.cube_s), f"{r.simulate_s / base:.2f}x",
                      "met" if r.simulate_s < 1 else f"missed ({'met' if r.simulate_s - r.cube_s < 1 else 'missed'}"
                                                      " without the cube)")
    return table


def bench_real_trace(console: Console, repeats: int) -> None:
    """(c) The shared GitHub Actions runs (all of them) x 12 regions x every strategy, 2022-2023 intensity."""
    from greenci.sources import read_intensity
    from greenci.study import STUDY_REGIONS
    from greenci.traces import read_trace
    from greenci.traces.cleaning import align_into, clean_implausible

    data = find_shared_data()
    if data is None:
        console.print("(c) real trace: skipped, ../shared/data not found (set GREENCI_SHARED)")
        return
    jobs = read_trace([data / "jobs" / "github-actions" / "gha-dashboard"]).jobs
    jobs, _ = clean_implausible(jobs, policy="cap")
    series = [s for s in read_intensity([data / "intensity" / "electricitymaps-hourly"]) if s.region in STUDY_REGIONS]
    grid = IntensityGrid.from_series(series).select(list(STUDY_REGIONS))
    history = np.timedelta64(56 * 86400, "s")
    jobs, shift = align_into(jobs, grid.start + history, grid.end - np.timedelta64(2 * 86400, "s"), drop_outside=True)
    strategies = study_strategies()
    rows = replay_rows(jobs, grid, strategies, repeats)
    console.print(replay_table(f"(c) Real trace: {len(jobs):,} GitHub Actions runs (all shared runs, implausible ones "
                               f"capped) x {len(grid.regions)} regions x {len(strategies)} strategies, median of "
                               f"{repeats}", rows))
    console.print(f"Intensity: real Electricity Maps 2022-2023. Trace shifted by {shift // 604800} weeks. The cube "
                  "column is the forecast for every hour the trace spans (15 months), built once per replay.")


def bench_replay(console: Console, grid: IntensityGrid, grid_label: str, repeats: int) -> list[ReplayRow]:
    jobs = generate_study_trace()
    strategies = study_strategies()
    rows = replay_rows(jobs, grid, strategies, repeats)
    base = rows[0].simulate_s
    console.print(replay_table(f"(a) Study replay: {len(jobs):,} runs x {len(grid.regions)} regions x "
                               f"{len(strategies)} strategies, median of {repeats}", rows))
    console.print(f"Intensity: {grid_label}.\nRuns: {jobs.source} (SYNTHETIC: {jobs.notes[0]}).")

    # Where the replay's time goes, one forecast: context (duration estimates), each strategy, the rest.
    ctx_s, ctx = timed(lambda: Context.build(jobs, grid), repeats)
    parts = Table(title="Replay breakdown, forecast 'perfect' (a forecast's cube comes on top)")
    for col in ("step", "median", "share of simulate"):
        parts.add_column(col, justify="left" if col == "step" else "right")
    parts.add_row("Context.build (duration estimates)", fmt_s(ctx_s), f"{ctx_s / base:.0%}")
    spent = ctx_s
    for s in strategies:
        t, _ = timed(lambda s=s: accounted_emissions_g(s.place(jobs, ctx), jobs, grid), repeats)
        spent += t
        parts.add_row(f"{s.name}: place + account", fmt_s(t), f"{t / base:.0%}")
    rest = max(base - spent, 0.0)
    parts.add_row("totals, timeline, checks (rest)", fmt_s(rest), f"{rest / base:.0%}")
    console.print(parts)

    red = Table(title="Reduction vs round-robin, as replayed")
    red.add_column("strategy")
    for r in rows:
        red.add_column(r.forecast, justify="right")
    for name in rows[0].reductions:
        red.add_row(name, *[f"{r.reductions[name]:.1%}" for r in rows])
    console.print(red)
    return rows


# ------------------------------------------------------------------------------------------ (b) scale
def scale_jobs(n: int, grid: IntensityGrid, *, seed: int = 0, workflows: int = 3000, repos: int = 300,
               buffer_s: float = 6 * HOUR_S) -> JobTable:
    """``n`` SYNTHETIC jobs, vectorised: arrivals uniform over the grid's span (minus the longest run and
    the buffer, so every run fits), runtimes log-normal around a per-workflow median of 1..60 min."""
    rng = np.random.default_rng(seed)
    g0 = int(grid.start.astype(np.int64))
    limit_s = 6 * 3600.0
    span = grid.n_slots * grid.step_s - int(limit_s + buffer_s) - grid.step_s
    submitted = g0 + rng.integers(0, span, n)
    wf = rng.integers(0, workflows, n)
    median = np.exp(rng.uniform(np.log(60.0), np.log(3600.0), workflows))
    sigma = rng.uniform(0.25, 0.8, workflows)
    duration = np.clip(np.round(median[wf] * np.exp(sigma[wf] * rng.standard_normal(n))), 10.0, limit_s)
    repo_names = np.array([f"org-{k % 37}/repo-{k}" for k in range(repos)], dtype=object)
    wf_names = np.array([f"workflow-{k}" for k in range(workflows)], dtype=object)
    return JobTable.build(submitted_s=submitted, duration_s=duration, repo=repo_names[wf % repos],
                          workflow=wf_names[wf], synthetic=True, source=f"bench scale jobs seed={seed}")


@dataclass(frozen=True)
class ScaleRow:
    jobs: int
    estimate_s: float
    place_s: float
    place_cube_s: float
    cube_build_s: float
    account_s: float

    @property
    def total_s(self) -> float:
        """Estimate + place (on actuals) + account: the target's number."""
        return self.estimate_s + self.place_s + self.account_s


def bench_scale(console: Console, grid: IntensityGrid, grid_label: str, sizes: list[int],
                repeats: int) -> list[ScaleRow]:
    strategy = LocationTimeShifting(6 * HOUR_S)
    actual = ActualSurface(grid)
    rows: list[ScaleRow] = []
    for n in sizes:
        jobs = scale_jobs(n, grid)
        reps = repeats if n < 1_000_000 else max(1, min(repeats, 3))
        est_s, est = timed(lambda jobs=jobs: estimate_durations(jobs), reps, warmup=n < 1_000_000)
        ctx = Context.build(jobs, grid, estimates=est, forecast_name="perfect")
        place_s, placement = timed(lambda jobs=jobs, ctx=ctx: strategy.place(jobs, ctx), reps, warmup=n < 1_000_000)
        account_s, grams = timed(lambda jobs=jobs, p=placement: accounted_emissions_g(p, jobs, actual), reps)
        assert np.isfinite(grams).all()  # a sanity check of the run, not of its speed
        cube_s, surface = timed(lambda jobs=jobs: forecast_surface(grid, "persistence", HORIZON_SLOTS, jobs), 1)
        ctx_f = ctx.deciding_on(surface, "persistence")
        cube_place_s, _ = timed(lambda jobs=jobs, c=ctx_f: strategy.place(jobs, c), reps, warmup=n < 1_000_000)
        rows.append(ScaleRow(n, est_s, place_s, cube_place_s, cube_s, account_s))
        del jobs, est, ctx, ctx_f, surface, placement, grams

    base = rows[0]
    big_reps = f" (1M: of {min(repeats, 3)}, no warm-up)" if sizes[-1] >= 1_000_000 else ""
    table = Table(title=f"(b) Scale: jobs x {len(grid.regions)} regions x LTS-6 (6 h windows) over "
                        f"{grid.n_slots:,} hourly slots; median of {repeats}{big_reps}")
    for col in ("jobs", "estimate", "place", "account", "total", "us/job", "total vs 10k", "jobs vs 10k",
                "place on cube", "cube build"):
        table.add_column(col, justify="right")
    for r in rows:
        table.add_row(f"{r.jobs:,}", fmt_s(r.estimate_s), fmt_s(r.place_s), fmt_s(r.account_s), fmt_s(r.total_s),
                      f"{r.total_s / r.jobs * 1e6:.2f}", f"{r.total_s / base.total_s:.1f}x",
                      f"{r.jobs / base.jobs:.0f}x", fmt_s(r.place_cube_s), fmt_s(r.cube_build_s))
    console.print(table)
    console.print("total = estimate + place (decisions on actual intensity) + account. 'place on cube': the same "
                  "placement deciding on a\npersistence forecast cube (48 h, issued hourly over the year; its build, "
                  "once per trace, in 'cube build').")
    console.print(f"Intensity: {grid_label}. Jobs: SYNTHETIC (uniform arrivals, log-normal runtimes, 3,000 "
                  "workflows / 300 repositories).")
    per_job = [table_row.place_s / table_row.jobs * 1e6 for table_row in rows]
    console.print("place us/job by size: " + ", ".join(f"{r.jobs:,}: {p:.2f}" for r, p in zip(rows, per_job,
                                                                                             strict=True)))
    big = next((r for r in rows if r.jobs >= 1_000_000), None)
    if big is not None:
        worst = big.estimate_s + max(big.place_s, big.place_cube_s) + big.account_s
        console.print(f"Target 1M jobs < 10 s: {'met' if big.total_s < 10 else 'MISSED'} ({fmt_s(big.total_s)} on "
                      f"actuals; {fmt_s(worst)} deciding on the forecast cube, cube build excluded).")
    return rows


# ------------------------------------------------------------------------------------------ main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats, scale up to 100k jobs only")
    parser.add_argument("--repeats", type=int, default=None, help="timed repeats per case (median reported)")
    args = parser.parse_args()
    repeats = args.repeats or (3 if args.quick else 5)
    sizes = [10_000, 100_000] if args.quick else [10_000, 100_000, 1_000_000]

    console = Console(width=130)
    t0 = time.perf_counter()
    grid, label = study_grid()
    load_s = time.perf_counter() - t0
    blas = os.environ.get("OPENBLAS_NUM_THREADS") or os.environ.get("OMP_NUM_THREADS") or "library default"
    console.print(f"greenci scheduling benchmark  |  {platform.python_implementation()} {platform.python_version()}, "
                  f"NumPy {np.__version__}, {os.cpu_count()} CPUs, {platform.machine()}, BLAS threads: {blas}  |  "
                  f"grid {grid.n_slots:,} x {len(grid.regions)} loaded in {fmt_s(load_s)} (not timed below)")
    console.print("The ridge cube is many small BLAS solves: on a busy machine OPENBLAS_NUM_THREADS=1 makes it "
                  "steadier (and no slower).")
    bench_replay(console, grid, label, repeats)
    console.print()
    bench_real_trace(console, repeats)
    console.print()
    bench_scale(console, grid, label, sizes, repeats)


if __name__ == "__main__":
    main()
