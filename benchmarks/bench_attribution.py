"""How long attribution of a node's power to jobs and PUE from meters take. Asserts nothing.

Run: ``python benchmarks/bench_attribution.py [--days 7] [--jobs 200,2000,20000] [--repeat 3]``.

SYNTHETIC series: a node's power every 10 s over ``--days`` (as interval records), jobs of log-normal
length around 8 min with uniform starts, their CPU time as intervals of 10 s (given as the vectorised
:class:`~greenci.energy.attribution.JobCpu`, so the figure is the split itself, not building records); a
facility meter every 15 min and an IT meter every 5 min over a year for the PUE. Columns: size, the best of
``--repeat`` runs, and a check that the parts sum to the node.
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime, timedelta

import numpy as np
from rich.console import Console
from rich.table import Table

from greenci.energy.attribution import JobCpu, attribute
from greenci.energy.pue import metered_pue
from greenci.energy.records import EnergyRecord

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def _series(resource: str, component: str, step_s: int, watts: np.ndarray) -> list[EnergyRecord]:
    return [EnergyRecord("synthetic", resource, T0 + timedelta(seconds=i * step_s),
                         T0 + timedelta(seconds=(i + 1) * step_s), energy_kwh=float(w) * step_s / 3.6e6,
                         power_w=float(w), component=component) for i, w in enumerate(watts)]


def _jobs(n: int, days: float, rng: np.random.Generator) -> JobCpu:
    start = np.floor(rng.uniform(0, days * 86400 - 7200, n) / 10) * 10
    length = np.clip(np.round(rng.lognormal(np.log(480), 0.6, n) / 10) * 10, 10, 7200)
    pieces = (length // 10).astype(np.int64)
    job = np.repeat(np.arange(n), pieces)
    offset = np.arange(job.size) - np.repeat(np.cumsum(pieces) - pieces, pieces)
    s = T0.timestamp() + start[job] + 10 * offset
    return JobCpu(jobs=tuple(f"job-{i}" for i in range(n)), job=job, start_s=s, end_s=s + 10,
                  cpu_s=rng.uniform(0, 40, job.size))


def _best(fn, repeat: int) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=float, default=7.0)
    parser.add_argument("--jobs", default="200,2000,20000")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(3)
    slots = int(args.days * 86400 / 10)
    node = _series("node1", "total", 10, 150 + 250 * rng.random(slots))
    table = Table(title=f"attribute: node every 10 s over {args.days:g} days ({slots} intervals) — SYNTHETIC")
    for c in ("jobs", "CPU intervals", "records out", "best time", "parts - node (kWh)"):
        table.add_column(c, justify="right")
    for n in (int(x) for x in args.jobs.split(",")):
        cpu = _jobs(n, args.days, rng)
        secs, result = _best(lambda cpu=cpu: attribute(node, cpu, step_s=60.0), args.repeat)
        parts = sum(r.energy_kwh for r in result.records)  # type: ignore[attr-defined]
        table.add_row(f"{n}", f"{cpu.job.size}", f"{len(result.records)}", f"{secs:.2f} s",  # type: ignore[attr-defined]
                      f"{parts - result.node_kwh:+.2e}")  # type: ignore[attr-defined]
    console = Console()
    console.print(table)
    it = _series("room", "it", 300, 100_000 + 20_000 * rng.random(365 * 288))
    fac = _series("site", "facility", 900, 125_000 + 30_000 * rng.random(365 * 96))
    secs, series = _best(lambda: metered_pue(fac, it), args.repeat)
    pue = Table(title="metered_pue: a year, facility every 15 min, IT every 5 min — SYNTHETIC")
    for c in ("facility intervals", "IT intervals", "PUE intervals", "best time", "overall PUE"):
        pue.add_column(c, justify="right")
    pue.add_row(f"{len(fac)}", f"{len(it)}", f"{series.grid.n}", f"{secs:.2f} s",  # type: ignore[attr-defined]
                f"{series.overall_pue:.3f}")  # type: ignore[attr-defined]
    console.print(pue)


if __name__ == "__main__":
    main()
