"""Readings of ``ipmitool dcmi power reading`` (and FreeIPMI ``ipmi-dcmi --get-system-power-statistics``).

ipmitool prints, per call::

    Instantaneous power reading:                   220 Watts
    Minimum during sampling period:                 48 Watts
    Maximum during sampling period:                361 Watts
    Average power reading over sample period:      157 Watts
    IPMI timestamp:                           Thu Feb 15 08:36:01 2024
    Sampling period:                          00000001 Seconds.
    Power reading state is:                   activated

A file may hold many such blocks (a log of repeated calls). Each block gives a **power reading**
(instantaneous watts at the timestamp) and, when the sampling period is known, an **interval**
record: the BMC's average over ``[timestamp - period, timestamp]``. FreeIPMI's ``Current Power``,
``Average Power over sampling duration``, ``Time Stamp : 02/15/2024 - 08:36:01`` and
``Statistics reporting time period : N milliseconds`` are read the same way.

Times: the BMC's clock, taken as UTC (ctime form, ``MM/DD/YYYY HH:MM:SS``, or ISO 8601). A BMC with
power reading deactivated often reports 1970-01-01: then a line holding only a time just before the
block (e.g. written by ``date -u -Is``) gives the time instead, else the block is refused.
"""

from __future__ import annotations

import os
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from greenci.energy.records import EnergyRecord, utc_datetime
from greenci.errors import DataFormatError, InputError

__all__ = ["SOURCE", "parse_dcmi_power_reading", "read_ipmi"]

SOURCE = "ipmi-dcmi"
_START = re.compile(r"^\s*(instantaneous power reading|current power)\s*:", re.IGNORECASE)
_FIELDS = {
    "instant": re.compile(r"^\s*(?:instantaneous power reading|current power)\s*:\s*([\d.]+)\s*watts?", re.I),
    "average": re.compile(r"^\s*(?:average power reading over sample period|average power over sampling duration)"
                          r"\s*:\s*([\d.]+)\s*watts?", re.I),
    "time": re.compile(r"^\s*(?:ipmi timestamp|time stamp)\s*:\s*(.+?)\s*$", re.I),
    "period": re.compile(r"^\s*(?:sampling period|statistics reporting time period)\s*:\s*(\d+)\s*"
                         r"(seconds?|milliseconds?)", re.I),
    "state": re.compile(r"^\s*(?:power reading state is|power measurement)\s*:\s*(\w+)", re.I),
}
_TIME_FORMATS = ("%a %b %d %H:%M:%S %Y", "%m/%d/%Y %H:%M:%S", "%m/%d/%Y - %H:%M:%S", "%m/%d/%Y %H:%M:%S %Z")
_BARE_TIME = re.compile(r"^\s*\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?\s*(Z|[+-]\d{2}:?\d{2})?\s*$")
_EPOCH_FLOOR = datetime(2000, 1, 1, tzinfo=UTC)


def _parse_time(text: str) -> datetime | None:
    cleaned = re.sub(r"\s+", " ", text.strip())
    cleaned = re.sub(r"\s+(UTC|GMT)$", "", cleaned)
    for fmt in _TIME_FORMATS:
        try:
            return datetime.strptime(cleaned, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    try:
        return utc_datetime(cleaned)
    except InputError:
        return None


def parse_dcmi_power_reading(text: str, *, host: str = "localhost", at: object | None = None,
                             path: str | None = None) -> list[EnergyRecord]:
    """Records from dcmi power reading output: per block a power reading and, with a period, an interval.

    ``at`` gives the time of a single block whose BMC clock is unset; ``path`` names the file in errors.
    """
    where = path or "ipmitool output"
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if _START.match(line)]
    if not starts:
        raise DataFormatError("no 'Instantaneous power reading' (ipmitool) or 'Current Power' (FreeIPMI) line: "
                              "save the output of `ipmitool dcmi power reading`", path=where)
    fallback = utc_datetime(at, where="--at") if at is not None else None
    out: list[EnergyRecord] = []
    for b, first in enumerate(starts):
        last = starts[b + 1] if b + 1 < len(starts) else len(lines)
        block = lines[first:last]
        values: dict[str, str] = {}
        for line in block:
            for name, rx in _FIELDS.items():
                m = rx.match(line)
                if m and name not in values:
                    values[name] = m.group(1) if name != "period" else m.group(1) + " " + m.group(2)
        row = first + 1
        stamp = _parse_time(values["time"]) if "time" in values else None
        if stamp is None or stamp < _EPOCH_FLOOR:
            stamp = _time_before(lines, first, starts[b - 1] if b else -1) or (fallback if len(starts) == 1 else None)
        if stamp is None:
            got = values.get("time", "no timestamp")
            raise DataFormatError(f"reading has no usable time ({got!r}; power reading may be deactivated on the "
                                  "BMC): log `date -u -Is` before each call, or give --at for a single reading",
                                  path=where, row=row)
        if "instant" not in values:
            raise DataFormatError("the instantaneous power is not a number of watts", path=where, row=row)
        instant = float(values["instant"])
        out.append(EnergyRecord(source=SOURCE, resource_id=host, start=stamp, end=stamp, power_w=instant,
                                method="instantaneous (BMC)"))
        period_s = _period_s(values.get("period"))
        state = values.get("state", "activated").lower()
        if "average" in values and period_s and state in ("activated", "active"):
            avg = float(values["average"])
            out.append(EnergyRecord(source=SOURCE, resource_id=host, start=stamp - timedelta(seconds=period_s),
                                    end=stamp, energy_kwh=avg * period_s / 3.6e6, power_w=avg,
                                    method=f"BMC average over {period_s:g} s"))
    return out


def _period_s(text: str | None) -> float | None:
    if not text:
        return None
    number, unit = text.split()
    value = float(number)
    return value / 1000.0 if unit.lower().startswith("milli") else value


def _time_before(lines: list[str], first: int, previous_block: int) -> datetime | None:
    """A bare ISO time on a line between the previous block and this one (nearest first)."""
    for i in range(first - 1, previous_block, -1):
        if _BARE_TIME.match(lines[i]):
            return utc_datetime(lines[i].strip())
        if _START.match(lines[i]):
            break
    return None


def read_ipmi(path: str | os.PathLike[str], *, host: str | None = None, at: object | None = None) -> list[EnergyRecord]:
    """Read a file (``-`` for stdin) of dcmi power reading output; ``host`` defaults to the file's stem."""
    if str(path) == "-":
        return parse_dcmi_power_reading(sys.stdin.read(), host=host or "localhost", at=at, path="<stdin>")
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no such file: check the path")
    text = p.read_text(encoding="utf-8", errors="replace")
    return parse_dcmi_power_reading(text, host=host or p.stem, at=at, path=str(p))
