"""``greenci insights control train|evaluate``: PPO for carbon-aware scheduling, against greenci's heuristics.

Imports only Typer, rich and the standard library at import time; gymnasium, torch, stable-baselines3 and
Optuna load when a command runs, and their absence exits 2 with the install line.
"""

from __future__ import annotations

from pathlib import Path

import typer

from greenci.cli.support import OutputFormat
from greenci.cli.support import console as _console
from greenci.cli.support import emit_json as _emit_json
from greenci.cli.support import finite as _finite
from greenci.cli.support import friendly as _friendly

__all__ = ["register"]

_REGIONS_HELP = "Comma-separated grid zones (default: the study's 12)."


def register(app: typer.Typer) -> None:
    """Add the ``control`` sub-group (``train``, ``evaluate``) to the ``insights`` group ``app``."""
    sub = typer.Typer(no_args_is_help=True, help="Carbon-aware control with RL: PPO vs LTS, greenci and the oracle.")
    sub.command("train")(train)
    sub.command("evaluate")(evaluate)
    app.add_typer(sub, name="control")


def _request(trace: list[Path] | None, study: bool, intensity: list[Path] | None, regions: str | None,
             **kwargs: object):  # noqa: ANN202
    from greenci.usecases.control import ControlRequest

    names = tuple(r.strip() for r in regions.split(",") if r.strip()) if regions else None
    if regions is not None and not names:
        from greenci.errors import InputError

        raise InputError("regions is empty: list grid zones separated by commas, e.g. CA-ON,DE-LU", field="regions")
    extra = {"regions": names} if names else {}
    return ControlRequest(study=study, trace=tuple(trace or ()), intensity=tuple(intensity or ()), **extra,
                          **kwargs)  # type: ignore[arg-type]


@_friendly
def train(
    trace: list[Path] | None = typer.Option(None, "--trace", help="CI run histories (any format greenci reads)."),
    study: bool = typer.Option(False, "--study", help="The study's generated runs (synthetic) instead of a trace."),
    intensity: list[Path] | None = typer.Option(None, "--intensity", help="Intensity files or folders (default: "
                                                                         "the shared data, else synthetic)."),
    regions: str | None = typer.Option(None, "--regions", help=_REGIONS_HELP),
    train_start: str = typer.Option("2022-03-01T00:00:00Z", "--train-start", help="Training span start (UTC)."),
    train_end: str = typer.Option("2023-01-01T00:00:00Z", "--train-end", help="Training span end (UTC, exclusive)."),
    days: float = typer.Option(7.0, "--days", help="Days of jobs per period."),
    runs: int | None = typer.Option(None, "--runs", help="Generated runs per period with --study."),
    timesteps: int = typer.Option(50_000, "--timesteps", help="PPO training steps (one step = one job)."),
    tune_trials: int = typer.Option(0, "--tune-trials", help="Optuna trials for PPO and greenci (0: no tuning)."),
    tune_timesteps: int = typer.Option(10_000, "--tune-timesteps", help="PPO steps per tuning trial."),
    forecast: str = typer.Option("ridge", "--forecast", help="Forecast the decisions read."),
    window_h: int = typer.Option(24, "--window-h", help="Forecast hours the agent observes."),
    seed: int = typer.Option(0, "--seed", help="Seed of the jobs, PPO and Optuna."),
    out: Path = typer.Option(..., "-o", "--out", help="Folder for ppo.zip, control.json and optuna.db."),
    output_format: OutputFormat = typer.Option(OutputFormat.table, "--format", help="table or json."),
) -> None:
    """Train PPO on the training year (optionally tune PPO and greenci with Optuna first)."""
    from greenci.outputs import check_folder
    from greenci.usecases.control import require_ml, train_control

    request = _request(trace, study, intensity, regions, train_start=train_start, train_end=train_end, days=days,
                       runs=runs, timesteps=timesteps, tune_trials=tune_trials, tune_timesteps=tune_timesteps,
                       forecast=forecast, window_h=window_h, seed=seed)
    check_folder(out, field="out")
    require_ml()
    got = train_control(request, out)
    energy = got.energy
    doc = {"model": str(got.model_path), "meta": str(got.meta_path), "optuna_storage": got.storage,
           "train_span": list(got.train_span), "mean_reward_before": got.mean_reward_before,
           "mean_reward_after": got.mean_reward_after, "tuned": got.tuned, "notes": list(got.notes),
           "energy_of_this_run": energy.as_dict() if energy is not None else None}
    if output_format is OutputFormat.json:
        _emit_json(_finite(doc))
        return
    c = _console()
    c.print(f"Trained PPO on intensity {got.train_span[0]} .. {got.train_span[1]}: mean reward per job "
            f"{got.mean_reward_before:.3f} before, {got.mean_reward_after:.3f} after.", highlight=False, markup=False)
    for name, params in got.tuned.items():
        c.print(f"tuned {name}: " + ", ".join(f"{k} = {v:.4g}" for k, v in params.items()), highlight=False,
                markup=False)
    for note in got.notes:
        c.print(f"note: {note}", highlight=False, markup=False)
    c.print(f"wrote {got.model_path}, {got.meta_path}" + (f"; Optuna study {got.storage}" if got.storage else ""),
            highlight=False, markup=False)
    if energy is not None:
        c.print(f"Energy of this run: {energy.energy_kwh:.3g} kWh ({energy.method})", highlight=False, markup=False)


