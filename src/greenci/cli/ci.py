"""``greenci ci start`` / ``greenci ci report`` / ``greenci ci status``: a CI job's energy between two steps.

Thin shells over :mod:`greenci.usecases.ci_energy` (the sampler, the integration into kWh) and
:mod:`greenci.integrations.ci_energy` (the service, ``$GITHUB_STEP_SUMMARY``, ``$GITHUB_OUTPUT``). ``report``
prints its table on stdout and exits 0, or 3 when the job could not be reported to the service (the local
report, summary and outputs are written all the same).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from greenci.cli.support import friendly as _friendly
from greenci.cli.support import print_error

__all__ = ["register"]

#: exit status of ``ci report`` when the measurement was written but the service refused it or was unreachable
SERVICE_FAILED_EXIT = 3

_STATE = typer.Option(None, "--state-dir", show_default=False,
                      help="Folder of the sampler's state (default: $RUNNER_TEMP/greenci-ci, else ./.greenci-ci).")


def _state_dir(state_dir: Path | None) -> Path:
    from greenci.usecases.ci_energy import default_state_dir

    return state_dir if state_dir is not None else default_state_dir()


def ci_start(
    state_dir: Path | None = _STATE,
    interval_s: float = typer.Option(1.0, "--interval-s", help="Sampling interval in seconds."),
    method: str = typer.Option("auto", help="auto (RAPL when readable, else the model), rapl, or model."),
    cpu_tdp_w: float | None = typer.Option(None, "--cpu-tdp-w", help="CPU power at full load, W (default: table)."),
    idle_fraction: float = typer.Option(0.12, help="Share of the TDP drawn at idle, in the model."),
    ram_w_per_gb: float = typer.Option(0.375, "--ram-w-per-gb", help="RAM power per GB of used memory."),
    restart: bool = typer.Option(False, "--restart", help="Stop a sampler already running there and start anew."),
    rapl_root: Path = typer.Option(Path("/sys/class/powercap"), hidden=True),
) -> None:
    """Start measuring this job's energy in the background (the whole machine) until `greenci ci report`.

    Example (an early step): greenci ci start
    """
    from greenci.energy.meter import MeasureOptions
    from greenci.usecases.ci_energy import start_sampler

    where = _state_dir(state_dir)
    options = MeasureOptions(interval_s=interval_s, method=method, rapl_root=rapl_root, cpu_tdp_w=cpu_tdp_w,
                             idle_fraction=idle_fraction, ram_w_per_gb=ram_w_per_gb, gpu=False)
    state = start_sampler(where, options, restart=restart)
    kind = "measured with RAPL" if state.method == "rapl" else "modelled (utilisation model)"
    typer.echo(f"greenci ci: sampling every {state.interval_s:g} s in {where} (pid {state.pid}), energy {kind}: "
               f"{state.method_note}")


def ci_report(
    state_dir: Path | None = _STATE,
    pue: float = typer.Option(1.0, help="Power usage effectiveness of the facility (>= 1.0)."),
    region: str | None = typer.Option(None, help="Grid zone for gCO2eq (synthetic model unless --intensity)."),
    intensity: list[Path] | None = typer.Option(None, "--intensity", help="Intensity files or folders for gCO2eq."),
    intensity_g_per_kwh: float | None = typer.Option(None, help="A fixed grid intensity, gCO2eq/kWh."),
    service: str | None = typer.Option(None, "--service", envvar="GREENCI_SERVICE_URL", show_default=False,
                                       help="Report the job to this scheduler service (GREENCI_SERVICE_URL)."),
    token: str | None = typer.Option(None, "--token", envvar="GREENCI_SERVICE_TOKEN", show_default=False,
                                     help="The service's API token (GREENCI_SERVICE_TOKEN)."),
    job_id: str | None = typer.Option(None, "--job-id", envvar="GREENCI_JOB", show_default=False,
                                      help="The job's id at the service (GREENCI_JOB)."),
    fmt: str = typer.Option("table", "--format", help="table or json on stdout."),
    attribution: Path | None = typer.Option(None, "--attribution", show_default=False,
                                            help="Attribution records (greenci telemetry attribute -o FILE): the "
                                                 "job's share of its node's metered energy is sent to the service."),
) -> None:
    """Stop the sampler, print the job's energy and emissions, write the GitHub summary and outputs.

    With --service and --job-id the job is reported started (at the start time) and completed with the
    measured kWh; the service's actual vs predicted gCO2eq is shown. Exit 3 when that reporting failed.

    Example (a late step, `if: always()`): greenci ci report --region DE-LU
    """
    from greenci.energy.meter import MeasureOptions
    from greenci.errors import InputError
    from greenci.integrations.ci_energy import ServiceTarget, report

    if fmt not in ("table", "json"):
        raise InputError(f"--format {fmt!r} is unknown: use table or json")
    target = ServiceTarget.from_options(service, token, job_id)
    attributed = None
    if attribution is not None:
        from greenci.energy.attribution import job_energy_kwh, read_attribution

        if target is None:
            raise InputError("--attribution sends the job's metered energy to the service: give --service, --token "
                             "and --job-id too", field="attribution")
        attributed = job_energy_kwh(read_attribution(attribution), target.job_id)
    options = MeasureOptions(pue=pue, region=region, intensity_g_per_kwh=intensity_g_per_kwh, gpu=False)
    rep = report(_state_dir(state_dir), options, intensity_files=intensity or (), target=target,
                 attributed_kwh=attributed)
    if fmt == "json":
        from greenci.jsonsafe import dumps

        typer.echo(dumps({**rep.result.summary(), "average_power_w": rep.average_power_w,
                          "peak_power_w": rep.peak_power_w, "sampler": rep.stop.note, "job": rep.job,
                          "service_error": rep.service_error, "attributed_kwh": attributed}))
    else:
        from greenci.cli.support import console

        console().print(_table(rep))
    if rep.stop.died:
        print_error(rep.stop.note)
    for note in rep.notes:
        print_error(note)
    if rep.service_error:
        print_error(f"the job was not reported to the service: {rep.service_error} (the local report is written)")
        raise typer.Exit(SERVICE_FAILED_EXIT)


def _table(rep: Any) -> Any:
    from greenci.integrations.ci_energy import SYNTHETIC, measured_label
    from greenci.report import key_value_table

    r = rep.result
    rows = [("duration", f"{r.duration_s:.1f} s, {r.samples} samples every {r.interval_s:g} s"),
            ("method", measured_label(r)), ("why", r.method_note),
            ("IT energy", f"{r.energy_kwh * 1000:.4g} Wh"),
            (f"facility energy (PUE {r.pue:.2f})", f"{r.facility_energy_kwh * 1000:.4g} Wh"),
            ("average power", f"{rep.average_power_w:.1f} W"), ("peak power", f"{rep.peak_power_w:.1f} W")]
    if r.emissions_g is not None:
        source = SYNTHETIC if r.synthetic else (r.intensity_source or "")
        where = "a fixed value given" if source == "fixed" else f"{r.region}; {source}"
        rows += [("intensity", f"{r.intensity_g_per_kwh:.0f} gCO2eq/kWh ({where})"),
                 ("emissions", f"{r.emissions_g:.3g} gCO2eq")]
    else:
        rows.append(("emissions", "give --intensity-g-per-kwh, --intensity or --region"))
    actual = rep.actual
    if actual is not None:
        rows += [("service job", f"{rep.job.get('id')} {rep.job.get('status')}"),
                 ("predicted (service)", _g(actual.get("predicted_g"))),
                 ("actual (service)", _g(actual.get("actual_g")))]
        if actual.get("note"):
            rows.append(("service note", str(actual["note"])))
    if rep.service_error:
        rows.append(("service", "reporting FAILED"))
    if rep.stop.died:
        rows.append(("sampler", "DIED before report: partial measurement"))
    title = "greenci ci report" + (" — energy MODELLED" if r.method != "rapl" else " — energy measured (RAPL)")
    return key_value_table(title, rows, caption=SYNTHETIC if r.synthetic else None)


def _g(value: Any) -> str:
    return "unknown" if value is None else f"{float(value):.3g} gCO2eq"


def ci_status(state_dir: Path | None = _STATE) -> None:
    """Whether a sampler runs in the state folder, since when, and how many samples it took."""
    from greenci.usecases.ci_energy import SAMPLES_FILE, read_state, sampler_alive

    where = _state_dir(state_dir)
    state = read_state(where)
    try:
        n = max((where / SAMPLES_FILE).read_bytes().count(b"\n") - 1, 0)
    except OSError:
        n = 0
    alive = sampler_alive(state.pid)
    typer.echo(f"{where}: sampler pid {state.pid} {'running' if alive else 'not running'}, {n} samples, "
               f"method {state.method}")


def register(app: typer.Typer) -> None:
    """Add the ``ci`` group (``start``, ``report``, ``status``) to ``app``."""
    ci = typer.Typer(no_args_is_help=True, help="A CI job's energy between two steps (start early, report late).")
    ci.command("start")(_friendly(ci_start))
    ci.command("report")(_friendly(ci_report))
    ci.command("status")(_friendly(ci_status))
    app.add_typer(ci, name="ci")
