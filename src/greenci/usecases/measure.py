"""Measure a command: what ``greenci measure`` calls. Intensity files are read here, at the edge, so the
meter takes a grid in and never reads a file (DESIGN.md: measurement takes intensity in).

A measured command runs once and cannot be run again, so its result is never lost to an output file:
:func:`check_outputs` refuses a bad report or records path *before* the command starts, and
:func:`measure_and_save` writes them after it, turning a write that still fails (the folder was removed
meanwhile, the disk is full) into a note next to the result instead of an exception.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from greenci.energy.meter import SUMMARY_FIELDS, MeasureOptions, MeasureResult, run_measured
from greenci.energy.records import RecordSink, check_records_file, open_sink
from greenci.errors import GreenciError, InputError
from greenci.grid import IntensityGrid
from greenci.jsonsafe import dumps, finite
from greenci.outputs import append_line, check_file, write_text

__all__ = ["REPORT_SUFFIXES", "check_outputs", "intensity_for", "measure_and_save", "measure_command",
           "save_report"]

#: a report is saved as JSON (one run, with its power profile) or CSV (a row per run, appended)
REPORT_SUFFIXES = (".json", ".csv")


def intensity_for(files: Sequence[str | os.PathLike[str]], region: str | None) -> IntensityGrid:
    """The grid of one region from intensity files (the only region they hold when ``region`` is None)."""
    from greenci.sources import read_intensity

    series = read_intensity(list(files))
    regions = sorted({s.region for s in series})
    if region is None:
        if len(regions) != 1:
            raise InputError(f"the intensity files hold regions {', '.join(regions)}: choose one with region",
                             field="region")
        region = regions[0]
    chosen = [s for s in series if s.region == region]
    if not chosen:
        raise InputError(f"region {region!r} is not in the intensity files: they hold {', '.join(regions)}",
                         field="region")
    return IntensityGrid.from_series(chosen)


def measure_command(command: Sequence[str], options: MeasureOptions | None = None, *,
                    intensity_files: Sequence[str | os.PathLike[str]] = (),
                    sink: RecordSink | None = None) -> MeasureResult:
    """Run and measure ``command``; with ``intensity_files`` its emissions use their intensity over the run."""
    return run_measured(command, with_intensity_files(options or MeasureOptions(), intensity_files), sink=sink)


def with_intensity_files(opts: MeasureOptions, files: Sequence[str | os.PathLike[str]]) -> MeasureOptions:
    """``opts`` whose emissions use the intensity of ``files`` over the run (none given: ``opts`` as is)."""
    if not files:
        return opts
    if opts.intensity_g_per_kwh is not None:
        raise InputError("give either intensity_g_per_kwh or intensity files, not both",
                         field=("intensity_g_per_kwh", "intensity"))
    return replace(opts, intensity=intensity_for(files, opts.region))


# ====================================================================== outputs
def _csv_columns(path: Path) -> list[str]:
    with path.open(newline="", encoding="utf-8", errors="replace") as fh:
        first = fh.readline(65536)
    return next(csv.reader([first]), []) if first.strip() else []


def check_outputs(output: Path | None = None, records: Path | None = None) -> None:
    """Refuse, before anything runs, a report path (``output``) or records path that cannot be written.

    The suffix, a writable place, and an existing CSV report's or records file's columns are checked.
    """
    if output is not None:
        output = check_file(Path(output), field="output", suffixes=REPORT_SUFFIXES)
        if output.suffix.lower() == ".csv" and output.is_file() and output.stat().st_size > 0:
            columns = _csv_columns(output)
            if columns != list(SUMMARY_FIELDS):
                raise InputError(f"output {output}: its columns ({', '.join(columns[:6])}{', ...' if columns else ''})"
                                 " are not greenci measure's: write the report to another file", field="output")
    if records is not None:
        check_records_file(Path(records), field="records")
    if output is not None and records is not None and Path(output).resolve() == Path(records).resolve():
        raise InputError(f"records {records} is also the report file: give them different files", field="records")


def save_report(result: MeasureResult, output: Path) -> None:
    """The report to ``output``: ``.json`` written whole (temporary name + rename), ``.csv`` one row appended.

    A CSV row goes in one ``O_APPEND`` write under a header that must be greenci measure's: the rows
    already there are never rewritten, and runs appending at once do not interleave.
    """
    output = Path(output)
    if output.suffix.lower() == ".json":
        write_text(output, dumps(result.to_dict()) + "\n")
        return
    row = finite(result.summary())
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(SUMMARY_FIELDS))
    exists = output.is_file() and output.stat().st_size > 0
    if not exists:
        writer.writeheader()
        writer.writerow(row)
        write_text(output, buf.getvalue())
        return
    if _csv_columns(output) != list(SUMMARY_FIELDS):
        raise InputError(f"output {output}: its columns differ from greenci measure's: write to another file",
                         field="output")
    writer.writerow(row)
    with output.open("rb") as fh:
        fh.seek(-1, os.SEEK_END)
        newline = fh.read(1) in (b"\n", b"\r")
    append_line(output, buf.getvalue() if newline else "\r\n" + buf.getvalue())


def _why(exc: BaseException) -> str:
    if isinstance(exc, OSError):
        return f"{exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else "")
    return str(exc)


def measure_and_save(command: Sequence[str], options: MeasureOptions | None = None, *,
                     intensity_files: Sequence[str | os.PathLike[str]] = (), output: Path | None = None,
                     records: Path | None = None) -> tuple[MeasureResult, list[str]]:
    """Check ``output`` and ``records``, run and measure ``command``, then save the report and the records.

    Returns the result and one note per file that could not be written after the run (the command's
    result and exit code are never lost to a write): the caller shows the result some other way.
    """
    check_outputs(output, records)
    result = measure_command(command, options, intensity_files=intensity_files)
    notes: list[str] = []
    if records is not None:
        try:
            open_sink(records).write(result.records())
        except (OSError, GreenciError) as exc:
            notes.append(f"the records were not written to {records} ({_why(exc)})")
    if output is not None:
        try:
            save_report(result, Path(output))
        except (OSError, GreenciError) as exc:
            notes.append(f"the report was not written to {output} ({_why(exc)})")
    return result, notes