@_friendly
def evaluate(
    model: Path = typer.Option(..., "--model", help="The ppo.zip written by train (control.json beside it)."),
    trace: list[Path] | None = typer.Option(None, "--trace", help="CI run histories (any format greenci reads)."),
    study: bool = typer.Option(False, "--study", help="The study's generated runs (synthetic) instead of a trace."),
    intensity: list[Path] | None = typer.Option(None, "--intensity", help="Intensity files or folders."),
    train_end: str = typer.Option("2023-01-01T00:00:00Z", "--train-end", help="End of the training span (UTC)."),
    eval_start: str = typer.Option("2023-03-01T00:00:00Z", "--eval-start", help="Held-out period start (UTC)."),
    days: float = typer.Option(7.0, "--days", help="Days of jobs in the held-out period."),
    runs: int | None = typer.Option(None, "--runs", help="Generated runs with --study."),
    seed: int = typer.Option(0, "--seed", help="Seed of the generated jobs."),
    out: Path | None = typer.Option(None, "-o", "--out", help="Folder for report.md and emissions.png."),
    output_format: OutputFormat = typer.Option(OutputFormat.table, "--format", help="table or json."),
) -> None:
    """Compare PPO with round-robin, LTS, greenci and the oracle on the held-out period."""
    from greenci.outputs import check_folder
    from greenci.usecases.control import read_meta, require_ml

    request = _request(trace, study, intensity, None, train_start="2022-03-01T00:00:00Z", train_end=train_end,
                       eval_start=eval_start, days=days, runs=runs, seed=seed)
    read_meta(model)
    if out is not None:
        check_folder(out, field="out")
    require_ml()
    from greenci.insights.control.report import HEADERS, table_rows, verdict, write_report
    from greenci.usecases.control import evaluate_control

    report = evaluate_control(request, model)
    written = [str(p) for p in write_report(report, out)] if out is not None else []
    if output_format is OutputFormat.json:
        _emit_json(_finite({**report.as_dict(), "verdict": verdict(report), "files": written}))
        return
    from rich.table import Table
    from rich.text import Text

    c = _console()
    t = Table(title=f"Held-out {report.eval_span[0]} .. {report.eval_span[1]}: {report.jobs:,} jobs{report.label()}")
    for h in HEADERS:
        t.add_column(h, justify="left" if h in ("method", "decided on") else "right")
    for row in table_rows(report):
        t.add_row(*[Text(v) for v in row])
    c.print(t)
    c.print(verdict(report), highlight=False, markup=False)
    c.print(f"Trained on {report.train_span[0]} .. {report.train_span[1]}; forecast {report.forecast}.",
            highlight=False, markup=False)
    for note in report.notes:
        c.print(f"note: {note}", highlight=False, markup=False)
    if written:
        c.print("wrote " + ", ".join(written), highlight=False, markup=False)
    e = report.energy
    if e:
        c.print(f"Energy of this run: {e['energy_kwh']:.3g} kWh ({e['method']})", highlight=False, markup=False)
