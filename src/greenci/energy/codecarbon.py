"""codecarbon's ``emissions.csv`` as energy records: one per row and component (cpu, gpu, ram).

Why read it: many teams already run codecarbon in CI; its file holds the energy greenci would measure,
so greenci accounts it (its own intensity, PUE and attribution) instead of measuring twice.

What a row means (codecarbon 2.x / 3.x, ``output_methods/file.py``): one row is written when a tracker
stops or flushes, with the run's **totals so far**: ``duration`` (s), ``cpu_energy``, ``gpu_energy``,
``ram_energy`` and ``energy_consumed`` (kWh, codecarbon's unit), ``timestamp`` = the time of writing.
So a row covers ``[timestamp - duration, timestamp)``, and several rows of one ``run_id`` (a tracker
that flushed) are cumulative snapshots: they are differenced, never summed. ``timestamp`` is the
writing machine's **local time without a zone** (``datetime.now()``); it is read in ``tz`` (UTC unless
told) and every record's ``method`` says which. Files older than the per-component columns give one
``total`` record from ``energy_consumed``. An empty cell is no reading and is skipped; a 0 is kept as 0
kWh (a machine without a GPU). A CSV without codecarbon's columns is refused, naming those it lacks.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

from greenci.energy.records import EnergyRecord, check_meter_kwh, check_span_s
from greenci.energy.sniff import lines, open_text
from greenci.errors import DataFormatError, InputError

__all__ = ["COMPONENT_COLUMNS", "REQUIRED_COLUMNS", "SOURCE", "read_codecarbon"]

SOURCE = "codecarbon"
#: the columns every codecarbon emissions file has had
REQUIRED_COLUMNS = ("timestamp", "duration", "emissions", "energy_consumed")
#: per-component energy columns (kWh) and the component each is
COMPONENT_COLUMNS = {"cpu_energy": "cpu", "gpu_energy": "gpu", "ram_energy": "ram"}
_FORMAT = "a codecarbon emissions.csv (timestamp, duration, emissions, energy_consumed, cpu_energy, ...)"


def _zone(tz: str | None) -> ZoneInfo | None:
    if tz is None or tz.upper() == "UTC":
        return None
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise InputError(f"tz {tz!r} is not a time zone name: give the IANA name of the machine that wrote the file, "
                         "e.g. Europe/Berlin (or UTC)", field="tz") from None


def _stamp(text: str, zone: ZoneInfo | None, where: str, row: int) -> tuple[float, bool]:
    """Epoch seconds of a codecarbon timestamp, and whether it was naive (read in ``zone``)."""
    try:
        t = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise DataFormatError(f"{text[:40]!r} is not a time: codecarbon writes 2024-03-01T12:00:00", path=where,
                              row=row, column="timestamp") from None
    naive = t.tzinfo is None
    if naive:
        t = t.replace(tzinfo=zone or UTC)
    return t.timestamp(), naive


def _number(text: str | None, where: str, row: int, column: str) -> float:
    """A cell as a float; NaN for an empty cell (no reading)."""
    if text is None or not text.strip() or text.strip().lower() == "nan":
        return math.nan
    try:
        value = float(text)
    except ValueError:
        raise DataFormatError(f"{text[:40]!r} is not a number", path=where, row=row, column=column) from None
    if column == "duration":
        return check_span_s(value, path=where, row=row, column=column, text=text[:40])
    return check_meter_kwh(value, path=where, row=row, column=column, text=text[:40])


def read_codecarbon(path: str | os.PathLike[str], *, tz: str | None = None) -> list[EnergyRecord]:
    """Interval records (kWh) from a codecarbon ``emissions.csv``: one per row and component.

    ``tz``: the IANA zone of the machine that wrote the file (its timestamps carry none); UTC by default.
    """
    zone = _zone(tz)
    p = Path(path)
    where = str(p)
    with open_text(p, fmt=_FORMAT) as (fh, _head):
        reader = csv.DictReader(lines(fh, where, keep_ends=True))
        try:
            columns = list(reader.fieldnames or [])
            missing = [c for c in REQUIRED_COLUMNS if c not in columns]
            if missing:
                raise DataFormatError(f"is not a codecarbon emissions file: it lacks the columns {missing} (its "
                                      f"header is {columns[:8]}{'...' if len(columns) > 8 else ''})", path=where)
            rows = [(reader.line_num, row) for row in reader]
        except csv.Error as exc:
            raise DataFormatError(f"is not CSV from line {reader.line_num} on ({exc})", path=where) from None
    if not rows:
        raise DataFormatError("has a codecarbon header but no row: the tracker never stopped or flushed", path=where)
    energy_cols = {c: comp for c, comp in COMPONENT_COLUMNS.items() if c in columns} or {"energy_consumed": "total"}
    n = len(rows)
    end = np.empty(n)
    dur = np.empty(n)
    kwh = {c: np.empty(n) for c in energy_cols}
    naive = False
    for i, (line, row) in enumerate(rows):
        if None in row or any(v is None for v in row.values()):
            raise DataFormatError(f"has a different number of cells than the header's {len(columns)}", path=where,
                                  row=line)
        end[i], was_naive = _stamp(row["timestamp"] or "", zone, where, line)
        naive |= was_naive
        dur[i] = _number(row["duration"], where, line, "duration")
        if math.isnan(dur[i]):
            raise DataFormatError("duration is empty: a row without a duration cannot be placed in time", path=where,
                                  row=line, column="duration")
        for c in energy_cols:
            kwh[c][i] = _number(row[c], where, line, c)
    runs = [f"{r.get('project_name') or 'codecarbon'}/{r.get('run_id') or f'row{line}'}" for line, r in rows]
    first = rows[0][1]
    version = first.get("codecarbon_version") or "(version not in the file)"
    mode = f", {first['tracking_mode']} mode" if first.get("tracking_mode") else ""
    zone_note = f"naive timestamp read as {tz or 'UTC'}" if naive else "timestamp with its zone"
    method = f"codecarbon {version}{mode}; {zone_note}"
    if "energy_consumed" in energy_cols:
        method += "; energy_consumed (no per-component columns in this version)"
    return _records(runs, end, dur, kwh, energy_cols, method, where, [line for line, _ in rows])


def _records(runs: Sequence[str], end: np.ndarray, dur: np.ndarray, kwh: dict[str, np.ndarray],
             energy_cols: dict[str, str], method: str, where: str, line_nos: Sequence[int]) -> list[EnergyRecord]:
    """Cumulative snapshots of each run differenced (vectorised): the intervals between a run's rows."""
    names, codes = np.unique(np.array(runs, dtype=object), return_inverse=True)
    order = np.lexsort((dur, codes))
    same = np.zeros(len(order), dtype=bool)
    same[1:] = codes[order][1:] == codes[order][:-1]
    d = dur[order]
    e = end[order]
    start = e - d
    start[same] = e[:-1][same[1:]]  # a later snapshot of a run starts where the previous one ended
    span = np.where(same, d - np.concatenate(([0.0], d[:-1])), d)
    out: list[EnergyRecord] = []
    for col, component in energy_cols.items():
        v = kwh[col][order]
        delta = np.where(same, v - np.concatenate(([0.0], v[:-1])), v)
        bad = np.flatnonzero(same & (delta < -1e-12))
        if bad.size:
            raise DataFormatError(f"{col} falls from one row of run {names[codes[order][bad[0]]]} to the next: "
                                  "codecarbon's rows of one run are cumulative", path=where,
                                  row=line_nos[order[bad[0]]], column=col)
        delta = np.maximum(delta, 0.0)
        for k in np.flatnonzero(~np.isnan(delta)).tolist():
            if span[k] <= 0:
                if delta[k] > 0:
                    raise DataFormatError(f"{col} is {delta[k]:g} kWh over a duration of 0 s", path=where,
                                          row=line_nos[order[k]], column=col)
                continue
            # both ends from the file's own timestamps (start + duration in floats missed the end by 1 us)
            t0, t1 = datetime.fromtimestamp(float(start[k]), UTC), datetime.fromtimestamp(float(e[k]), UTC)
            out.append(EnergyRecord(source=SOURCE, resource_id=str(names[codes[order[k]]]), start=t0,
                                    end=t1, energy_kwh=float(delta[k]),
                                    power_w=float(delta[k]) * 3.6e6 / float(span[k]), component=component,
                                    method=method))
    if not out:
        raise DataFormatError("no row has an energy reading (every energy cell is empty or every duration 0)",
                              path=where)
    out.sort(key=lambda r: (r.resource_id, r.start, r.component))
    return out
