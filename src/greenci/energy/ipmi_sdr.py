"""Power sensors from ``ipmitool sdr``, ``sdr elist`` / ``sdr type ...`` and ``ipmitool sensor`` output.

Why: many BMCs (Intel and Supermicro boards, older Dell and HPE) answer ``dcmi power reading`` with an
error but list their power sensors in the SDR. The three layouts, told apart row by row::

    PSU1 Input Power | 220 Watts         | ok                        (sdr, sdr list)
    Pwr Consumption  | 77h | ok  |  7.1 | 224 Watts                   (sdr elist, sdr type "Current")
    PS1 Input Power  | 220.000    | Watts      | ok    | na | ...      (sensor)

Only rows whose unit is power are read: ``Watts`` (``W``), ``kW``/``Kilowatts`` and ``mW``/``milliWatts``,
converted to watts. ``Amps``, ``Volts`` and ``VA`` rows are never turned into power (a current without
the voltage and power factor of the same instant is not a power). A row that has no reading (``na``,
``No Reading``, ``disabled``, status ``ns``) is skipped. Each power row is placed by its name with
:func:`greenci.energy.scopes.classify`: ``Pwr Consumption`` / ``System Level`` / ``Total Power`` ->
``total``; ``PS1 Input Power`` -> ``psu`` of ``host/PSU1``; ``CPU1 Power`` -> ``cpu``; ``DIMM Power`` ->
``ram``. When several rows read one part (Dell's ``Pwr Consumption`` and ``System Level``; a PSU's input
and output) one is kept (the node meter, the PSU input) and ``method`` names the others: nothing is
counted twice. Without any total row, the PSU inputs are summed into a ``total`` whose ``method`` says so.

Times: ipmitool prints none. A line holding only an ISO 8601 time (``date -u -Is``) stamps the rows
after it (a log of repeated calls); otherwise the rows take ``at``, else the file's modification time,
and ``method`` says which. Refused with the file and row: a sensor listed twice without a time line
between, rows before the first time line of a log that has them, a power that is not plausible; and a
file with no usable power reading, naming what it saw instead.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from greenci.energy.records import EnergyRecord, check_power_w, utc_datetime
from greenci.energy.scopes import classify, words
from greenci.errors import DataFormatError, InputError

__all__ = ["SOURCE", "looks_like_sdr", "parse_sdr"]

SOURCE = "ipmi-sdr"
FORMAT = "ipmitool sdr / sdr elist / sensor output"
_HEX_ID = re.compile(r"^[0-9A-Fa-f]{1,2}h$")
_VALUE = re.compile(r"^([-+]?[0-9]+(?:\.[0-9]+)?)\s*(.*)$")
_POWER_UNITS = {"watts": 1.0, "watt": 1.0, "w": 1.0, "kilowatts": 1e3, "kilowatt": 1e3, "kw": 1e3,
                "milliwatts": 1e-3, "milliwatt": 1e-3, "mw": 1e-3}
_NO_READING = {"na", "n/a", "no reading", "disabled", "not readable", "not available", "unavailable", ""}
_NO_READING_STATUS = {"ns", "na", "nr?"}
_BARE_TIME = re.compile(r"^\s*\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?\s*(Z|[+-]\d{2}:?\d{2})?\s*$")
_POWERISH = re.compile(r"\b(power|pwr|pw|watts?)\b")


@dataclass(frozen=True)
class _Row:
    """One parsed sensor row: ``watts`` is None when the row has no reading."""

    name: str
    row: int
    layout: str
    unit: str
    watts: float | None
    text: str


def _split(line: str) -> list[str] | None:
    if "|" not in line:
        return None
    fields = [f.strip() for f in line.split("|")]
    return fields if len(fields) >= 3 and fields[0] else None


def _layout(fields: list[str]) -> tuple[str, str, str, str]:
    """``(layout, value, unit, status)`` of a row's fields."""
    if len(fields) >= 4 and _HEX_ID.match(fields[1]):
        value, unit = _value_unit(fields[-1])
        return "sdr elist", value, unit, fields[2].lower()
    if len(fields) == 3:
        value, unit = _value_unit(fields[1])
        return "sdr", value, unit, fields[2].lower()
    return "sensor", fields[1], fields[2].strip().lower(), fields[3].lower()


def _value_unit(text: str) -> tuple[str, str]:
    m = _VALUE.match(text)
    return (m.group(1), m.group(2).strip().lower()) if m else (text, "")


def looks_like_sdr(text: str) -> bool:
    """True when ``text`` holds at least one row in one of the three layouts (for sniffing a file's head)."""
    for line in text.splitlines():
        fields = _split(line)
        if fields is None:
            continue
        layout, _value, unit, _status = _layout(fields)
        if layout != "sensor" or unit:
            return True
    return False


def _row(fields: list[str], row: int, where: str) -> _Row:
    layout, value, unit, status = _layout(fields)
    name = fields[0]
    factor = _POWER_UNITS.get(unit)
    if factor is None:
        return _Row(name, row, layout, unit, None, value)
    if value.lower() in _NO_READING or status in _NO_READING_STATUS:
        return _Row(name, row, layout, unit, None, value)
    try:
        number = float(value)
    except ValueError:
        raise DataFormatError(f"{value!r} is not a number of {unit} (e.g. '220 Watts')", path=where, row=row,
                              column=name) from None
    watts = check_power_w(number * factor, path=where, row=row, column=name, text=f"{value} {unit}")
    return _Row(name, row, layout, unit, watts, value)


