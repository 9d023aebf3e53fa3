"""Decision speed: one job on a fitted 12-region forecast, and a batch of 10,000. Prints tables; asserts nothing.

Run: ``python benchmarks/bench_decisions.py [--repeats N] [--batch 10000]``.

(a) One job: ``greenci.usecases.plan.plan_job`` on a ridge forecast over 12 regions (the Electricity Maps
    2022 hourly files from ``../shared`` when present, else a labelled synthetic grid). The first decision
    in a slot fits the forecast (the baseline, measured in this process); every later decision in that slot
    reads the fitted forecast from the cache. Target: median < 1 ms for a decision on a fitted forecast.
(b) Batch: 10,000 jobs over a week (mixed events, estimates and regions) through ``plan_batch``: the
    forecasts of every issue hour are fitted in one vectorised pass, jobs of one hour are placed together.
    Reported: total, per decision, and the same jobs one by one through ``plan_job`` (cache warm) for the ratio.
"""

from __future__ import annotations

import argparse
import statistics
import time
import timeit
from datetime import UTC, datetime, timedelta

import numpy as np
from rich.console import Console
from rich.table import Table

from greenci.forecast import GridForecasts
from greenci.jobs import Job
from greenci.shared_data import find_shared_data
from greenci.study import STUDY_REGIONS
from greenci.usecases.plan import plan_batch, plan_job

AT = datetime(2022, 10, 12, 8, 20, tzinfo=UTC)
EVENTS = ("push", "pull_request", "schedule", "workflow_dispatch")


def _grid() -> tuple[object, str]:
    found = find_shared_data()
    if found is not None:
        from greenci.grid import IntensityGrid
        from greenci.sources import read_intensity

        series = [s for s in read_intensity([found / "intensity" / "electricitymaps-hourly"])
                  if s.region in STUDY_REGIONS and "2022" in s.source]
        grid = IntensityGrid.from_series(series).select(list(STUDY_REGIONS))
        return grid, "real: Electricity Maps 2022 hourly exports, 12 zones"
    from greenci.synthetic import synthetic_grid

    grid = synthetic_grid(list(STUDY_REGIONS), start="2022-08-01T00:00Z", hours=24 * 120)
    return grid, "SYNTHETIC (greenci's model; ../shared not found)"


def _jobs(n: int, seed: int = 7) -> list[Job]:
    rng = np.random.default_rng(seed)
    offsets = np.sort(rng.uniform(0, 7 * 86400, n))
    out = []
    for k, off in enumerate(offsets):
        allowed = None if rng.random() < 0.7 else tuple(rng.choice(STUDY_REGIONS, 3, replace=False))
        out.append(Job(id=f"j{k}", repo=f"org/r{k % 40}", workflow=f"wf{k % 7}", job_name=f"job{k % 5}",
                       submitted_at=AT + timedelta(seconds=float(off)), event=str(rng.choice(EVENTS)),
                       duration_estimate_s=float(rng.choice([300.0, 1200.0, 3600.0])), allowed_regions=allowed))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15, help="timeit repeats (median reported)")
    parser.add_argument("--batch", type=int, default=10_000, help="jobs in the batch")
    args = parser.parse_args()
    grid, label = _grid()
    console = Console(width=140)

    # ---------------------------------------------------------------- (a) one job
    job = Job(id="one", repo="org/r", workflow="ci", submitted_at=AT, event="push", duration_estimate_s=1200.0)
    fits = []
    for k in range(5):  # the first decision of five different slots: each fits the ridge forecast
        provider = GridForecasts(grid, "ridge")
        t = time.perf_counter()
        plan_job(Job(id="f", repo="org/r", workflow="ci", submitted_at=AT + timedelta(hours=k), event="push",
                     duration_estimate_s=1200.0), intensity=provider)
        fits.append(time.perf_counter() - t)
    provider = GridForecasts(grid, "ridge")
    plan_job(job, intensity=provider)  # fit once
    number = 200
    runs = [t / number for t in timeit.repeat(lambda: plan_job(job, intensity=provider), number=number,
                                              repeat=args.repeats)]
    fit_s, hit_s = statistics.median(fits), statistics.median(runs)
    table = Table(title=f"(a) One job, 12 regions, ridge forecast ({label})")
    for col in ("case", "median", "min", "vs fitting"):
        table.add_column(col, justify="left" if col == "case" else "right")
    table.add_row("first decision in a slot (fits the forecast)", f"{fit_s * 1e3:.1f} ms", f"{min(fits) * 1e3:.1f} ms",
                  "1x")
    table.add_row("decision on the fitted forecast (cached)", f"{hit_s * 1e3:.3f} ms", f"{min(runs) * 1e3:.3f} ms",
                  f"{fit_s / hit_s:,.0f}x faster")
    console.print(table)
    console.print(f"target: median < 1 ms on a fitted forecast: {'met' if hit_s < 1e-3 else 'NOT met'} "
                  f"({hit_s * 1e3:.3f} ms; median of {args.repeats} x {number} decisions)")

    # ---------------------------------------------------------------- (b) a batch
    jobs = _jobs(args.batch)
    provider = GridForecasts(grid, "ridge")
    t = time.perf_counter()
    batch = plan_batch(jobs, intensity=provider)
    batch_s = time.perf_counter() - t
    t = time.perf_counter()
    warm = plan_batch(jobs, intensity=provider)  # forecasts cached: placement only
    warm_s = time.perf_counter() - t
    sample = jobs[:: max(1, len(jobs) // 1000)]
    t = time.perf_counter()
    one_by_one = [plan_job(j, intensity=provider) for j in sample]
    single_s = (time.perf_counter() - t) / len(sample)
    same = all((a.region, a.start) == (b.region, b.start) for a, b in zip(one_by_one, batch[:: max(1, len(jobs) //
                                                                                                   1000)],
                                                                        strict=False))
    hours = len({int(j.submitted_at.timestamp()) // 3600 for j in jobs})
    table = Table(title=f"(b) {len(jobs):,} jobs over a week ({hours} issue hours), 12 regions, ridge")
    for col in ("case", "total", "per decision", "vs one by one"):
        table.add_column(col, justify="left" if col == "case" else "right")
    table.add_row("one by one through plan_job (forecasts cached; 1,000 sampled)", f"{single_s * len(jobs):.2f} s",
                  f"{single_s * 1e3:.3f} ms", "1x")
    table.add_row("plan_batch, forecasts fitted in one pass", f"{batch_s:.2f} s",
                  f"{batch_s / len(jobs) * 1e3:.3f} ms", f"{single_s * len(jobs) / batch_s:.1f}x")
    table.add_row("plan_batch, forecasts already fitted", f"{warm_s:.2f} s", f"{warm_s / len(jobs) * 1e3:.3f} ms",
                  f"{single_s * len(jobs) / warm_s:.1f}x")
    console.print(table)
    waited = sum(d.wait_s > 0 for d in warm)
    console.print(f"decisions: {len(warm):,}; waited {waited:,}; batch and one-by-one agree on the sample: {same}")


if __name__ == "__main__":
    main()
