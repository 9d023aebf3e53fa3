"""GCN, GAT and gradient boosting on the shared GitHub Actions runs: writes docs/failures/report.md and PNGs.

Run: ``.venv/bin/python benchmarks/eval_failures.py [--out docs/failures] [--seed 0]``. Needs the shared
data (``../shared/data``, see greenci.shared_data) and ``greenci[ml]``. Prints the comparison as a rich table.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from greenci.errors import GreenciError
from greenci.insights.failures.report import write_report
from greenci.insights.selfenergy import SelfEnergy
from greenci.shared_data import require_shared_data
from greenci.usecases.failures import FailureRequest, compare_failure_models, comparison_rows, summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/failures"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--test-weeks", type=int, default=8)
    parser.add_argument("--val-weeks", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=150)
    args = parser.parse_args(argv)
    console = Console()
    try:
        folder = require_shared_data() / "jobs" / "github-actions" / "gha-dashboard"
        files = sorted(folder.glob("builds_features_*.csv"))
        request = FailureRequest(history=tuple(files), test_weeks=args.test_weeks, val_weeks=args.val_weeks,
                                 seed=args.seed, epochs=args.epochs)
        meter = SelfEnergy()
        with meter:
            result = compare_failure_models(request)
        written = write_report(result, args.out, seed=args.seed, energy=meter.result)
    except GreenciError as exc:
        console.print(f"error: {exc}", markup=False)
        return 2
    doc = summary(result)
    t = Table(title=f"Failure prediction, shared GitHub Actions runs ({doc['nodes']:,} runs), test from "
                    f"{doc['test_start']}")
    for col in ("model", "test AUC", "test F1", "precision", "recall", "val AUC", "seconds", "energy kWh"):
        t.add_column(col, justify="left" if col == "model" else "right")
    for r in comparison_rows(result):
        t.add_row(r["model"], f"{r['test_auc']:.3f}", f"{r['test_f1']:.3f}", f"{r['precision']:.3f}",
                  f"{r['recall']:.3f}", f"{r['val_auc']:.3f}", f"{r['seconds']:.1f}", f"{r['energy_kwh']:.3g}")
    console.print(t)
    console.print(f"edges: {doc['edges']}; split: {doc['split']}", markup=False)
    console.print(f"verdict: {doc['verdict']}", markup=False)
    console.print("wrote " + ", ".join(map(str, written)), markup=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
