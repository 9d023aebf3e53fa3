"""How long pool energy takes for a placement of 10k / 100k / 1M jobs over 12 regions. Asserts nothing.

Run: ``python benchmarks/bench_pool_energy.py [--sizes 10000,100000,1000000] [--days 30] [--repeat 3]``.

SYNTHETIC placements (uniform starts over ``--days``, log-normal runtimes around 8 min, regions uniform) on
the SYNTHETIC intensity model (greenci.synthetic), pools of the same size everywhere (examples/pools.yaml's
node figures). Columns: jobs, slots accounted, the best of ``--repeat`` runs of ``pool_energy`` (split of every
run over its slots, idle, kWh, gCO2eq, peak concurrency), and the node-hours and gCO2eq it found.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from rich.console import Console
from rich.table import Table

from greenci.scheduling.pool_energy import pool_energy
from greenci.scheduling.pools import PoolSet, RunnerPool
from greenci.synthetic import synthetic_grid

REGIONS = ("AU-NSW", "AU-VIC", "CA-ON", "DE-LU", "GB", "US-CAL-CISO", "US-MIDA-PJM", "US-NY-NYIS", "US-TEX-ERCO",
           "JP-TK", "KR", "SG")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--days", type=float, default=30.0)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    grid = synthetic_grid(list(REGIONS), start="2022-10-01T00:00Z", hours=args.days * 24 + 48, seed=1)
    table = Table(title=f"pool_energy: {len(REGIONS)} regions, {args.days:g} days — SYNTHETIC jobs and intensity")
    for c in ("jobs", "slots", "best time", "busy node-h", "idle node-h", "pool kgCO2eq", "overbooked regions"):
        table.add_column(c, justify="right")
    rng = np.random.default_rng(7)
    for n in (int(s) for s in args.sizes.split(",")):
        start = grid.start_s + 3600 + rng.uniform(0, args.days * 86400, n)
        duration = np.minimum(rng.lognormal(np.log(480.0), 0.9, n), 6 * 3600.0)
        region = rng.integers(0, len(REGIONS), n)
        mean_running = float(duration.sum() / (args.days * 86400) / len(REGIONS))
        runners = max(1, int(np.ceil(2.0 * mean_running)))
        pools = PoolSet(tuple(RunnerPool(r, runners, 9.2, 20.3) for r in REGIONS), "synthetic")
        best = float("inf")
        for _ in range(max(1, args.repeat)):
            t0 = time.perf_counter()
            pe = pool_energy(region, start, duration, pools, grid)
            best = min(best, time.perf_counter() - t0)
        table.add_row(f"{n:,}", f"{pe.busy_node_s.shape[1]:,}", f"{best * 1000:,.1f} ms", f"{pe.busy_node_h:,.0f}",
                      f"{pe.idle_node_h:,.0f}", f"{pe.total_g / 1000:,.1f}",
                      f"{sum(pe.overbooked.values())} of {len(REGIONS)} ({runners} runners each)")
    Console().print(table)


if __name__ == "__main__":
    main()
