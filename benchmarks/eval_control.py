"""The real comparison: PPO trained on 2022 intensity, evaluated on 2023, against LTS, greenci and the oracle.

Intensity: the shared Electricity Maps hourly files (2022 and 2023; the study's regions or --regions).
Jobs: the shared GitHub Actions runs (real, --trace) moved by whole weeks into each year, or the study's
generated runs (synthetic, labelled) with --study. Writes docs/control/report.md and docs/control/emissions.png
and prints the table. Sized for ~10 min on 2 cores with the defaults.

    .venv/bin/python benchmarks/eval_control.py [--study] [--timesteps 60000] [--tune-trials 4]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from greenci.insights.control.report import HEADERS, table_rows, verdict, write_report
from greenci.shared_data import require_shared_data
from greenci.usecases.control import ControlRequest, evaluate_control, train_control

REPO = Path(__file__).resolve().parents[1]
DEFAULT_REGIONS = "CA-ON,DE-LU,GB,US-CAL-CISO,US-MIDA-PJM,AU-NSW"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--study", action="store_true", help="generated runs (synthetic) instead of the shared trace")
    ap.add_argument("--regions", default=DEFAULT_REGIONS)
    ap.add_argument("--days", type=float, default=7.0)
    ap.add_argument("--timesteps", type=int, default=60_000)
    ap.add_argument("--tune-trials", type=int, default=4)
    ap.add_argument("--tune-timesteps", type=int, default=8_000)
    ap.add_argument("--forecast", default="ridge")
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "control")
    ap.add_argument("--work", type=Path, default=Path("/tmp/greenci-control-bench"))
    args = ap.parse_args()
    shared = require_shared_data()
    trace = () if args.study else tuple(sorted((shared / "jobs" / "github-actions" / "gha-dashboard")
                                              .glob("builds_features_*.csv")))
    request = ControlRequest(study=args.study, trace=trace,
                             intensity=(shared / "intensity" / "electricitymaps-hourly",),
                             regions=tuple(args.regions.split(",")), days=args.days, timesteps=args.timesteps,
                             tune_trials=args.tune_trials, tune_timesteps=args.tune_timesteps, forecast=args.forecast,
                             runs=2000 if args.study else None)
    console = Console()
    t0 = time.monotonic()
    trained = train_control(request, args.work)
    console.print(f"trained in {time.monotonic() - t0:.0f} s: mean reward per job {trained.mean_reward_before:.3f} "
                  f"-> {trained.mean_reward_after:.3f}; tuned {trained.tuned}; energy "
                  f"{trained.energy.energy_kwh:.3g} kWh ({trained.energy.method})")
    t1 = time.monotonic()
    report = evaluate_control(request, trained.model_path)
    console.print(f"evaluated in {time.monotonic() - t1:.0f} s")
    written = write_report(report, args.out)
    table = Table(title=f"Held-out {report.eval_span[0]} .. {report.eval_span[1]}, {report.jobs:,} jobs"
                        f"{report.label()}")
    for h in HEADERS:
        table.add_column(h)
    for row in table_rows(report):
        table.add_row(*row)
    console.print(table)
    console.print(verdict(report))
    console.print(f"training energy {trained.energy.energy_kwh:.3g} kWh, evaluation energy "
                  f"{report.energy.get('energy_kwh', float('nan')):.3g} kWh; wrote {', '.join(map(str, written))}")


if __name__ == "__main__":
    main()
