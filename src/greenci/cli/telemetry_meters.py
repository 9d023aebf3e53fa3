"""``greenci telemetry pue`` and ``greenci telemetry attribute``: PUE from meters, a node's power split over jobs.

Thin commands over :mod:`greenci.energy.pue` and :mod:`greenci.energy.attribution`, registered on the
``telemetry`` group by :mod:`greenci.cli.energy`. Both read greenci records files (what ``greenci telemetry
ipmi|redfish|pdu|... -o FILE`` writes), so any reader's output can be a facility, IT or node series.
"""

from __future__ import annotations

import csv
import io
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from greenci.cli.support import friendly as _friendly
from greenci.errors import InputError
from greenci.jsonsafe import dumps

__all__ = ["telemetry_attribute", "telemetry_pue"]


def _console(stderr: bool = False) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    return Console(stderr=stderr, soft_wrap=False, markup=False, highlight=False,
                   width=None if stream.isatty() else 160)


def _energy_records(files: Sequence[Path], field: str) -> list[Any]:
    from greenci.energy.records import EnergyRecord, read_records

    out = []
    for f in files:
        recs = read_records(f)
        if any(not isinstance(r, EnergyRecord) for r in recs):
            raise InputError(f"--{field} {f}: holds usage records, not energy: give the file a telemetry command "
                             "wrote with -o from power or energy readings", field=field)
        out += recs
    return out


def _usage_records(files: Sequence[Path]) -> list[Any]:
    from greenci.energy.records import UsageRecord, read_records

    out = []
    for f in files:
        recs = read_records(f)
        if any(not isinstance(r, UsageRecord) for r in recs):
            raise InputError(f"--usage {f}: holds energy records, not usage: give the jobs' CPU time (usage records "
                             "of cpu in ns, us, ms or s, one resource id per job)", field="usage")
        out += recs
    return out


def _fmt_kwh(kwh: float) -> str:
    return f"{kwh * 1000:.4g} Wh" if abs(kwh) < 0.1 else f"{kwh:.4g} kWh"


@_friendly
def telemetry_pue(
    facility: list[Path] = typer.Option(..., "--facility", help="Records files of the facility (or mains) meters."),
    it: list[Path] = typer.Option(..., "--it", help="Records files of the IT meters (it, total, psu, outlet, ...)."),
    step_s: float | None = typer.Option(None, "--step-s", help="Interval length, s (default: the coarser series' "
                                                               "step)."),
    noise: float = typer.Option(0.02, help="Meters' combined accuracy: a PUE below 1 - noise is flagged."),
    max_gap_s: float | None = typer.Option(None, "--max-gap-s", help="Never bridge readings further apart than this."),
    output: Path | None = typer.Option(None, "-o", "--output", help="Write the per-interval PUE to .csv or .json."),
    fmt: str = typer.Option("table", "--format", help="Without -o: table, csv or json on stdout."),
) -> None:
    """PUE per interval = facility kWh / IT kWh, with gaps, IT = 0 and PUE < 1 flagged (never filled or clamped)."""
    from greenci.energy.pue import STATUSES, metered_pue
    from greenci.outputs import check_file, write_text

    if fmt not in ("table", "csv", "json"):
        raise InputError(f"--format {fmt!r} is unknown: use table, csv or json", field="format")
    if output is not None:
        check_file(output, field="output", suffixes=(".csv", ".json"))
    series = metered_pue(_energy_records(facility, "facility"), _energy_records(it, "it"), step_s=step_s,
                         noise=noise, max_gap_s=max_gap_s)
    rows = series.rows()
    as_json = output.suffix.lower() == ".json" if output is not None else fmt == "json"
    if output is not None or fmt != "table":
        text = dumps({"label": series.label, "overall_pue": series.overall_pue, "counts": series.counts(),
                      "intervals": rows}) + "\n" if as_json else _csv(rows)
        if output is not None:
            write_text(output, text)
            _console(stderr=True).print(f"wrote {len(rows)} intervals to {output} ({series.label})")
        else:
            typer.echo(text, nl=False)
        return
    from rich.table import Table

    table = Table(title=f"PUE per interval ({series.label}, {series.grid.step_s:g} s intervals)")
    for col in ("start", "facility", "IT", "PUE", "status"):
        table.add_column(col, justify="left" if col in ("start", "status") else "right")
    for r in rows:
        table.add_row(r["start"], _fmt_kwh(r["facility_kwh"]), _fmt_kwh(r["it_kwh"]),
                      "-" if r["pue"] is None else f"{r['pue']:.3f}", r["status"])
    out = _console()
    out.print(table)
    overall = series.overall_pue
    out.print(f"overall PUE over the usable intervals: {overall:.3f}" if math.isfinite(overall)
              else "no usable interval: no PUE")
    for status, n in series.counts().items():
        if status != "ok":
            out.print(f"{n} interval(s) {status}: {STATUSES[status]}")


