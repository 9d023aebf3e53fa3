"""Capacity-aware placement at scale, and against the exact capacity oracle. Prints tables; asserts nothing.

Run: ``python benchmarks/bench_capacity.py [--quick] [--no-old]``.

(a) Scale: 10k / 100k / 1M SYNTHETIC jobs (``bench_scheduling.scale_jobs``: uniform arrivals over 2022,
    log-normal runtimes) x 12 regions (Electricity Maps 2022 hourly from ``../shared`` when present, else a
    labelled synthetic grid), with the same number of runners in every region, sized so that all regions
    together hold twice the mean number of runners held at once (whole slots per run): the cleanest region
    fills, so capacity binds.
    Times ``place`` of greenci-6, lts-6 and round-robin under that capacity (decisions on actual intensity),
    the old per-job Python greedy (kept below verbatim, run in this process) at 10k / 100k with the ratio,
    the jobs capacity moved, and each strategy's saving against round-robin under the same capacity.
    Target: 1M jobs x 12 regions < 10 s.
(b) Oracle: a week of SYNTHETIC jobs (size where the exact MILP runs), pools that bind; the exact oracle's
    saving against round-robin, and the shares of it reached by the greedy with the oracle's knowledge
    (oracle-6: actual intensity, true durations) and by greenci-6 (its own estimates, fail fast).
"""

from __future__ import annotations

import argparse
import importlib.util
import time

import numpy as np
from bench_scheduling import fmt_s, scale_jobs, study_grid
from rich.console import Console
from rich.table import Table

from greenci.grid import IntensityGrid
from greenci.jobs import EST_DEFAULT, JobTable, estimate_durations
from greenci.scheduling import eligibility as el
from greenci.scheduling.context import Context
from greenci.scheduling.kernel import ActualSurface, candidate_starts
from greenci.scheduling.strategies import Placement, Strategy, accounted_emissions_g, make_strategy

HOUR_S = 3600.0


# ---------------------------------------------------------------- the old greedy, verbatim (for the ratio)
def old_sequential(ctx: Context, jobs: JobTable, arrival: np.ndarray, dur: np.ndarray, wait: np.ndarray,
                   allowed: np.ndarray | None, rr: np.ndarray, capacity: int | None,
                   price: float) -> tuple[np.ndarray, np.ndarray]:
    """``strategies._sequential`` as it was before the capacity issue (per-job Python loop), pools left out."""
    idx = np.arange(len(jobs))
    n_regions = len(ctx.regions)
    cand = candidate_starts(arrival[idx], wait[idx])
    width = cand.shape[1]
    issue = np.floor(arrival[idx] + 1e-9).astype(np.int64)
    t0 = np.nan_to_num(cand[:, None, :])
    cost = ctx.forecast.integral(issue[:, None, None], np.arange(n_regions)[None, :, None], t0,
                                 t0 + dur[idx, None, None])
    bad = np.isnan(cost) | np.isnan(cand[:, None, :])
    if allowed is not None:
        bad |= ~allowed[idx][:, :, None]
    waited_h = (np.nan_to_num(cand) - arrival[idx, None]) * ctx.step_s / 3600.0
    penalised = cost + price * waited_h[:, None, :]
    penalised = np.where(bad, np.inf, penalised)
    flat = penalised.transpose(0, 2, 1).reshape(idx.size, width * n_regions)
    order = np.argsort(flat, axis=1, kind="stable")
    region = rr[idx].copy()
    start = arrival[idx].copy()
    caps = np.full(n_regions, np.inf if capacity is None else float(capacity))
    span = int(np.ceil(np.nanmax(cand) + np.max(dur[idx]))) + 2
    occupancy = np.zeros((n_regions, max(span, ctx.n_slots) + 1), dtype=np.int32)
    for k in range(idx.size):
        placed = False
        for f in order[k]:
            if not np.isfinite(flat[k, f]):
                break
            w, r = divmod(int(f), n_regions)
            s = cand[k, w]
            a, b = int(np.floor(s)), int(np.ceil(s + dur[idx[k]]))
            if occupancy[r, a:b].max(initial=0) >= caps[r]:
                continue
            occupancy[r, a:b] += 1
            region[k], start[k] = r, s
            placed = True
            break
        if not placed:
            occupancy, region[k], start[k] = old_queue(occupancy, caps, np.nanmax(cand[k]), dur[idx[k]],
                                                       None if allowed is None else allowed[idx[k]], rr[idx[k]])
    return region, start


