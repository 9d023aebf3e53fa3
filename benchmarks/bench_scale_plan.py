"""How long a scale plan takes (exact MILP per region on HiGHS) for 12 regions x 24 / 48 / 72 hours. Asserts nothing.

Run: ``python benchmarks/bench_scale_plan.py [--hours 24,48,72] [--regions 12]``.

SYNTHETIC loads (urgent and deferrable node-hours per hour drawn uniformly) on the SYNTHETIC intensity model
(greenci.synthetic), pools of 20 runners (60 W idle, 180 W busy, 90 s and 5 Wh to start, min 1). Columns: hours,
regions, seconds to plan, whether every region was solved to the 1 % gap, the plan's node-hours and gCO2eq
against the fixed fleet and carbon-blind scaling, and the longest planned wait.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from rich.console import Console
from rich.table import Table

from greenci.scheduling.autoscale import LoadForecast, WaitObjective, plan_savings, plan_scaling
from greenci.scheduling.pools import PoolSet, RunnerPool
from greenci.synthetic import PROFILES, synthetic_grid

T0 = 1665532800  # 2022-10-12T00:00Z


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", default="24,48,72")
    parser.add_argument("--regions", type=int, default=12)
    args = parser.parse_args()
    regions = tuple(list(PROFILES)[:args.regions])
    pools = PoolSet(tuple(RunnerPool(r, 20, 60, 180, start_s=90, start_kwh=0.005, min_runners=1) for r in regions),
                    "synthetic")
    table = Table(title="Scale plans (SYNTHETIC load and intensity)")
    for c in ("hours", "regions", "plan s", "optimal", "node-h fixed", "node-h plan", "g fixed", "g carbon-blind",
              "g plan", "max wait h"):
        table.add_column(c, justify="right")
    for hours in (int(h) for h in args.hours.split(",")):
        rng = np.random.default_rng(hours)
        grid = synthetic_grid(regions, start=np.datetime64(T0, "s"), hours=hours, seed=hours)
        load = LoadForecast(regions, T0, rng.uniform(0, 6, (len(regions), hours)),
                            rng.uniform(0, 8, (len(regions), hours)), "synthetic", synthetic=True)
        t = time.perf_counter()
        plan = plan_scaling(load, grid.values, pools, WaitObjective(6.0))
        took = time.perf_counter() - t
        total = plan_savings(plan, load, pools)[-1]
        table.add_row(str(hours), str(len(regions)), f"{took:.1f}", str(plan.optimal), f"{total.fixed.node_h:,.0f}",
                      f"{total.plan.node_h:,.0f}", f"{total.fixed.emissions_g:,.0f}",
                      f"{total.following.emissions_g:,.0f}", f"{total.plan.emissions_g:,.0f}",
                      f"{total.max_wait_h:g}")
    Console(width=160).print(table)


if __name__ == "__main__":
    main()
