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
there is a meter (a falling meter is a reset and that interval is left out), else the trapezoid of power.
An empty cell is a missing value; a negative or non-numeric one is refused with its row number.
"""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path

from greenci.energy.records import EnergyRecord, utc_datetime
from greenci.errors import DataFormatError, InputError

__all__ = ["SOURCE", "read_pdu_csv"]

SOURCE = "pdu-csv"
_TIME = ("timestamp", "time", "datetime", "date", "date/time", "date time")
_POWER_W = ("watts", "power_w", "power (w)", "active power (w)", "power", "w")
_POWER_KW = ("kw", "power_kw", "power (kw)", "active power (kw)")
_METER_KWH = ("kwh", "energy_kwh", "energy (kwh)", "active energy (kwh)", "energy")
_METER_WH = ("wh", "energy_wh", "energy (wh)")
_RESOURCE = ("outlet", "outlet_name", "device", "pdu", "name", "id")


def _find(header: list[str], names: tuple[str, ...]) -> int | None:
    lowered = [h.strip().lower() for h in header]
    for n in names:
        if n in lowered:
            return lowered.index(n)
    return None


def _value(cell: str, factor: float, where: str, row: int, column: str) -> float | None:
    text = cell.strip()
    if not text:
        return None
    try:
        v = float(text)
    except ValueError:
        raise DataFormatError(f"{text!r} is not a number", path=where, row=row, column=column) from None
    if not math.isfinite(v) or v < 0:
        raise DataFormatError(f"{text!r} must be a finite number >= 0", path=where, row=row, column=column)
    return v * factor


def read_pdu_csv(path: str | os.PathLike[str], *, resource: str | None = None) -> list[EnergyRecord]:
    """Power and meter readings from a PDU CSV export (see the module doc for the columns accepted)."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no such file: check the path")
    text = p.read_text(encoding="utf-8-sig", errors="replace")
    first = text.splitlines()[0] if text else ""
    delimiter = ";" if first.count(";") > first.count(",") else ","
    rows = list(csv.reader(text.splitlines(), delimiter=delimiter))
    if not rows:
        raise DataFormatError("the file is empty", path=str(p))
    header = rows[0]
    t_col = _find(header, _TIME)
    if t_col is None:
        raise DataFormatError(f"no time column (one of {', '.join(_TIME)}) in header {header}", path=str(p))
    power = [(c, f, header[c]) for names, f in ((_POWER_W, 1.0), (_POWER_KW, 1000.0))
             if (c := _find(header, names)) is not None]
    meter = [(c, f, header[c]) for names, f in ((_METER_KWH, 1.0), (_METER_WH, 1e-3))
             if (c := _find(header, names)) is not None]
    if not power and not meter:
        raise DataFormatError(f"no power (watts, kW) or energy meter (kWh, Wh) column in header {header}: see "
                              "greenci.energy.pdu for the names accepted", path=str(p))
    r_col = _find(header, _RESOURCE)
    default_resource = resource or p.stem
    out: list[EnergyRecord] = []
    for i, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) < len(header):
            raise DataFormatError(f"has {len(row)} cells, the header {len(header)}", path=str(p), row=i)
        cell = row[t_col].strip()
        try:
            stamp = utc_datetime(float(cell) if _is_number(cell) else cell)
        except InputError:
            raise DataFormatError(f"{cell!r} is not a time (ISO 8601 or epoch seconds)", path=str(p), row=i,
                                  column=header[t_col]) from None
        watts = next((v for c, f, name in power if (v := _value(row[c], f, str(p), i, name)) is not None), None)
        kwh = next((v for c, f, name in meter if (v := _value(row[c], f, str(p), i, name)) is not None), None)
        if watts is None and kwh is None:
            continue
        rid = row[r_col].strip() if r_col is not None and row[r_col].strip() else default_resource
        out.append(EnergyRecord(source=SOURCE, resource_id=rid, start=stamp, end=stamp, power_w=watts,
                                meter_kwh=kwh, component="outlet" if r_col is not None else "total",
                                method="PDU export"))
    if not out:
        raise DataFormatError("no readings: every power and meter cell is empty", path=str(p))
    return out


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
