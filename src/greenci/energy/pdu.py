"""PDU CSV exports: a time column plus power and/or an energy meter, per outlet or per PDU.

Accepted header names (case and surrounding spaces ignored; ``;`` or ``,`` separated):

==================  ==================================================================================
time (required)     ``timestamp``, ``time``, ``datetime``, ``date``, ``date/time``, ``date time`` —
                    ISO 8601 (naive = UTC) or Unix epoch seconds
power               ``watts``, ``power_w``, ``power (w)``, ``active power (w)``, ``power``, ``w``;
                    or in kW: ``kw``, ``power_kw``, ``power (kw)``, ``active power (kw)``
energy meter        cumulative kWh: ``kwh``, ``energy_kwh``, ``energy (kwh)``, ``active energy (kwh)``,
                    ``energy``; or Wh: ``wh``, ``energy_wh``, ``energy (wh)``
resource (optional) ``outlet``, ``outlet_name``, ``device``, ``pdu``, ``name``, ``id`` (else the file stem)
==================  ==================================================================================

At least one of power or meter is needed. Each row becomes a reading (power and/or meter);
:func:`greenci.energy.records.to_intervals` makes energy intervals from them: meter differences when
there is a meter (a falling meter is a reset: that stretch gets the trapezoid of power when the rows have
power, else it is left out), else the trapezoid of power.
An empty cell is a missing value. Refused with the file, row and column: a time that is not one, a
power that is negative, not finite or above :func:`~greenci.energy.records.max_power_w`, a meter that
is negative or not finite, a row with fewer cells than the header (or more, not empty).

The file's start is sniffed first (:mod:`greenci.energy.sniff`): binary data, or a first line without a
time and a power or meter column, is refused before the rest is read; rows are then read one by one.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

from greenci.energy.records import EnergyRecord, check_meter_kwh, check_power_w, utc_datetime
from greenci.energy.sniff import lines, open_text
from greenci.errors import DataFormatError, InputError

__all__ = ["SOURCE", "read_pdu_csv"]

SOURCE = "pdu-csv"
_FORMAT = "a PDU CSV export (a time column and watts, kW, kWh or Wh)"
_TIME = ("timestamp", "time", "datetime", "date", "date/time", "date time")
_POWER_W = ("watts", "power_w", "power (w)", "active power (w)", "power", "w")
_POWER_KW = ("kw", "power_kw", "power (kw)", "active power (kw)")
_METER_KWH = ("kwh", "energy_kwh", "energy (kwh)", "active energy (kwh)", "energy")
_METER_WH = ("wh", "energy_wh", "energy (wh)")
_RESOURCE = ("outlet", "outlet_name", "device", "pdu", "name", "id")
#: epoch seconds beyond this (2100-01-01) are not a PDU's time (milliseconds, most likely)
_LAST_EPOCH_S = 4102444800.0


def _find(header: list[str], names: tuple[str, ...]) -> int | None:
    lowered = [h.strip().lower() for h in header]
    for n in names:
        if n in lowered:
            return lowered.index(n)
    return None


def _number(text: str, where: str, row: int, column: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise DataFormatError(f"{text!r} is not a number", path=where, row=row, column=column) from None


def _time(cell: str, where: str, row: int, column: str) -> object:
    text = cell.strip()
    if _is_number(text):
        seconds = float(text)
        if not 0 <= seconds < _LAST_EPOCH_S:
            hint = " (epoch milliseconds? divide by 1000)" if _LAST_EPOCH_S <= seconds < 1e16 else ""
            raise DataFormatError(f"{text!r} is not a time{hint}: use ISO 8601 or epoch seconds", path=where,
                                  row=row, column=column)
        return seconds
    return text


def _delimiter(first: str) -> str:
    counts = {d: first.count(d) for d in (",", ";", "\t")}
    return max(counts, key=lambda d: (counts[d], d == ","))


def read_pdu_csv(path: str | os.PathLike[str], *, resource: str | None = None) -> list[EnergyRecord]:
    """Power and meter readings from a PDU CSV export (see the module doc for the columns accepted)."""
    p = Path(path)
    where = str(p)
    with open_text(p, fmt=_FORMAT) as (fh, head):
        first = next((line for line in head.splitlines() if line.strip()), "")
        delimiter = _delimiter(first)
        reader = csv.reader(lines(fh, where, keep_ends=True), delimiter=delimiter)
        try:
            header = next((row for row in reader if any(cell.strip() for cell in row)), [])
            if not header:
                raise DataFormatError(f"the file is empty: expected {_FORMAT}", path=where)
            t_col = _find(header, _TIME)
            if t_col is None:
                raise DataFormatError(f"no time column (one of {', '.join(_TIME)}) in header {header[:12]}: "
                                      f"expected {_FORMAT}", path=where)
            power = [(c, f, header[c]) for names, f in ((_POWER_W, 1.0), (_POWER_KW, 1000.0))
                     if (c := _find(header, names)) is not None]
            meter = [(c, f, header[c]) for names, f in ((_METER_KWH, 1.0), (_METER_WH, 1e-3))
                     if (c := _find(header, names)) is not None]
            if not power and not meter:
                raise DataFormatError(f"no power (watts, kW) or energy meter (kWh, Wh) column in header "
                                      f"{header[:12]}: see greenci.energy.pdu for the names accepted", path=where)
            r_col = _find(header, _RESOURCE)
            out = _rows(reader, header, t_col, power, meter, r_col, resource or p.stem, where)
        except csv.Error as exc:
            raise DataFormatError(f"is not CSV from line {reader.line_num} on ({exc})", path=where) from None
    if not out:
        raise DataFormatError("no readings: every power and meter cell is empty", path=where)
    return out


def _rows(reader: object, header: list[str], t_col: int, power: list[tuple[int, float, str]],
          meter: list[tuple[int, float, str]], r_col: int | None, default_resource: str,
          where: str) -> list[EnergyRecord]:
    out: list[EnergyRecord] = []
    for row in reader:  # type: ignore[attr-defined]
        i = reader.line_num  # type: ignore[attr-defined]
        if not any(cell.strip() for cell in row):
            continue
        if len(row) < len(header):
            raise DataFormatError(f"has {len(row)} cells, the header {len(header)}: the row is cut short",
                                  path=where, row=i)
        if any(cell.strip() for cell in row[len(header):]):
            raise DataFormatError(f"has {len(row)} cells, the header {len(header)}: the columns do not line up",
                                  path=where, row=i)
        cell = row[t_col]
        when = _time(cell, where, i, header[t_col])
        try:
            stamp = utc_datetime(when)
        except InputError:
            raise DataFormatError(f"{cell.strip()!r} is not a time (ISO 8601 or epoch seconds)", path=where, row=i,
                                  column=header[t_col]) from None
        watts = kwh = None
        for c, f, name in power:
            text = row[c].strip()
            if text:
                value = check_power_w(_number(text, where, i, name) * f, path=where, row=i, column=name,
                                      text=text)
                watts = value if watts is None else watts
        for c, f, name in meter:
            text = row[c].strip()
            if text:
                value = check_meter_kwh(_number(text, where, i, name) * f, path=where, row=i, column=name,
                                        text=text)
                kwh = value if kwh is None else kwh
        if watts is None and kwh is None:
            continue
        rid = row[r_col].strip() if r_col is not None and row[r_col].strip() else default_resource
        out.append(EnergyRecord(source=SOURCE, resource_id=rid, start=stamp, end=stamp, power_w=watts,
                                meter_kwh=kwh, component="outlet" if r_col is not None else "total",
                                method="PDU export"))
    return out


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