def old_queue(occupancy: np.ndarray, capacity: np.ndarray, after: float, dur: float, allowed: np.ndarray | None,
              preferred: int) -> tuple[np.ndarray, int, float]:
    n_regions = occupancy.shape[0]
    order = [preferred] + [r for r in range(n_regions) if r != preferred]
    s = int(np.ceil(after + 1e-9))
    length = int(np.ceil(dur - 1e-9))
    while True:
        if s + length + 1 >= occupancy.shape[1]:
            occupancy = np.concatenate([occupancy, np.zeros_like(occupancy)], axis=1)
        for r in order:
            if allowed is not None and not allowed[r]:
                continue
            if occupancy[r, s:s + length].max(initial=0) < capacity[r]:
                occupancy[r, s:s + length] += 1
                return occupancy, r, float(s)
        s += 1


def old_greenci_inputs(strategy: Strategy, jobs: JobTable, ctx: Context) -> tuple:
    """The inputs greenci's place() handed the old greedy (same windows and estimates as now)."""
    from greenci.scheduling.strategies import _round_robin_regions

    est = strategy.estimates(jobs, ctx)  # type: ignore[attr-defined]
    max_wait, _ = strategy.windows(jobs, est.estimate_s)  # type: ignore[attr-defined]
    reason = el.eligibility(jobs, max_wait, strategy.rules)  # type: ignore[attr-defined]
    reason[(est.source == EST_DEFAULT) & (reason == el.SHIFTED)] = el.COLD_START
    wait = np.where(reason == el.SHIFTED, max_wait, 0.0)
    rr = _round_robin_regions(len(jobs), len(ctx.regions), ctx.allowed_mask(jobs))
    return ctx.arrival_slots(jobs), est.estimate_s / ctx.step_s, wait / ctx.step_s, rr


# ------------------------------------------------------------------------------------------ helpers
def runners_for(jobs: JobTable, grid: IntensityGrid, factor: float = 2.0) -> int:
    """Runners per region so that all regions hold ``factor`` x the mean number of runners held at once.

    A run holds its runner for whole slots (``[floor(start), ceil(end))``), so a 1-minute job holds a slot.
    """
    start = (jobs.submitted_s - grid.start_s) / grid.step_s
    held = np.ceil(start + jobs.duration_s / grid.step_s) - np.floor(start)
    span = float(np.ptp(start)) + 1
    mean_busy = float(held.sum()) / span
    return max(1, int(np.ceil(factor * mean_busy / len(grid.regions))))


def timed(fn):  # noqa: ANN001, ANN201 - a tiny local timer
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def total_g(p: Placement, jobs: JobTable, surface: ActualSurface) -> float:
    return float(np.nansum(accounted_emissions_g(p, jobs, surface)))


# ------------------------------------------------------------------------------------------ (a) scale
def bench_scale(console: Console, grid: IntensityGrid, label: str, sizes: list[int], old: bool) -> None:
    surface = ActualSurface(grid)
    table = Table(title="(a) Capacity-aware placement: SYNTHETIC jobs x 12 regions, capacities that bind "
                        "(decisions on actual intensity)")
    for col in ("jobs", "runners/region", "greenci-6", "of which estimates", "lts-6", "round-robin", "old greedy",
                "old / new", "same as old", "moved by capacity", "greenci saving vs rr", "lts-6 saving vs rr"):
        table.add_column(col, justify="right")
    compile_s, _ = timed(lambda: make_strategy("greenci-6", capacity=1).place(
        *(lambda j: (j, Context.build(j, grid)))(scale_jobs(200, grid))))
    for n in sizes:
        jobs = scale_jobs(n, grid)
        ctx = Context.build(jobs, grid, estimates=estimate_durations(jobs), forecast_name="perfect")
        cap = runners_for(jobs, grid)
        strategies = {name: make_strategy(name, capacity=cap) for name in ("greenci-6", "lts-6", "round-robin")}
        times, placements = {}, {}
        for name, s in strategies.items():
            times[name], placements[name] = timed(lambda s=s, jobs=jobs, ctx=ctx: s.place(jobs, ctx))
        est_s, _ = timed(lambda g=strategies["greenci-6"], jobs=jobs, ctx=ctx: g.estimates(jobs, ctx))
        rr_g = total_g(placements["round-robin"], jobs, surface)
        saving = {k: 1 - total_g(p, jobs, surface) / rr_g for k, p in placements.items()}
        moved = float(np.mean(placements["greenci-6"].reason == el.CAPACITY))
        old_s, ratio, same = "-", "-", "-"
        if old and n <= 100_000:
            arrival, dur, wait, rr = old_greenci_inputs(strategies["greenci-6"], jobs, ctx)
            t, (region, start) = timed(lambda a=(ctx, jobs, arrival, dur, wait, None, rr, cap, 0.0): old_sequential(*a))
            new = placements["greenci-6"]
            old_s, ratio = fmt_s(t), f"{t / times['greenci-6']:.0f}x"
            agree = (region == new.region) & np.isclose(ctx.seconds(start), new.start_s)
            same = f"{agree.mean():.2%}"
        table.add_row(f"{n:,}", str(cap), fmt_s(times["greenci-6"]), fmt_s(est_s), fmt_s(times["lts-6"]),
                      fmt_s(times["round-robin"]), old_s, ratio, same, f"{moved:.1%}", f"{saving['greenci-6']:.1%}",
                      f"{saving['lts-6']:.1%}")
    console.print(table)
    console.print(f"Intensity: {label}. Jobs: SYNTHETIC (bench_scheduling.scale_jobs). Times are each strategy's "
                  "place() (greenci-6 fills cold-start estimates inside it: 'of which estimates'), first numba "
                  f"compile done before ({fmt_s(compile_s)}, cached on "
                  "disk after).\n'same as old': placements equal to the old per-job greedy; they differ only where "
                  "a job queues past its window (the old queue tried regions in index order, the new one "
                  "cyclically from its round-robin region). Savings: against round-robin under the same capacity.")


