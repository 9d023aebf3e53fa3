"""The ``greenci`` command line: a thin shell over the core (Typer + rich).

Errors from greenci (``GreenciError``) print as one line on stderr, without a traceback, and exit
with the error's own code; everything else is a bug and keeps its traceback.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import typer

from greenci.cli.support import OutputFormat
from greenci.cli.support import Progress as _Progress
from greenci.cli.support import clean as _clean
from greenci.cli.support import console as _console
from greenci.cli.support import emit_json as _emit_json
from greenci.cli.support import friendly as _friendly
from greenci.cli.support import int_list as _int_list
from greenci.cli.support import read_series as _read_series

PLOT_SUFFIXES = (".png", ".svg", ".pdf")
intensity_app = typer.Typer(no_args_is_help=True, help="Carbon-intensity series.")
forecast_app = typer.Typer(no_args_is_help=True, help="Carbon-intensity forecasts.")


def register(app: typer.Typer) -> None:
    """Add the demo (also the default with no command), ``intensity``, ``footprint`` and ``forecast``."""
    app.callback(invoke_without_command=True)(_root)
    app.command()(_friendly(demo))
    intensity_app.command("summary")(_friendly(intensity_summary))
    intensity_app.command("plot")(_friendly(intensity_plot))
    app.add_typer(intensity_app, name="intensity")
    app.command()(_friendly(footprint))
    forecast_app.command("evaluate")(_friendly(forecast_evaluate))
    app.add_typer(forecast_app, name="forecast")


# ------------------------------------------------------------------------------------------ demo
def _root(ctx: typer.Context) -> None:
    """With no command, run the demo on the built-in synthetic grid."""
    if ctx.invoked_subcommand is None:
        _friendly(_run_demo)()


def demo(
    hours: float = typer.Option(72, help="Length of the synthetic forecast, in hours."),
    job_duration: str = typer.Option("2h", "--duration", help="Duration of the example job (e.g. 90m, 2h)."),
    energy_kwh: float = typer.Option(1.0, help="Energy of the example job, in kWh."),
    seed: int = typer.Option(0, help="Seed of the synthetic model."),
) -> None:
    """Describe the built-in synthetic grid and place one example job on it (no data needed)."""
    _run_demo(hours, job_duration, energy_kwh, seed)


def _run_demo(hours: float = 72, job_duration: str = "2h", energy_kwh: float = 1.0, seed: int = 0) -> None:
    from greenci.report import SYNTHETIC_NOTE, key_value_table, summary_table
    from greenci.units import parse_duration_s
    from greenci.usecases.intensity import demo as run_demo

    d = run_demo(hours, parse_duration_s(job_duration, field="duration"), energy_kwh, seed)
    console = _console()
    console.print(summary_table(d.summaries, synthetic=True))
    rows = [
        ("job", f"{d.energy_kwh:g} kWh over {d.duration_s / 3600:g} h"),
        ("run now, dirtiest region", f"{d.dirtiest_now[0]}: {d.dirtiest_now[1]:.0f} g"),
        ("run now, cleanest region", f"{d.cleanest_now[0]}: {d.cleanest_now[1]:.0f} g"),
        ("best start and region", f"{d.best[0]} at {d.best[1][:16]}Z: {d.best[2]:.0f} g"),
    ]
    console.print(key_value_table("Example job — SYNTHETIC", rows, caption=SYNTHETIC_NOTE))


# ------------------------------------------------------------------------------------------ intensity
def intensity_summary(
    paths: list[Path] | None = typer.Argument(None, help="Intensity files or folders; none: the synthetic model."),
    output_format: OutputFormat = typer.Option(OutputFormat.table, "--format", help="table or json."),
    column: str | None = typer.Option(None, help="For Electricity Maps exports: 'direct' (default) or 'lca'."),
) -> None:
    """Per region: span, step, mean, min, max, share of gaps and the greenest hours of the day."""
    from greenci.report import summary_json, summary_table
    from greenci.usecases.intensity import describe

    d = describe(_read_series(paths, column=column) if paths else None)
    if output_format is OutputFormat.json:
        doc = summary_json(d.summaries, d.sources, d.synthetic)
        for row in doc["regions"]:
            for k in ("mean_g_per_kwh", "min_g_per_kwh", "max_g_per_kwh"):
                row[k] = _clean(row[k])
        _emit_json(doc)
    else:
        _console().print(summary_table(d.summaries, d.synthetic))


def intensity_plot(
    paths: list[Path] | None = typer.Argument(None, help="Intensity files or folders; none: the synthetic model."),
    output: Path = typer.Option(..., "-o", "--output", help="PNG file to write (or .svg, .pdf)."),
    start: str | None = typer.Option(None, help="First time to plot (UTC, ISO 8601)."),
    end: str | None = typer.Option(None, help="End of the plot (UTC, exclusive)."),
    column: str | None = typer.Option(None, help="For Electricity Maps exports: 'direct' (default) or 'lca'."),
) -> None:
    """Plot intensity series (one line per region) to a PNG file (or .svg, .pdf)."""
    from greenci.grid import IntensityGrid
    from greenci.outputs import check_file
    from greenci.report import plot_grid

    check_file(output, field="-o", suffixes=PLOT_SUFFIXES)
    if paths:
        grid = IntensityGrid.from_series(_read_series(paths, column=column), span="union")
    else:
        from greenci.synthetic import synthetic_grid

        grid = synthetic_grid()
    if start or end:
        grid = grid.between(start, end)
    plot_grid(grid, output)
    typer.echo(f"wrote {output}" + (" (synthetic data)" if grid.synthetic else ""))


# ------------------------------------------------------------------------------------------ footprint
def footprint(
    energy_kwh: float = typer.Option(..., help="IT energy of the work, in kWh."),
    intensity_g_per_kwh: float | None = typer.Option(None, help="A fixed grid intensity, gCO2eq/kWh."),
    region: str | None = typer.Option(None, help="Grid zone, e.g. DE-LU (with --source or the synthetic model)."),
    at: str | None = typer.Option(None, help="Start of the work, UTC ISO 8601 (default: now)."),
    source: list[str] | None = typer.Option(
        None, help="Intensity files/folders, an API (electricitymaps, watttime, ukgrid, carbon-aware-sdk) "
                   "or 'synthetic' (the default with --region)."),
    duration: str = typer.Option("1h", help="How long the work runs (e.g. 30m, 2h)."),
    pue: float = typer.Option(1.0, help="Power usage effectiveness of the facility (>= 1.0)."),
    best_within_h: float = typer.Option(24.0, "--best-within-h", help="Search the best start in the next N hours."),
    output_format: OutputFormat = typer.Option(OutputFormat.table, "--format", help="table or json."),
) -> None:
    """Energy, facility energy and emissions of some work; with a series, also its best start."""
    from greenci.usecases.footprint import footprint_report
    from greenci.usecases.inputs import footprint_source

    doc = footprint_report(
        energy_kwh=energy_kwh, intensity_g_per_kwh=intensity_g_per_kwh, region=region, at=at, duration=duration,
        pue_value=pue, best_within_h=best_within_h,
        intensity=footprint_source(source or [], region, read_series=_read_series)
        if intensity_g_per_kwh is None and region else None,
    )
    if output_format is OutputFormat.json:
        _emit_json(doc)
        return
    from greenci.report import SYNTHETIC_NOTE, key_value_table

    rows = [("energy", f"{doc['energy_kwh']:.4g} kWh"),
            ("facility energy (PUE {:.2f})".format(doc["pue"]), f"{doc['facility_energy_kwh']:.4g} kWh"),
            ("intensity", f"{doc['intensity_g_per_kwh']:.1f} gCO2eq/kWh ({doc['signal']})"),
            ("emissions", f"{doc['emissions_g']:.1f} gCO2eq")]
    if doc.get("region"):
        rows.insert(0, ("region, start", f"{doc['region']}, {doc['at']}"))
    best = doc.get("best_start")
    if best:
        rows.append((f"best start in {best_within_h:g} h", f"{best['at']} ({best['emissions_g']:.1f} g, "
                                                          f"saves {100 * best['saving_share']:.1f} %)"))
    _console().print(key_value_table("Footprint" + (" — SYNTHETIC" if doc.get("synthetic") else ""), rows,
                                     caption=SYNTHETIC_NOTE if doc.get("synthetic") else None))


# ------------------------------------------------------------------------------------------ forecast
def forecast_evaluate(
    paths: list[Path] | None = typer.Argument(
        None, help="Intensity files or folders (default: the 2022-2023 Electricity Maps files in ../shared)."),
    models: str = typer.Option("persistence,seasonal-naive,ridge", help="Comma-separated model names."),
    horizons: str = typer.Option("1,6,12,24,48", help="Comma-separated horizons in hours."),
    issue_every_h: int = typer.Option(24, help="Issue a forecast every N hours."),
    per_region: bool = typer.Option(False, "--per-region", help="Show every region, not only the mean."),
    output_format: OutputFormat = typer.Option(OutputFormat.table, "--format", help="table or json."),
) -> None:
    """MAE and MAPE of each forecast model per region and horizon, issued only on past data."""
    from greenci.usecases.intensity import evaluate_forecasts

    model_names = [m.strip() for m in models.split(",") if m.strip()]
    horizon_list = _int_list(horizons, "--horizons")
    bar = _Progress("evaluating forecasts", 1)
    try:
        ev = evaluate_forecasts(_read_series(paths) if paths else None, model_names, horizon_list, issue_every_h,
                                progress=lambda done, total: bar.update(done, total))
    finally:
        bar.close()
    grid, scores = ev.grid, ev.scores
    mean = [{"model": m.model, "horizon_h": m.horizon_h, "mae_g_per_kwh": _clean(m.mae_g_per_kwh),
             "mape_pct": _clean(m.mape_pct), "n": m.n} for m in ev.mean]
    if output_format is OutputFormat.json:
        _emit_json({
            "span": {"start": str(grid.start) + "Z", "end": str(grid.end) + "Z", "step_s": grid.step_s},
            "regions": list(grid.regions), "synthetic": grid.synthetic,
            "mean": mean,
            "scores": [{"region": s.region, "model": s.model, "horizon_h": s.horizon_h,
                        "mae_g_per_kwh": _clean(s.mae_g_per_kwh), "mape_pct": _clean(s.mape_pct), "n": s.n}
                       for s in scores],
        })
        return
    from rich.table import Table

    console = _console()
    rows: Iterable = scores if per_region else mean
    table = Table(title=f"Forecast error, {len(grid.regions)} regions, {str(grid.start)[:10]} .. "
                        f"{str(grid.end)[:10]}" + (" — SYNTHETIC" if grid.synthetic else ""))
    for col in (["region"] if per_region else []) + ["model", "horizon h", "MAE g/kWh", "MAPE %", "n"]:
        table.add_column(col, justify="left" if col in ("region", "model") else "right")
    for r in rows:
        d = r if isinstance(r, dict) else {"region": r.region, "model": r.model, "horizon_h": r.horizon_h,
                                           "mae_g_per_kwh": r.mae_g_per_kwh, "mape_pct": r.mape_pct, "n": r.n}
        table.add_row(*([d["region"]] if per_region else []), d["model"], str(d["horizon_h"]),
                      _number(d["mae_g_per_kwh"]), _number(d["mape_pct"]), str(d["n"]))
    console.print(table)


def _number(x: float | None) -> str:
    """One decimal, or ``-`` where there is no value (no forecast could be scored)."""
    return "-" if x is None or not np.isfinite(x) else f"{x:.1f}"