@dataclass
class _Snapshot:
    """The rows of one call, with the time that stamps them (None: the fallback time)."""

    time: datetime | None
    rows: list[_Row]


def _snapshots(lines: Iterable[str], where: str) -> tuple[list[_Snapshot], int]:
    """Snapshots of rows split by bare time lines, and how many sensor rows the file held."""
    snaps = [_Snapshot(None, [])]
    seen: dict[str, int] = {}
    count = 0
    for row, line in enumerate(lines, start=1):
        if _BARE_TIME.match(line):
            try:
                stamp = utc_datetime(line.strip())
            except InputError:
                raise DataFormatError(f"{line.strip()!r} is not a time", path=where, row=row) from None
            snaps.append(_Snapshot(stamp, []))
            seen = {}
            continue
        fields = _split(line)
        if fields is None:
            continue
        count += 1
        parsed = _row(fields, row, where)
        if parsed.name in seen:
            raise DataFormatError(f"sensor {parsed.name!r} appears again (first at row {seen[parsed.name]}) with no "
                                  "time line between: a log of several calls needs a line with the time "
                                  "(`date -u -Is`) before each call", path=where, row=row)
        seen[parsed.name] = row
        snaps[-1].rows.append(parsed)
    if len(snaps) > 1 and any(r.watts is not None for r in snaps[0].rows):
        first = next(r for r in snaps[0].rows if r.watts is not None)
        raise DataFormatError(f"sensor {first.name!r} comes before the first time line: in a log with time lines "
                              "each call needs one before it (`date -u -Is`)", path=where, row=first.row)
    return [s for s in snaps if s.rows], count


def _refusal(snaps: list[_Snapshot], count: int, where: str) -> DataFormatError:
    rows = [r for s in snaps for r in s.rows]
    units = sorted({r.unit for r in rows if r.unit and r.unit not in _POWER_UNITS})
    empty = [r for r in rows if r.unit in _POWER_UNITS and r.watts is None]
    empty += [r for r in rows if r.unit not in _POWER_UNITS and _POWERISH.search(words(r.name))
              and r.text.lower() in _NO_READING]
    unplaced = [r.name for r in rows if r.watts is not None]
    parts = [f"{count} sensor rows"]
    if units:
        parts.append(f"units seen: {', '.join(units[:12])}")
    if empty:
        parts.append("power sensors without a reading: " + ", ".join(f"{r.name!r} ({r.text or 'empty'})"
                                                                     for r in empty[:8]))
    if unplaced:
        parts.append(f"watts of parts greenci does not place (not a node, PSU, CPU, DRAM or GPU): {unplaced[:8]}")
    if count == 0:
        return DataFormatError(f"no sensor rows: expected {FORMAT} (e.g. 'PSU1 Input Power | 220 Watts | ok')",
                               path=where)
    return DataFormatError("no usable power reading (" + "; ".join(parts) + "). Amps and Volts are not turned into "
                           "power; use a BMC power sensor or `ipmitool dcmi power reading`", path=where)


def parse_sdr(lines: Iterable[str], *, host: str, at: datetime, time_note: str, where: str) -> list[EnergyRecord]:
    """Power readings from sdr / elist / sensor lines; ``at`` stamps rows with no time line before them and
    ``time_note`` says where ``at`` came from (``at``, the file's modification time)."""
    snaps, count = _snapshots(lines, where)
    out: list[EnergyRecord] = []
    for snap in snaps:
        out += _records(snap, host, snap.time or at, "time line" if snap.time else time_note)
    if not out:
        raise _refusal(snaps, count, where)
    return out


def _records(snap: _Snapshot, host: str, stamp: datetime, time_note: str) -> list[EnergyRecord]:
    chosen: dict[tuple[str, str], tuple[int, _Row, str]] = {}
    also: dict[tuple[str, str], list[str]] = {}
    for r in snap.rows:
        if r.watts is None:
            continue
        scope = classify(r.name)
        if scope is None:
            continue
        resource = f"{host}/{scope.unit}" if scope.unit else host
        key = (resource, scope.component)
        if key in chosen and chosen[key][0] <= scope.rank:
            also.setdefault(key, []).append(r.name)
            continue
        if key in chosen:
            also.setdefault(key, []).append(chosen[key][1].name)
        chosen[key] = (scope.rank, r, scope.note)
    out = []
    for (resource, component), (_rank, r, note) in chosen.items():
        method = f"ipmitool {r.layout} {r.name!r}" + (f" ({note})" if note else "")
        if also.get((resource, component)):
            method += f"; also listed, not counted again: {', '.join(repr(n) for n in also[(resource, component)])}"
        out.append(EnergyRecord(source=SOURCE, resource_id=resource, start=stamp, end=stamp, power_w=r.watts,
                                component=component, method=f"{method}; time: {time_note}"))
    if not any(rec.component == "total" for rec in out):
        inputs = [(rec, r) for (rec_key, (rank, r, _n)), rec in zip(chosen.items(), out, strict=True)
                  if rec_key[1] == "psu" and rank == 0]
        if inputs:
            watts = sum(rec.power_w or 0.0 for rec, _r in inputs)
            names = " + ".join(repr(r.name) for _rec, r in inputs)
            out.append(EnergyRecord(source=SOURCE, resource_id=host, start=stamp, end=stamp, power_w=watts,
                                    component="total", method=f"sum of PSU input power {names}: the output has no "
                                                              f"total sensor; time: {time_note}"))
    return out
