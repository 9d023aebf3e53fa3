"""``greenci insights failures HISTORY...``: GCN, GAT and gradient boosting flag CI failures on the job graph.

Imports only Typer, rich and the standard library at import time; the models (``greenci[ml]``) load
when the command runs, and a missing PyTorch exits 2 with the pip line that installs it.
"""

from __future__ import annotations

import math
import sys
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer
from rich.text import Text

from greenci.cli.support import console as _console
from greenci.cli.support import emit_json as _emit_json
from greenci.cli.support import finite as _finite
from greenci.cli.support import friendly as _friendly
from greenci.errors import InputError

__all__ = ["failures"]


class _Format(StrEnum):
    table = "table"
    json = "json"


@_friendly
def failures(
    history: list[Path] | None = typer.Argument(None, help="CI run histories: GHAminer CSV, GitHub REST JSON "
                                                           "(runs or jobs), Zuul builds JSON; files or folders."),
    out: Path | None = typer.Option(None, "-o", "--out", help="Folder for report.md and the PNGs."),
    models: str = typer.Option("gcn,gat,gbdt", "--models", help="Comma-separated: gcn, gat, gbdt."),
    test_weeks: int = typer.Option(8, "--test-weeks", help="Last weeks held out for the test."),
    val_weeks: int = typer.Option(4, "--val-weeks", help="Weeks before the test weeks for the threshold "
                                                         "and the epoch."),
    seed: int = typer.Option(0, help="Seed of every model and of t-SNE."),
    epochs: int = typer.Option(150, help="GNN training epochs (the best on validation is kept)."),
    same_commit_k: int = typer.Option(3, "--same-commit-k", help="Same-commit edges per run (nearest earlier runs)."),
    records: list[Path] | None = typer.Option(None, "--records", help="greenci energy/usage records (CSV/JSON) "
                                                                      "whose resource_id is a run or job id."),
    synthetic_demo: bool = typer.Option(False, "--synthetic-demo", help="No history: a labelled synthetic one."),
    output_format: _Format = typer.Option(_Format.table, "--format", help="table or json."),
) -> None:
    """Compare a GCN, a GAT and gradient boosting at flagging failed runs (time-ordered split, AUC/F1)."""
    from greenci.insights.selfenergy import SelfEnergy
    from greenci.outputs import check_folder
    from greenci.usecases.failures import FailureRequest, compare_failure_models, parse_models

    if not history and not synthetic_demo:
        raise InputError("give one or more HISTORY files or folders of CI runs, or --synthetic-demo", field="history")
    if history and synthetic_demo:
        raise InputError("give either HISTORY or --synthetic-demo, not both", field="history")
    if out is not None:
        check_folder(out, field="out")
    request = FailureRequest(history=tuple(history or ()), models=parse_models(models), test_weeks=test_weeks,
                             val_weeks=val_weeks, seed=seed, same_commit_k=same_commit_k, epochs=epochs,
                             records=tuple(records or ()))
    meter = SelfEnergy()
    with meter:
        nodes = None
        if synthetic_demo:
            from greenci.insights.failures.synthetic import synthetic_history

            nodes = synthetic_history(seed=seed)
        result = compare_failure_models(request, nodes=nodes)
        written: list[Path] = []
        if out is not None:
            from greenci.insights.failures.report import write_report

            written = write_report(result, out, seed=seed)
    energy = meter.result
    assert energy is not None
    _show(result, energy, written, output_format)


def _show(result: Any, energy: Any, written: list[Path], output_format: _Format) -> None:
    from greenci.usecases.failures import comparison_rows, summary

    doc = summary(result)
    rows = comparison_rows(result)
    if output_format is _Format.json:
        _emit_json(_finite({**doc, "models": rows, "files": [str(p) for p in written],
                            "energy_of_this_run": energy.as_dict()}))
        return
    from rich.table import Table

    console = _console()
    lab = " — SYNTHETIC" if doc["synthetic"] else ""
    sp = doc["split"]
    console.print(Text(f"Job graph{lab}: {doc['nodes']:,} runs/jobs from {doc['source']}; edges "
                       + ", ".join(f"{v:,} {k}" for k, v in doc["edges"].items())
                       + f"; train {sp['train']['weeks']} weeks ({sp['train']['failures']:,} failures of "
                       f"{sp['train']['labelled']:,}), validation {sp['val']['weeks']}, test {sp['test']['weeks']} "
                       f"weeks from {doc['test_start']} ({sp['test']['failures']:,} failures of "
                       f"{sp['test']['labelled']:,})."))
    t = Table(title=f"Failure prediction on the test weeks{lab}")
    for col in ("model", "test AUC", "test F1", "precision", "recall", "val AUC", "seconds", "energy kWh",
                "energy method"):
        t.add_column(col, justify="left" if col in ("model", "energy method") else "right")
    for r in rows:
        t.add_row(*(Text(str(v)) for v in (r["model"], _num(r["test_auc"], ".3f"), _num(r["test_f1"], ".3f"),
                                           _num(r["precision"], ".3f"), _num(r["recall"], ".3f"),
                                           _num(r["val_auc"], ".3f"), _num(r["seconds"], ".1f"),
                                           _num(r["energy_kwh"], ".3g"), r["energy_method"].split(":")[0])))
    console.print(t)
    console.print(Text(f"Verdict{lab}: {doc['verdict']}"))
    for note in doc["notes"]:
        console.print(Text(f"note: {note}"))
    if written:
        console.print(Text("wrote " + ", ".join(map(str, written))))
    sys.stdout.flush()
    console.print(Text(f"Energy of this run: {energy.describe()}"))
    console.print(Text(f"Energy method of the models: {rows[0]['energy_method']}" if rows else ""))


def _num(x: Any, spec: str) -> str:
    return format(x, spec) if isinstance(x, (int, float)) and math.isfinite(x) else "—"