def _csv(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    if rows:
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return buf.getvalue()


@_friendly
def telemetry_attribute(
    node: list[Path] = typer.Option(..., "--node", help="Records files of the node's power (total, PSUs or outlets)."),
    usage: list[Path] = typer.Option(..., "--usage", help="Records files of the jobs' CPU time (usage records, "
                                                          "one resource id per job)."),
    idle_w: float | None = typer.Option(None, "--idle-w", help="The node's idle power, W (default: estimated)."),
    idle_percentile: float = typer.Option(5.0, "--idle-percentile", help="Without --idle-w: this percentile of the "
                                                                         "node's power is its idle power."),
    step_s: float | None = typer.Option(None, "--step-s", help="Interval length, s (default: the coarser series' "
                                                               "step)."),
    metric: str = typer.Option("cpu", help="The usage metric that holds CPU time (ns, us, ms or s)."),
    max_gap_s: float | None = typer.Option(None, "--max-gap-s", help="Never bridge readings further apart than this."),
    pue: float | None = typer.Option(None, "--pue", help="A constant PUE (labelled assumed); with --facility/--it: "
                                                         "the fallback where the meters have gaps."),
    facility: list[Path] | None = typer.Option(None, "--facility", help="Facility meter records: metered PUE."),
    it: list[Path] | None = typer.Option(None, "--it", help="IT meter records (with --facility)."),
    output: Path | None = typer.Option(None, "-o", "--output", help="Write the attribution records (.csv or "
                                                                    ".parquet), one per job and interval."),
    fmt: str = typer.Option("table", "--format", help="table, or json (per-job totals, flags) on stdout."),
) -> None:
    """Split a node's energy over the CI jobs on it: idle by wall time, dynamic by CPU time; parts sum to the node."""
    from greenci.energy.attribution import attribute, write_attribution
    from greenci.energy.pue import ConstantPue, facility_kwh, metered_pue
    from greenci.outputs import check_file

    if fmt not in ("table", "json"):
        raise InputError(f"--format {fmt!r} is unknown: use table or json", field="format")
    if bool(facility) != bool(it):
        raise InputError("a metered PUE needs both --facility and --it", field=("facility", "it"))
    if output is not None:
        check_file(output, field="output", suffixes=(".csv", ".parquet"))
    constant = ConstantPue(pue) if pue is not None else None
    result = attribute(_energy_records(node, "node"), _usage_records(usage), idle_w=idle_w,
                       idle_percentile=idle_percentile, step_s=step_s, metric=metric, max_gap_s=max_gap_s)
    jobs = result.job_kwh()
    fac: dict[str, float] = {}
    label = ""
    if facility and it:
        basis: Any = metered_pue(_energy_records(facility, "facility"), _energy_records(it, "it"),
                                 max_gap_s=max_gap_s)
    else:
        basis = constant
    if basis is not None:
        recs = [r for r in result.records if r.job_id in jobs]
        charged = facility_kwh(basis, [r.start for r in recs], [r.end for r in recs], [r.energy_kwh for r in recs],
                               fallback=constant if basis is not constant else None)
        label = charged.label
        for r, f in zip(recs, charged.facility_kwh.tolist(), strict=True):
            fac[r.job_id] = fac.get(r.job_id, 0.0) + f
    if output is not None:
        write_attribution(result.records, output)
        _console(stderr=True).print(f"wrote {len(result.records)} attribution records to {output}")
    if fmt == "json":
        typer.echo(dumps({"node": result.node, "node_method": result.node_method, "idle_rule": result.idle_rule,
                          "node_kwh": result.node_kwh, "measured_kwh": jobs, "facility_kwh": fac or None,
                          "pue": label or None, "unattributed_kwh": result.unattributed_kwh(),
                          "flags": list(result.flags)}))
        return
    from rich.table import Table

    per: dict[str, list[float]] = {}
    for r in result.records:
        v = per.setdefault(r.job_id, [0.0, 0.0, 0.0, 0.0, 0.0])
        for i, x in enumerate((r.energy_kwh, r.idle_kwh, r.dynamic_kwh, r.cpu_s, r.wall_s)):
            v[i] += x
    table = Table(title=f"{result.node}: {_fmt_kwh(result.node_kwh)} split over {len(jobs)} job(s)",
                  caption=f"{result.node_method}; {result.idle_rule}" + (f"; {label}" if label else ""))
    cols = ["job", "IT energy", "idle", "dynamic", "CPU s", "wall s"] + (["facility energy"] if fac else [])
    for col in cols:
        table.add_column(col, justify="left" if col == "job" else "right")
    for job, v in sorted(per.items()):
        extra = [_fmt_kwh(fac[job]) if job in fac else "-"] if fac else []
        table.add_row(job, _fmt_kwh(v[0]), _fmt_kwh(v[1]), _fmt_kwh(v[2]), f"{v[3]:.1f}", f"{v[4]:.0f}", *extra)
    out = _console()
    out.print(table)
    for flag in result.flags:
        out.print(f"flag: {flag}")
