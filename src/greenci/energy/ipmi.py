"""Readings of ``ipmitool dcmi power reading`` (and FreeIPMI ``ipmi-dcmi --get-system-power-statistics``).

ipmitool up to 1.8.18 prints, per call::

    Instantaneous power reading:                   220 Watts
    Minimum during sampling period:                 48 Watts
    Maximum during sampling period:                361 Watts
    Average power reading over sample period:      157 Watts
    IPMI timestamp:                           Thu Feb 15 08:36:01 2024
    Sampling period:                          00000001 Seconds.
    Power reading state is:                   activated

ipmitool 1.8.19 prints the timestamp as ``%x %X %Z`` *without a line break*, so the sampling period
shares its line: ``IPMI timestamp:   10/12/23 13:29:17 CEST    Sampling period:   00065530 Seconds.``
(``-Z`` prints UTC; ``S+ 00:00:00`` or ``Unspecified`` when the BMC clock is not set), and with a
sample time (``dcmi power reading 5_sec``) the period as ``5_sec``. Fields are therefore found by their
labels wherever they stand, several to a line. FreeIPMI's ``Current Power``, ``Average Power over
sampling duration``, ``Time Stamp : 02/15/2024 - 08:36:01``, ``Statistics reporting time period : N
milliseconds`` and ``Power Measurement : Active``, and ipmiutil's ``Avg Power over sample duration``,
``Timestamp`` and ``Sampling period: 1000 ms`` are read the same way. Only the first of each field in a
block counts (ipmiutil prints a second ``Sampling period``, the power limit's).

A file may hold many blocks (a log of repeated calls). Each block gives a **power reading** (the
instantaneous watts at the timestamp) and, when the sampling period is known, an **interval**: the
BMC's average over ``[timestamp - period, timestamp]``. :func:`~greenci.energy.records.to_intervals`
counts each stretch of time once (the BMC averages where they cover it, the trapezoid between readings
elsewhere).

Refused, with the file and line: a block whose power measurement is **deactivated** (``Power reading
state is: deactivated``, ``Not Available``, ``not active``: its numbers are not readings, whatever
``at`` says), a block without its state line (output cut short), watts that are negative, above
:func:`~greenci.energy.records.max_power_w` or 65535 (the 16-bit "no reading" of some firmware), and a
period beyond DCMI's 32-bit count of milliseconds.

Times: the BMC's clock. A time with a zone (``UTC``, ``CEST``, ``+0200``) is converted to UTC; one
without (ctime form, FreeIPMI) is taken as UTC. A zone name that is ambiguous (``CST``, ``IST``) or
unknown is refused: run ipmitool with ``-Z`` (UTC). A BMC whose clock is not set reports 1970, ``S+ ...``
or ``Unspecified`` (and one that is wrong, a time days ahead): then a line holding only a time just
before the block (e.g. written by ``date -u -Is``) gives the time instead, else ``at`` for a file of a
single reading, else it is refused.

:func:`read_ipmi` also reads ``ipmitool sdr`` / ``sdr elist`` / ``sensor`` output (power sensors per PSU,
CPU, DRAM and node): it tells the two apart from the file's start and hands sdr rows to
:mod:`greenci.energy.ipmi_sdr`.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from greenci.energy.ipmi_sdr import FORMAT as SDR_FORMAT
from greenci.energy.ipmi_sdr import looks_like_sdr, parse_sdr
from greenci.energy.records import EnergyRecord, check_power_w, check_span_s, utc_datetime
from greenci.energy.sniff import SNIFF_BYTES, decode, lines, open_text
from greenci.errors import DataFormatError, InputError

__all__ = ["MAX_PERIOD_S", "SOURCE", "parse_dcmi_power_reading", "read_ipmi"]

SOURCE = "ipmi-dcmi"
#: DCMI's statistics reporting period is a 32-bit count of milliseconds: about 49.7 days at most
MAX_PERIOD_S = 2**32 / 1000.0
#: the 16-bit all-ones value some BMC firmware returns instead of a reading
_NO_READING_W = 65535.0
_FORMAT = "ipmitool dcmi power reading output"

_LABELS = {
    "instant": ("instantaneous power reading", "current power"),
    "minimum": ("minimum during sampling period", "minimum power over sampling duration",
                "min power over sample duration"),
    "maximum": ("maximum during sampling period", "maximum power over sampling duration",
                "max power over sample duration"),
    "average": ("average power reading over sample period", "average power over sampling duration",
                "avg power over sample duration"),
    "time": ("ipmi timestamp", "time stamp", "timestamp"),
    "period": ("sampling period", "statistics reporting time period"),
    "state": ("power reading state is", "power measurement"),
}
_FIELD = re.compile(
    r"(?<![\w])(?:" + "|".join(f"(?P<{name}>" + "|".join(a.replace(" ", r"\s+") for a in alts) + ")"
                              for name, alts in _LABELS.items()) + r")\s*:", re.IGNORECASE)
_WATTS = re.compile(r"^([0-9]+(?:\.[0-9]+)?)\s*watts?\b", re.IGNORECASE)
_PERIOD = re.compile(r"^([0-9]+(?:\.[0-9]+)?)\s*(milliseconds?|msecs?|ms|seconds?|secs?|s)\b\.?", re.IGNORECASE)
_PERIOD_CODE = re.compile(r"^([0-9]+)_(sec|min|hour)\b", re.IGNORECASE)
_CODE_S = {"sec": 1.0, "min": 60.0, "hour": 3600.0}
_ACTIVE = {"activated", "active"}
_INACTIVE = {"deactivated", "not active", "not available", "inactive", "not activated", "disabled"}
_BARE_TIME = re.compile(r"^\s*\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?\s*(Z|[+-]\d{2}:?\d{2})?\s*$")
_EPOCH_FLOOR = datetime(2000, 1, 1, tzinfo=UTC)
_TIME_FORMATS = ("%a %b %d %H:%M:%S %Y", "%m/%d/%Y - %H:%M:%S", "%m/%d/%Y %H:%M:%S", "%m/%d/%y %H:%M:%S",
                 "%Y-%m-%d %H:%M:%S", "%Y-%m-%d - %H:%M:%S")
#: zone names that mean one offset (minutes east of UTC); CST, IST, BST and AST mean several and are refused
_ZONES = {"UTC": 0, "GMT": 0, "UT": 0, "Z": 0, "WET": 0, "WEST": 60, "CET": 60, "CEST": 120, "EET": 120,
          "EEST": 180, "MSK": 180, "EST": -300, "EDT": -240, "CDT": -300, "MST": -420, "MDT": -360, "PST": -480,
          "PDT": -420, "AKST": -540, "AKDT": -480, "HST": -600, "JST": 540, "KST": 540, "SGT": 480, "HKT": 480,
          "AWST": 480, "ACST": 570, "ACDT": 630, "AEST": 600, "AEDT": 660, "NZST": 720, "NZDT": 780}
_OFFSET = re.compile(r"^([+-])(\d{2}):?(\d{2})$")
_UNSET = object()  # the BMC clock is not set: the time must come from elsewhere
#: fields a reading has once (ipmiutil prints a second "Sampling period", its power limit's)
_ONCE = frozenset({"minimum", "maximum", "average", "time", "state"})


@dataclass
class _Block:
    row: int
    values: dict[str, tuple[str, int, str]] = field(default_factory=dict)  # name -> (value, row, label)
    logged: datetime | None = None  # a bare time line just before the block


def _fields(line: str) -> list[tuple[str, str, str]]:
    """``(name, label, value)`` of every known field on a line, several to a line allowed."""
    found = list(_FIELD.finditer(line))
    out = []
    for k, m in enumerate(found):
        end = found[k + 1].start() if k + 1 < len(found) else len(line)
        assert m.lastgroup is not None
        out.append((m.lastgroup, m.group(m.lastgroup), line[m.end():end].strip()))
    return out


def _blocks(rows: Iterable[str], where: str) -> list[_Block]:
    blocks: list[_Block] = []
    logged: datetime | None = None
    for row, line in enumerate(rows, start=1):
        if _BARE_TIME.match(line):
            try:
                logged = utc_datetime(line.strip())
            except InputError:
                logged = None
            continue
        for name, label, value in _fields(line):
            if name == "instant":
                blocks.append(_Block(row, logged=logged))
                logged = None
            elif name in _ONCE and (not blocks or name in blocks[-1].values):
                # a reading's first line is missing or damaged: its fields would be lost, or merged into
                # the reading before it
                raise DataFormatError(f"{label.strip()!r} {'before any' if not blocks else 'twice after one'} "
                                      "'Instantaneous power reading' (or 'Current Power') line: that line is "
                                      "missing or damaged: save the whole output of each call", path=where,
                                      row=row, column=label.strip())
            if blocks and name not in blocks[-1].values:
                blocks[-1].values[name] = (value, row, label.strip())
    return blocks


def _watts(value: tuple[str, int, str], where: str) -> float:
    text, row, label = value
    m = _WATTS.match(text)
    if not m:
        raise DataFormatError(f"{text!r} is not a number of watts (e.g. '220 Watts')", path=where, row=row,
                              column=label)
    watts = float(m.group(1))
    if watts == _NO_READING_W:
        raise DataFormatError("65535 W is what some BMC firmware reports when it has no reading: this is not a "
                              "power reading (update the BMC firmware, or delete this block)", path=where, row=row,
                              column=label)
    return check_power_w(watts, path=where, row=row, column=label, text=m.group(0))


def _period_s(value: tuple[str, int, str], where: str) -> float:
    text, row, label = value
    if m := _PERIOD_CODE.match(text):
        seconds = float(m.group(1)) * _CODE_S[m.group(2).lower()]
    elif m := _PERIOD.match(text):
        seconds = float(m.group(1))
        if m.group(2).lower().startswith("m"):
            seconds /= 1000.0
    else:
        raise DataFormatError(f"{text!r} is not a sampling period (e.g. '00000060 Seconds.' or '60000 "
                              "milliseconds')", path=where, row=row, column=label)
    return check_span_s(seconds, path=where, row=row, column=label, text=text, most_s=MAX_PERIOD_S)


def _parse_time(value: tuple[str, int, str], where: str) -> datetime | object:
    """The time in UTC, or :data:`_UNSET` when the BMC says its clock is not set."""
    text, row, label = value
    cleaned = re.sub(r"\s+", " ", text).strip()
    if not cleaned or cleaned.lower() in ("unspecified", "unknown") or cleaned.upper().startswith("S+"):
        return _UNSET
    offset = 0
    parts = cleaned.rsplit(" ", 1)
    if len(parts) == 2 and (parts[1].isalpha() or _OFFSET.match(parts[1])):
        zone = parts[1]
        if zone.isalpha():
            if zone.upper() not in _ZONES:
                raise DataFormatError(f"time zone {zone!r} of {cleaned!r} is ambiguous or unknown: run ipmitool "
                                      "with -Z (times in UTC), or with TZ=UTC", path=where, row=row, column=label)
            offset = _ZONES[zone.upper()]
        else:
            m = _OFFSET.match(zone)
            assert m is not None
            offset = (int(m.group(2)) * 60 + int(m.group(3))) * (1 if m.group(1) == "+" else -1)
        cleaned = parts[0]
    for fmt in _TIME_FORMATS:
        try:
            local = datetime.strptime(cleaned, fmt)
        except ValueError:
            continue
        try:
            stamp = local.replace(tzinfo=timezone(timedelta(minutes=offset))).astimezone(UTC)
        except OverflowError:  # year 1 or 9999 and an offset: not a clock that was set
            return _UNSET
        return _usable(stamp)
    try:
        stamp = utc_datetime(cleaned)
    except InputError:
        raise DataFormatError(f"{cleaned!r} is not a time ipmitool, FreeIPMI or ipmiutil prints (e.g. 'Thu Feb 15 "
                              "08:36:01 2024' or '02/15/24 08:36:01 UTC')", path=where, row=row,
                              column=label) from None
    try:
        stamp -= timedelta(minutes=offset)
    except OverflowError:
        return _UNSET
    return _usable(stamp)


def _usable(stamp: datetime) -> datetime | object:
    """``stamp``, or :data:`_UNSET` when it is before 2000 (clock not set) or days ahead (clock wrong)."""
    if stamp < _EPOCH_FLOOR or stamp > datetime.now(UTC) + timedelta(days=2):
        return _UNSET
    return stamp


def _state(block: _Block, where: str) -> None:
    """Refuse a block whose power measurement is not active (or does not say)."""
    if "state" not in block.values:
        raise DataFormatError("the reading has no 'Power reading state is' (ipmitool) or 'Power Measurement' "
                              "(FreeIPMI) line: the output is cut short: save the whole output of each call",
                              path=where, row=block.row)
    text, row, label = block.values["state"]
    state = re.sub(r"\s+", " ", text).strip().rstrip(".").lower()
    if state in _ACTIVE:
        return
    if state in _INACTIVE:
        raise DataFormatError(f"power measurement is {text!r} on the BMC: the numbers of this block are not "
                              "readings. Enable DCMI power measurement on the BMC (its settings, or a firmware "
                              "that supports it) and read again; in a log, delete the deactivated blocks to "
                              "read the others", path=where, row=row, column=label)
    raise DataFormatError(f"power reading state {text!r} is neither activated nor deactivated: save the whole "
                          "output of `ipmitool dcmi power reading`", path=where, row=row, column=label)


def _at(at: object) -> datetime:
    try:
        return utc_datetime(at, where="at")
    except InputError as exc:
        raise InputError(str(exc), field="at") from None


def _records(blocks: list[_Block], *, host: str, at: object | None, where: str) -> list[EnergyRecord]:
    if not blocks:
        raise DataFormatError("no 'Instantaneous power reading' (ipmitool) or 'Current Power' (FreeIPMI) line: "
                              "save the output of `ipmitool dcmi power reading`", path=where)
    fallback = _at(at) if at is not None else None
    out: list[EnergyRecord] = []
    for block in blocks:
        _state(block, where)
        instant = _watts(block.values["instant"], where)
        stamp = _parse_time(block.values["time"], where) if "time" in block.values else _UNSET
        if not isinstance(stamp, datetime):
            stamp = block.logged or (fallback if len(blocks) == 1 else None)
        if stamp is None:
            got = block.values["time"][0] if "time" in block.values else "no timestamp"
            raise DataFormatError(f"the reading has no usable time ({got!r}: the BMC clock is not set, or wrong): log "
                                  "`date -u -Is` before each call, or, for a file of one reading, give its time "
                                  "as at", path=where, row=block.row, field="at")
        out.append(EnergyRecord(source=SOURCE, resource_id=host, start=stamp, end=stamp, power_w=instant,
                                method="instantaneous (BMC)"))
        period_s = _period_s(block.values["period"], where) if "period" in block.values else None
        if "average" in block.values and period_s:
            avg = _watts(block.values["average"], where)
            out.append(EnergyRecord(source=SOURCE, resource_id=host, start=stamp - timedelta(seconds=period_s),
                                    end=stamp, energy_kwh=avg * period_s / 3.6e6, power_w=avg,
                                    method=f"BMC average over {period_s:g} s"))
    return out


def parse_dcmi_power_reading(text: str, *, host: str = "localhost", at: object | None = None,
                             path: str | None = None) -> list[EnergyRecord]:
    """Records from dcmi power reading output: per block a power reading and, with a period, an interval.

    ``at`` gives the time of a single block whose BMC clock is not set; ``path`` names the file in errors.
    """
    where = path or "ipmitool output"
    if "\x00" in text:
        raise DataFormatError(f"the text holds NUL bytes: it is binary, not {_FORMAT}", path=where)
    return _records(_blocks(text.splitlines(), where), host=host, at=at, where=where)


def _has_dcmi(head: str) -> bool:
    return any(name == "instant" for line in head.splitlines() for name, _l, _v in _fields(line))


def _time_and_note(at: object | None, fallback: datetime, fallback_note: str) -> tuple[datetime, str]:
    if at is not None:
        return _at(at), "at given by the caller"
    return fallback, fallback_note


def read_ipmi(path: str | os.PathLike[str], *, host: str | None = None, at: object | None = None) -> list[EnergyRecord]:
    """Read a file (``-`` for stdin) of dcmi power reading output, or of ``ipmitool sdr`` / ``sdr elist`` /
    ``sensor`` output (:mod:`greenci.energy.ipmi_sdr`); ``host`` defaults to the file's stem.

    The format is told from the file's first 64 KiB: an ``Instantaneous power reading`` (or ``Current
    Power``) line means DCMI, pipe-separated sensor rows mean sdr; anything else is refused before the rest
    is read. sdr output carries no time: rows take ``at``, else the file's modification time (stdin: the
    time it was read), unless a time line precedes them.
    """
    if str(path) == "-":
        stream = getattr(sys.stdin, "buffer", None)
        text = decode(stream.read(), where="<stdin>", fmt=_FORMAT) if stream is not None else sys.stdin.read()
        if not _has_dcmi(text[:SNIFF_BYTES]) and looks_like_sdr(text[:SNIFF_BYTES]):
            stamp, note = _time_and_note(at, datetime.now(UTC), "when greenci read stdin (no time in the output)")
            return parse_sdr(text.splitlines(), host=host or "localhost", at=stamp, time_note=note, where="<stdin>")
        return parse_dcmi_power_reading(text, host=host or "localhost", at=at, path="<stdin>")
    p = Path(path)
    with open_text(p, fmt=_FORMAT) as (fh, head):
        if _has_dcmi(head):
            blocks = _blocks(lines(fh, str(p)), str(p))
        elif looks_like_sdr(head):
            stamp, note = _time_and_note(at, datetime.fromtimestamp(p.stat().st_mtime, UTC),
                                         "the file's modification time (no time in the output)")
            return parse_sdr(lines(fh, str(p)), host=host or p.stem, at=stamp, time_note=note, where=str(p))
        else:
            raise DataFormatError("no 'Instantaneous power reading' (ipmitool) or 'Current Power' (FreeIPMI) line "
                                  f"and no sensor rows ('PSU1 Input Power | 220 Watts | ok') at its start: expected "
                                  f"{_FORMAT} or {SDR_FORMAT}", path=str(p))
    return _records(blocks, host=host or p.stem, at=at, where=str(p))
