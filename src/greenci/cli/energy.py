"""``greenci measure`` and ``greenci telemetry ...``: thin Typer commands over :mod:`greenci.energy`.

Register both on the main app with one line, ``register(app)``. ``greenci measure -- CMD ARGS`` runs
the command with its own stdin/stdout/stderr, prints greenci's report to **stderr** (so the command's
output stays clean), optionally saves it (``-o run.json`` / ``-o runs.csv``, one row per run) and
the energy records (``--records FILE.csv|.parquet``), and exits with the command's exit code.

``greenci telemetry ipmi|redfish|pdu|gnocchi|ceilometer`` read infrastructure telemetry into records:
a summary table by default, ``--format csv|json`` to stdout, or ``-o FILE.csv|.parquet``.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from greenci.cli.support import friendly as _friendly
from greenci.energy.records import EnergyRecord, UsageRecord, open_sink, records_to_rows, rows_to_csv_text
from greenci.errors import InputError
from greenci.jsonsafe import dumps

__all__ = ["measure_command", "register", "telemetry_app"]


def _stderr() -> Console:
    return Console(stderr=True, soft_wrap=False, markup=False, highlight=False,
                   width=None if sys.stderr.isatty() else 160)


def _stdout() -> Console:
    return Console(soft_wrap=False, markup=False, highlight=False, width=None if sys.stdout.isatty() else 160)


# ====================================================================== measure
_MEASURE_CONTEXT = {"allow_interspersed_args": False, "ignore_unknown_options": True}


@_friendly
def measure_command(
    command: list[str] = typer.Argument(..., metavar="-- CMD [ARGS]...", help="The command to run and measure."),
    region: str | None = typer.Option(None, help="Grid zone for gCO2eq (synthetic model unless --intensity)."),
    pue: float = typer.Option(1.0, help="Power usage effectiveness of the facility (>= 1.0)."),
    output: Path | None = typer.Option(None, "-o", "--output",
                                       help="Save the report: .json (with the power profile) or .csv (a row per run)."),
    records: Path | None = typer.Option(None, "--records", help="Append energy records to a .csv or .parquet file."),
    interval_s: float = typer.Option(1.0, "--interval-s", help="Sampling interval in seconds."),
    method: str = typer.Option("auto", help="auto (RAPL when readable, else the model), rapl, or model."),
    cpu_tdp_w: float | None = typer.Option(None, "--cpu-tdp-w", help="CPU power at full load, W (default: table)."),
    idle_fraction: float = typer.Option(0.12, help="Share of the TDP drawn at idle, in the model."),
    ram_w_per_gb: float = typer.Option(0.375, "--ram-w-per-gb", help="RAM power per GB of resident memory."),
    cpu_rule: str = typer.Option("linear", "--cpu-rule", help="CPU load model: linear (TDP x (idle + (1 - idle) "
                                 "u)), codecarbon-process (TDP x u) or codecarbon-machine (TDP x (0.1 + 0.9 L^3), "
                                 "L the whole machine's load)."),
    ram_rule: str = typer.Option("per-gb", "--ram-rule", help="RAM model: per-gb (--ram-w-per-gb x resident GB), "
                                 "codecarbon-process (codecarbon's DIMM model on resident memory, >= 10 W) or "
                                 "codecarbon-machine (the same on installed RAM)."),
    intensity: list[Path] | None = typer.Option(None, "--intensity", help="Intensity files or folders for gCO2eq."),
    intensity_g_per_kwh: float | None = typer.Option(None, help="A fixed grid intensity, gCO2eq/kWh."),
    gpu: bool = typer.Option(True, "--gpu/--no-gpu", help="Measure NVIDIA GPUs through NVML when present."),
    all_gpus: bool = typer.Option(False, "--all-gpus", help="Charge every visible GPU (dedicated GPU runners)."),
    report: str = typer.Option("table", "--report", help="Report on stderr: table, json or none."),
    rapl_root: Path = typer.Option(Path("/sys/class/powercap"), hidden=True),
) -> None:
    """Run a command, measure its energy (RAPL or a power model) and emissions, keep its exit code.

    Example: greenci measure --region DE-LU -o run.json -- make test
    """
    from greenci.energy.meter import MeasureOptions
    from greenci.usecases.measure import measure_and_save

    if report not in ("table", "json", "none"):
        raise InputError(f"--report {report!r} is unknown: use table, json or none")
    options = MeasureOptions(interval_s=interval_s, method=method, rapl_root=rapl_root, cpu_tdp_w=cpu_tdp_w,
                             idle_fraction=idle_fraction, ram_w_per_gb=ram_w_per_gb, cpu_rule=cpu_rule,
                             ram_rule=ram_rule, gpu=gpu, all_gpus=all_gpus,
                             pue=pue, region=region, intensity_g_per_kwh=intensity_g_per_kwh)
    result, notes = measure_and_save(command, options, intensity_files=intensity or (), output=output,
                                     records=records)
    if report == "table":
        _stderr().print(_measure_table(result))
    if notes:
        # the files were checked before the run and still failed: the measurement goes to stderr instead
        doc = result.to_dict()
        doc["notes"] = [*notes, "the measurement is printed here instead: save it from stderr"]
        typer.echo(dumps(doc), err=True)
    elif report == "json":
        typer.echo(dumps(result.summary()), err=True)
    raise typer.Exit(result.exit_code or 0)


def _fmt_kwh(kwh: float) -> str:
    return f"{kwh * 1000:.4g} Wh" if kwh < 0.1 else f"{kwh:.4g} kWh"


def _measure_table(result: Any) -> Any:
    from greenci.report import SYNTHETIC_NOTE, key_value_table

    rows = [("command", _short(result.label, 70)), ("exit code", str(result.exit_code)),
            ("duration", f"{result.duration_s:.1f} s, {result.samples} samples"),
            ("method", result.method), ("why", _short(result.method_note, 110)),
            ("CPU", f"{_fmt_kwh(result.cpu_kwh)} ({result.cpu_seconds:.1f} CPU s; {result.cpu_tdp_w:.0f} W TDP)"),
            ("CPU figure", _short(_cpu_figure(result), 160)),
            ("RAM", f"{_fmt_kwh(result.ram_kwh)} (peak {result.peak_rss_bytes / 1e9:.2f} GB resident)")]
    if result.gpus:
        rows.append(("GPU", f"{_fmt_kwh(result.gpu_kwh)} ({', '.join(result.gpus)})"))
    rows += [("IT energy", _fmt_kwh(result.energy_kwh)),
             (f"facility energy (PUE {result.pue:.2f})", _fmt_kwh(result.facility_energy_kwh))]
    if result.emissions_g is not None:
        label = "synthetic" if result.synthetic else (result.intensity_source or "")
        rows.append(("intensity", f"{result.intensity_g_per_kwh:.0f} gCO2eq/kWh ({result.region or 'fixed'}, "
                                  f"{_short(label, 50)})"))
        rows.append(("emissions", f"{result.emissions_g:.3g} gCO2eq"))
    else:
        rows.append(("emissions", "give --region, --intensity or --intensity-g-per-kwh"))
    share = result.overhead_share
    pct = f", {100 * share:.2f} % of the command's" if math.isfinite(share) else ""
    rows.append(("sampler overhead", f"{1000 * result.sampler_cpu_s:.1f} ms CPU{pct}"))
    title = "greenci measure" + (" — SYNTHETIC intensity" if result.synthetic else "")
    return key_value_table(title, rows, caption=SYNTHETIC_NOTE if result.synthetic else None)


def _cpu_figure(result: Any) -> str:
    """Which CPU figure the run used: its basis, the rules, and where the number came from."""
    basis = getattr(result, "cpu_tdp_basis", "") or "?"
    rules = f"cpu rule {getattr(result, 'cpu_rule', 'linear')}, ram rule {getattr(result, 'ram_rule', 'per-gb')}"
    if basis == "rapl":
        return f"RAPL measured (TDP not used); {rules}"
    return f"{result.cpu_tdp_w:.3g} W, {basis}; {rules}; {result.cpu_tdp_source}"


def _short(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


# ====================================================================== telemetry
telemetry_app = typer.Typer(no_args_is_help=True,
                            help="Read IPMI, Redfish, PDU, Gnocchi and Ceilometer telemetry into records.")

_FORMAT_HELP = "Without -o: table (summary), csv or json (the records) on stdout."


def _check_output(output: Path | None, fmt: str, kind: type[EnergyRecord] | type[UsageRecord] = EnergyRecord) -> None:
    """Refuse a bad ``--format`` or ``-o`` before anything is read or fetched."""
    from greenci.energy.records import check_records_file

    if fmt not in ("table", "csv", "json"):
        raise InputError(f"--format {fmt!r} is unknown: use table, csv or json")
    if output is not None:
        check_records_file(output, field="output", kind=kind)


def _emit(records: Sequence[EnergyRecord | UsageRecord], output: Path | None, fmt: str, title: str) -> None:
    if not records:
        raise InputError(f"{title}: no records to write")
    if output is not None:
        open_sink(output).write(records)
        _stderr().print(f"wrote {len(records)} records to {output}")
        return
    if fmt == "csv":
        typer.echo(rows_to_csv_text(records), nl=False)
    elif fmt == "json":
        _names, rows = records_to_rows(records)
        typer.echo(dumps(rows))
    else:
        _stdout().print(_summary_table(records, title))


def _summary_table(records: Sequence[EnergyRecord | UsageRecord], title: str) -> Any:
    from rich.table import Table

    table = Table(title=f"{title}: {len(records)} records")
    if isinstance(records[0], EnergyRecord):
        for col in ("resource", "component", "readings", "intervals", "from", "to", "energy", "mean W"):
            table.add_column(col, justify="left" if col in ("resource", "component", "from", "to") else "right")
        groups: dict[tuple[str, str], list[EnergyRecord]] = {}
        for r in records:
            assert isinstance(r, EnergyRecord)
            groups.setdefault((r.resource_id, r.component), []).append(r)
        for (rid, comp), rs in sorted(groups.items()):
            intervals = [r for r in rs if r.is_interval]
            kwh = sum(r.energy_kwh or 0.0 for r in intervals)
            secs = sum(r.duration_s for r in intervals)
            powers = [r.power_w for r in rs if not r.is_interval and r.power_w is not None]
            mean_w = kwh * 3.6e6 / secs if secs else (sum(powers) / len(powers) if powers else math.nan)
            table.add_row(rid, comp, str(len(rs) - len(intervals)), str(len(intervals)), _t(min(r.start for r in rs)),
                          _t(max(r.end for r in rs)), _fmt_kwh(kwh) if intervals else "-",
                          f"{mean_w:.1f}" if math.isfinite(mean_w) else "-")
    else:
        for col in ("resource", "metric", "points", "from", "to", "mean", "unit", "aggregation"):
            table.add_column(col, justify="right" if col in ("points", "mean") else "left")
        ugroups: dict[tuple[str, str, str, str], list[UsageRecord]] = {}
        for r in records:
            assert isinstance(r, UsageRecord)
            ugroups.setdefault((r.resource_id, r.metric, r.unit, r.aggregation), []).append(r)
        for (rid, metric, unit, agg), us in sorted(ugroups.items()):
            table.add_row(_short(rid, 40), metric, str(len(us)), _t(min(u.start for u in us)),
                          _t(max(u.end for u in us)), f"{sum(u.value for u in us) / len(us):.4g}", unit, agg)
    return table


def _t(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%SZ")


def _energy_out(records: list[EnergyRecord], intervals: bool, max_gap_s: float | None,
                sources: Sequence[object]) -> list[EnergyRecord]:
    from greenci.energy.records import to_intervals

    if not intervals:
        return records
    out = to_intervals(records, max_gap_s=max_gap_s)
    if records and not out:
        raise InputError(f"{', '.join(map(str, sources))}: {len(records)} readings but no energy interval: --intervals "
                         "needs two readings of one resource (within --max-gap-s) or a device's own average; "
                         "leave --intervals out to see the readings")
    return out


_OUT = typer.Option(None, "-o", "--output", help="Write the records to a .csv or .parquet file.")
_FMT = typer.Option("table", "--format", help=_FORMAT_HELP)
_INTERVALS = typer.Option(False, "--intervals", help="Turn readings into energy intervals (trapezoid / meter deltas).")
_MAX_GAP = typer.Option(None, "--max-gap-s", help="With --intervals: never bridge readings further apart than this.")


@telemetry_app.command("ipmi")
@_friendly
def telemetry_ipmi(
    files: list[Path] = typer.Argument(..., help="Saved `ipmitool dcmi power reading` output ('-' for stdin)."),
    host: str | None = typer.Option(None, help="Name of the machine (default: the file's stem)."),
    at: str | None = typer.Option(None, help="Time of a single reading whose BMC clock is unset (UTC ISO 8601)."),
    intervals: bool = _INTERVALS, max_gap_s: float | None = _MAX_GAP,
    output: Path | None = _OUT, fmt: str = _FMT,
) -> None:
    """Power readings (and BMC averages) from ipmitool / FreeIPMI DCMI output."""
    from greenci.energy.ipmi import read_ipmi

    _check_output(output, fmt)
    recs = [r for f in files for r in read_ipmi(f, host=host, at=at)]
    _emit(_energy_out(recs, intervals, max_gap_s, files), output, fmt, "ipmi")


@telemetry_app.command("redfish")
@_friendly
def telemetry_redfish(
    files: list[Path] | None = typer.Argument(None, help="Saved Redfish JSON (Power, EnvironmentMetrics, ...)."),
    url: str | None = typer.Option(None, help="Read a BMC live instead: its base URL, e.g. https://10.0.0.5."),
    user: str | None = typer.Option(None, "--user", help="BMC account (live reads); its password from "
                                                          "GREENCI_REDFISH_PASSWORD."),
    password: str | None = typer.Option(None, envvar="GREENCI_REDFISH_PASSWORD", hidden=True,
                                        help="BMC password (set GREENCI_REDFISH_PASSWORD)."),
    chassis: str | None = typer.Option(None, help="One chassis id (default: every chassis; for files: from the JSON)."),
    insecure: bool = typer.Option(False, "--insecure", help="Accept the BMC's self-signed certificate."),
    at: str | None = typer.Option(None, help="Time of the readings in files (default: the file's modification time)."),
    intervals: bool = _INTERVALS, max_gap_s: float | None = _MAX_GAP,
    output: Path | None = _OUT, fmt: str = _FMT,
) -> None:
    """Power and energy from Redfish: legacy Power, or PowerSubsystem / EnvironmentMetrics / Sensors."""
    from greenci.energy.redfish import RedfishClient, read_redfish

    if bool(files) == bool(url):
        raise InputError("give saved Redfish JSON files, or --url for a live BMC (not both)")
    _check_output(output, fmt)
    if url:
        from greenci.config import load_settings

        settings = load_settings()
        with RedfishClient(url, user, password, verify=not insecure, timeout_s=settings.timeout_s,
                           retries=settings.retries) as client:
            recs = client.read_chassis(chassis) if chassis else client.read_all()
    else:
        recs = [r for f in files or [] for r in read_redfish(f, chassis=chassis, at=at)]
    _emit(_energy_out(recs, intervals, max_gap_s, files or [url]), output, fmt, "redfish")


@telemetry_app.command("pdu")
@_friendly
def telemetry_pdu(
    files: list[Path] = typer.Argument(..., help="PDU CSV exports: a time column plus watts/kW and/or kWh/Wh."),
    resource: str | None = typer.Option(None, help="Name for rows without an outlet column (default: file stem)."),
    intervals: bool = typer.Option(True, "--intervals/--readings", help="Energy intervals (default) or readings."),
    max_gap_s: float | None = _MAX_GAP,
    output: Path | None = _OUT, fmt: str = _FMT,
) -> None:
    """Energy from PDU CSV exports (meter differences, else the trapezoid of power readings)."""
    from greenci.energy.pdu import read_pdu_csv

    _check_output(output, fmt)
    recs = [r for f in files for r in read_pdu_csv(f, resource=resource)]
    _emit(_energy_out(recs, intervals, max_gap_s, files), output, fmt, "pdu")


def _keystone(auth_url: str | None, username: str | None, password: str | None, project_name: str | None,
              project_id: str | None, user_domain_name: str, project_domain_name: str) -> Any:
    from greenci.config import load_settings
    from greenci.energy.gnocchi import KeystoneAuth

    if not auth_url:
        return None
    settings = load_settings()
    return KeystoneAuth(auth_url, username or "", password or "", project_name=project_name, project_id=project_id,
                        user_domain_name=user_domain_name, project_domain_name=project_domain_name,
                        timeout_s=settings.timeout_s, retries=settings.retries)


_AUTH_URL = typer.Option(None, envvar="OS_AUTH_URL", help="Keystone URL (OS_AUTH_URL); none: no authentication.")
_USERNAME = typer.Option(None, envvar="OS_USERNAME", help="OpenStack user (OS_USERNAME).")
_PASSWORD = typer.Option(None, envvar="OS_PASSWORD", hidden=True, help="Password (set OS_PASSWORD).")
_PROJECT = typer.Option(None, envvar="OS_PROJECT_NAME", help="Project to scope to (OS_PROJECT_NAME).")
_PROJECT_ID = typer.Option(None, envvar="OS_PROJECT_ID", help="Project id instead of its name (OS_PROJECT_ID).")
_USER_DOMAIN = typer.Option("Default", envvar="OS_USER_DOMAIN_NAME", help="OS_USER_DOMAIN_NAME.")
_PROJECT_DOMAIN = typer.Option("Default", envvar="OS_PROJECT_DOMAIN_NAME", help="OS_PROJECT_DOMAIN_NAME.")
_REGION_NAME = typer.Option(None, envvar="OS_REGION_NAME", help="Catalog region (OS_REGION_NAME).")


@telemetry_app.command("gnocchi")
@_friendly
def telemetry_gnocchi(
    url: str | None = typer.Option(None, help="Gnocchi URL (default: the Keystone catalog's 'metric' endpoint)."),
    resource_type: str = typer.Option("instance", help="Gnocchi resource type."),
    metric: list[str] = typer.Option(["cpu", "memory.usage"], "--metric", help="Metric names (repeat the option)."),
    resource_id: list[str] | None = typer.Option(None, "--resource-id", help="Only these resources (repeatable)."),
    start: str | None = typer.Option(None, help="Start, UTC ISO 8601."),
    stop: str | None = typer.Option(None, help="Stop, UTC ISO 8601."),
    granularity: float | None = typer.Option(None, help="Granularity in seconds (one of the archive policy's)."),
    aggregation: str = typer.Option("mean", help="Aggregation: mean, max, rate:mean, ..."),
    to_energy: bool = typer.Option(False, "--to-energy", help="Convert cpu (ns or %) and memory (MB) into energy."),
    file: list[Path] | None = typer.Option(None, "--file", help="Saved Gnocchi bodies (measures, aggregates, a metric, "
                                                                "an archive policy): power and energy as records."),
    power_metric: list[str] | None = typer.Option(None, "--power-metric", help="Live: a power or energy metric id "
                                                                               "(repeatable), read as energy."),
    unit: str | None = typer.Option(None, "--unit", help="With --file/--power-metric: the unit (W, kW, kWh, J) when "
                                                         "the body does not say."),
    vcpus: int = typer.Option(1, help="With --to-energy: vCPUs of each instance."),
    vcpu_w: float = typer.Option(4.0, "--vcpu-w", help="With --to-energy: W per vCPU at full load."),
    auth_url: str | None = _AUTH_URL, username: str | None = _USERNAME, password: str | None = _PASSWORD,
    project_name: str | None = _PROJECT, project_id: str | None = _PROJECT_ID,
    user_domain_name: str = _USER_DOMAIN, project_domain_name: str = _PROJECT_DOMAIN,
    region_name: str | None = _REGION_NAME,
    output: Path | None = _OUT, fmt: str = _FMT,
) -> None:
    """Usage of OpenStack resources from Gnocchi (Keystone password auth), optionally as energy; power metrics."""
    from greenci.config import load_settings
    from greenci.energy.gnocchi import GnocchiClient

    if file:
        from greenci.energy.gnocchi import read_gnocchi

        _check_output(output, fmt)
        recs, policies = read_gnocchi(file, unit=unit, granularity=granularity, aggregation=aggregation,
                                      resource_id=resource_id[0] if resource_id and len(resource_id) == 1 else None)
        for policy in policies:
            _stderr().print(f"archive policy {policy.describe()}")
        if recs:
            _emit(recs, output, fmt, "gnocchi power and energy")
        return
    _check_output(output, fmt, EnergyRecord if to_energy or power_metric else UsageRecord)
    auth = _keystone(auth_url, username, password, project_name, project_id, user_domain_name, project_domain_name)
    settings = load_settings()
    with GnocchiClient(url, auth, region=region_name, timeout_s=settings.timeout_s,
                       retries=settings.retries) as client:
        if power_metric:
            _check_output(output, fmt)
            recs = [r for m in power_metric for r in client.power(m, start=start, stop=stop, granularity=granularity,
                                                                  aggregation=aggregation, unit=unit)]
            _emit(recs, output, fmt, "gnocchi power and energy")
            return
        usage = client.usage(resource_type, metric, start=start, stop=stop, granularity=granularity,
                             aggregation=aggregation, resource_ids=resource_id or ())
    if not to_energy:
        _emit(usage, output, fmt, "gnocchi")
        return
    from greenci.energy.power_model import cpu_energy_from_usage, ram_energy_from_usage

    cpu = [u for u in usage if u.unit.lower() in ("ns", "%")]
    mem = [u for u in usage if u.metric.startswith("memory")]
    energy = cpu_energy_from_usage(cpu, vcpus=vcpus, tdp_w=vcpu_w * vcpus) + ram_energy_from_usage(mem)
    _emit(energy, output, fmt, "gnocchi energy (utilisation model)")


@telemetry_app.command("ceilometer")
@_friendly
def telemetry_ceilometer(
    meter: str | None = typer.Option(None, help="Meter name, e.g. cpu, memory.usage, hardware.ipmi.node.power."),
    file: list[Path] | None = typer.Option(None, "--file", help="Saved /v2/samples or /v2/meters/<name> JSON bodies: "
                                                                "their power and energy samples as energy records."),
    intervals: bool = _INTERVALS, max_gap_s: float | None = _MAX_GAP,
    url: str | None = typer.Option(None, help="Ceilometer URL (default: the catalog's 'metering' endpoint)."),
    resource_id: str | None = typer.Option(None, "--resource-id", help="Only this resource."),
    start: str | None = typer.Option(None, help="Start, UTC ISO 8601."),
    stop: str | None = typer.Option(None, help="Stop, UTC ISO 8601."),
    limit: int | None = typer.Option(None, help="At most this many samples."),
    auth_url: str | None = _AUTH_URL, username: str | None = _USERNAME, password: str | None = _PASSWORD,
    project_name: str | None = _PROJECT, project_id: str | None = _PROJECT_ID,
    user_domain_name: str = _USER_DOMAIN, project_domain_name: str = _PROJECT_DOMAIN,
    region_name: str | None = _REGION_NAME,
    output: Path | None = _OUT, fmt: str = _FMT,
) -> None:
    """Samples of one meter from a Ceilometer v2 API (pre-Queens OpenStack), or power from saved bodies (--file)."""
    from greenci.config import load_settings
    from greenci.energy.ceilometer import CeilometerClient

    if file:
        from greenci.energy.ceilometer import read_ceilometer

        if meter or url:
            raise InputError("give --file (saved bodies) or --meter/--url (a live read), not both", field="file")
        _check_output(output, fmt)
        recs = [r for f in file for r in read_ceilometer(f)]
        _emit(_energy_out(recs, intervals, max_gap_s, file), output, fmt, "ceilometer power and energy")
        return
    if not meter:
        raise InputError("give --meter (e.g. hardware.ipmi.node.power) for a live read, or --file for saved bodies",
                         field="meter")
    _check_output(output, fmt, UsageRecord)
    auth = _keystone(auth_url, username, password, project_name, project_id, user_domain_name, project_domain_name)
    settings = load_settings()
    with CeilometerClient(url, auth, region=region_name, timeout_s=settings.timeout_s,
                          retries=settings.retries) as client:
        samples = client.samples(meter, resource_id=resource_id, start=start, stop=stop, limit=limit)
    _emit(samples, output, fmt, "ceilometer")


@telemetry_app.command("codecarbon")
@_friendly
def telemetry_codecarbon(
    files: list[Path] = typer.Argument(..., help="codecarbon emissions.csv files."),
    tz: str | None = typer.Option(None, "--tz", help="Time zone of the machine that wrote the file (codecarbon "
                                                     "writes local time without a zone); default UTC."),
    output: Path | None = _OUT, fmt: str = _FMT,
) -> None:
    """Energy by component (cpu, gpu, ram) from codecarbon's emissions.csv, one interval per row."""
    from greenci.energy.codecarbon import read_codecarbon

    _check_output(output, fmt)
    recs = [r for f in files for r in read_codecarbon(f, tz=tz)]
    _emit(recs, output, fmt, "codecarbon")


# ====================================================================== PUE from meters, attribution to jobs
from greenci.cli.telemetry_meters import telemetry_attribute, telemetry_pue  # noqa: E402  (commands kept apart)

telemetry_app.command("pue")(telemetry_pue)
telemetry_app.command("attribute")(telemetry_attribute)


# ====================================================================== registration
def register(app: typer.Typer) -> None:
    """Add ``measure`` and the ``telemetry`` group to a Typer app (the main CLI calls this once)."""
    app.command("measure", context_settings=_MEASURE_CONTEXT)(measure_command)
    app.add_typer(telemetry_app, name="telemetry")


def _standalone() -> typer.Typer:
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False, no_args_is_help=True,
                      help="greenci energy commands (standalone; normally part of `greenci`).")
    register(app)
    return app


if __name__ == "__main__":
    _standalone()(prog_name="greenci")