# ------------------------------------------------------------------------------------------ (b) oracle
def bench_oracle(console: Console, grid: IntensityGrid, label: str, n: int) -> None:
    if importlib.util.find_spec("greenci.scheduling.capacity_oracle") is None:
        console.print("(b) skipped: greenci.scheduling.capacity_oracle is not there yet")
        return
    from greenci.scheduling.capacity_oracle import solve_capacity_oracle

    week = grid.between(grid.start, grid.start + np.timedelta64(8 * 24 * 3600, "s"))
    jobs = scale_jobs(n, week, workflows=200, repos=40)
    jobs = JobTable.build(submitted_s=jobs.submitted_s, duration_s=jobs.duration_s, repo=jobs.repo,
                          workflow=jobs.workflow, event=np.full(len(jobs), "schedule"), synthetic=True)
    surface = ActualSurface(week)
    table = Table(title=f"(b) Against the exact capacity oracle: {n:,} SYNTHETIC jobs over a week x 12 regions")
    for col in ("runners/region", "oracle saving", "oracle time", "oracle-6 greedy saving", "share",
                "greenci-6 saving", "share", "greedy time"):
        table.add_column(col, justify="right")
    exact = Context.build(jobs, week, estimates=estimate_durations(jobs), forecast_name="perfect")
    for cap in sorted({runners_for(jobs, week, factor) for factor in (1.5, 3.0)}):  # small traces: one size
        rr_g = total_g(make_strategy("round-robin", capacity=cap).place(jobs, exact), jobs, surface)
        t_o, sol = timed(lambda cap=cap: solve_capacity_oracle(jobs, exact, capacity=cap, buffer_s=6 * HOUR_S))
        oracle_saving = 1 - float(sol.cost_g.sum()) / rr_g
        t_g, greedy = timed(lambda cap=cap: make_strategy("oracle-6", capacity=cap).place(jobs, exact))
        greedy_saving = 1 - total_g(greedy, jobs, surface) / rr_g
        greenci_saving = 1 - total_g(make_strategy("greenci-6", capacity=cap).place(jobs, exact), jobs, surface) / rr_g
        table.add_row(str(cap), f"{oracle_saving:.1%}", fmt_s(t_o), f"{greedy_saving:.1%}",
                      f"{greedy_saving / oracle_saving:.1%}", f"{greenci_saving:.1%}",
                      f"{greenci_saving / oracle_saving:.1%}", fmt_s(t_g))
        if sol.solve.late_jobs:
            console.print(f"note: at {cap} runners the oracle queued {sol.solve.late_jobs} job(s) past their windows")
    console.print(table)
    console.print(f"Intensity: {label}, first 8 days. Jobs: SYNTHETIC, all 'schedule' events (may wait 6 h). "
                  "Savings against round-robin under the same capacity. oracle-6 greedy: the greedy with the "
                  "oracle's knowledge (true durations); greenci-6: its own duration estimates.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10k and 100k jobs only")
    parser.add_argument("--no-old", action="store_true", help="skip the old per-job greedy (slow at 100k)")
    parser.add_argument("--oracle-jobs", type=int, default=3000, help="jobs in the oracle comparison")
    args = parser.parse_args()
    console = Console(width=160)
    grid, label = study_grid()
    sizes = [10_000, 100_000] if args.quick else [10_000, 100_000, 1_000_000]
    bench_scale(console, grid, label, sizes, old=not args.no_old)
    bench_oracle(console, grid, label, args.oracle_jobs)


if __name__ == "__main__":
    main()
