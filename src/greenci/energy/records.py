"""Energy and usage records: what every energy reader returns, and where records are written.

Why one pair of record types: a ``greenci measure`` run, an ``ipmitool`` log, a Redfish snapshot, a PDU
export and an OpenStack Gnocchi series all become the same frozen records before anything else sees
them, so accounting, reports and the (future) service never know which device a number came from.

:class:`EnergyRecord` is one of three things, told apart by its fields:

* an **interval**: ``start < end`` and ``energy_kwh`` over ``[start, end)`` (``power_w`` is the mean);
* a **power reading**: ``start == end`` and an instantaneous ``power_w``;
* a **meter reading**: ``start == end`` and ``meter_kwh``, the cumulative value of an energy counter.

:func:`to_intervals` turns readings into intervals (differences between meter readings, a device's own
averages, the trapezoid between power readings for the rest), counts each stretch of a resource's time
once, and never bridges a gap longer than ``max_gap_s``: a missing stretch stays missing.

Readers check every value as they read it (:func:`check_power_w`, :func:`check_meter_kwh`,
:func:`check_span_s`), naming the file, row and column: a power reading is finite, not negative and at
most :func:`max_power_w` (100 kW unless ``GREENCI_MAX_POWER_W`` says otherwise), a meter finite and not
negative, a period finite and at most a year.

:class:`UsageRecord` is a utilisation measure (CPU nanoseconds, memory MB, ...) of one resource over
``[start, end)`` (``start == end`` for a point sample), as Gnocchi and Ceilometer report them.

Sinks: :class:`RecordSink` is the one-method protocol (``write(records)``) every destination implements.
:class:`CsvSink` and :class:`ParquetSink` are the file sinks. **Service seam:** the greenci service store
does not exist yet; when it does, it implements :class:`RecordSink` (e.g. a ``StoreSink(store)`` in
``greenci.service``) and is passed wherever a sink is taken (``open_sink(path, store=...)``,
``measure(sink=...)``). Nothing here pretends to write to it.
"""

from __future__ import annotations

import bisect
import csv
import heapq
import io
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from greenci.bounds import MAX_DURATION_S
from greenci.errors import ConfigError, DataFormatError, InputError
from greenci.outputs import append_line, atomic_path, check_file, write_text

__all__ = [
    "MAX_METER_KWH",
    "MAX_POWER_ENV",
    "MAX_POWER_W",
    "MAX_SPAN_S",
    "CsvSink",
    "EnergyRecord",
    "ParquetSink",
    "RecordSink",
    "UsageRecord",
    "check_meter_kwh",
    "check_power_w",
    "check_records_file",
    "check_span_s",
    "max_power_w",
    "open_sink",
    "read_records",
    "records_to_rows",
    "rows_to_csv_text",
    "to_intervals",
    "total_energy_kwh",
    "utc_datetime",
]

#: the default bound for one power reading, W: far above any server, PDU outlet or rack (a whole PDU feed
#: of a row of racks may need more: raise it with :data:`MAX_POWER_ENV`)
MAX_POWER_W = 100_000.0
#: the environment variable that raises (or lowers) :data:`MAX_POWER_W`
MAX_POWER_ENV = "GREENCI_MAX_POWER_W"
#: the most a cumulative energy meter may read, kWh (a petawatt-hour): above it the number is not a meter
MAX_METER_KWH = 1e12
#: the longest averaging period or interval a reader takes, s (a year and a day, greenci's longest span)
MAX_SPAN_S = MAX_DURATION_S


def max_power_w() -> float:
    """The plausibility bound for one power reading: ``GREENCI_MAX_POWER_W``, else :data:`MAX_POWER_W`."""
    raw = os.environ.get(MAX_POWER_ENV, "").strip()
    if not raw:
        return MAX_POWER_W
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise ConfigError(f"{MAX_POWER_ENV} {raw!r} must be a positive number of watts, e.g. 250000")
    return value


def check_power_w(value: float, *, path: str | None, row: int | None = None, column: str | None = None,
                  text: str | None = None) -> float:
    """``value`` when it is a plausible power reading (finite, 0 .. :func:`max_power_w` W), else a
    DataFormatError naming the file, row and column."""
    bound = max_power_w()
    if not (math.isfinite(value) and 0 <= value <= bound):
        shown = text if text is not None else f"{value:g} W"
        raise DataFormatError(f"{shown!r} is not a power reading: it must be a finite number of watts from 0 to "
                              f"{bound:g} (if this device really draws more, raise the bound with {MAX_POWER_ENV})",
                              path=path, row=row, column=column)
    return float(value)


def check_meter_kwh(value: float, *, path: str | None, row: int | None = None, column: str | None = None,
                    text: str | None = None) -> float:
    """``value`` when it is a plausible cumulative meter reading (finite, 0 .. :data:`MAX_METER_KWH` kWh)."""
    if not (math.isfinite(value) and 0 <= value <= MAX_METER_KWH):
        shown = text if text is not None else f"{value:g} kWh"
        raise DataFormatError(f"{shown!r} is not an energy meter reading: it must be a finite number of kWh from 0 "
                              f"to {MAX_METER_KWH:g}", path=path, row=row, column=column)
    return float(value)


def check_span_s(value: float, *, path: str | None, row: int | None = None, column: str | None = None,
                 text: str | None = None, most_s: float = MAX_SPAN_S) -> float:
    """``value`` when it is a plausible duration in seconds (finite, 0 .. ``most_s``)."""
    if not (math.isfinite(value) and 0 <= value <= most_s):
        shown = text if text is not None else f"{value:g} s"
        raise DataFormatError(f"{shown!r} is not a duration greenci takes: it must be a finite number of seconds "
                              f"from 0 to {most_s:g}", path=path, row=row, column=column)
    return float(value)


def utc_datetime(value: object, *, where: str = "time") -> datetime:
    """An aware UTC datetime from a datetime, datetime64, epoch seconds or ISO 8601 text (naive = UTC)."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, bool):
        raise InputError(f"{where} {value!r} is not a time: use ISO 8601, e.g. 2024-03-01T12:00:00Z")
    if isinstance(value, (int, float)) and math.isfinite(value):
        try:
            return datetime.fromtimestamp(float(value), UTC)
        except (OverflowError, OSError, ValueError):
            raise InputError(f"{where} {value!r} is not a time: epoch seconds out of range (milliseconds?), "
                             "e.g. 1709294400 or 2024-03-01T12:00:00Z") from None
    if isinstance(value, np.datetime64):
        if np.isnat(value):
            raise InputError(f"{where} is NaT: give a time")
        ns = int(value.astype("datetime64[ns]").astype(np.int64))
        return datetime.fromtimestamp(ns / 1e9, UTC)
    if isinstance(value, str):
        text = value.strip()
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            parsed = None
        if parsed is not None:
            try:
                return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
            except OverflowError:
                pass
    raise InputError(f"{where} {value!r} is not a time: use ISO 8601, e.g. 2024-03-01T12:00:00Z")


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _check_number(name: str, value: float | None, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise InputError(f"{where}: {name} {value!r} is not a number")
    v = float(value)
    if not math.isfinite(v) or v < 0:
        raise InputError(f"{where}: {name} {v} must be a finite number >= 0")
    return v


@dataclass(frozen=True)
class EnergyRecord:
    """Energy or power of one resource: an interval, a power reading or a meter reading (see module doc).

    ``source`` names the reader (``greenci-measure``, ``ipmi-dcmi``, ``redfish``, ``pdu-csv``, ...),
    ``resource_id`` the thing measured (host, chassis, PDU outlet, command), ``component`` the part
    (``cpu``, ``ram``, ``gpu``, ``total``, ``psu``...), ``method`` how the number was obtained.
    """

    source: str
    resource_id: str
    start: datetime
    end: datetime
    energy_kwh: float | None = None
    power_w: float | None = None
    meter_kwh: float | None = None
    component: str = "total"
    method: str = ""

    def __post_init__(self) -> None:
        where = f"energy record {self.source}:{self.resource_id}"
        object.__setattr__(self, "start", utc_datetime(self.start, where=where + " start"))
        object.__setattr__(self, "end", utc_datetime(self.end, where=where + " end"))
        for name in ("energy_kwh", "power_w", "meter_kwh"):
            object.__setattr__(self, name, _check_number(name, getattr(self, name), where))
        if not self.source or not self.resource_id:
            raise InputError(f"{where}: source and resource_id must be non-empty")
        if self.end < self.start:
            raise InputError(f"{where}: end {_iso(self.end)} is before start {_iso(self.start)}")
        if self.end > self.start:
            if self.energy_kwh is None:
                raise InputError(f"{where}: an interval record ({_iso(self.start)} .. {_iso(self.end)}) needs "
                                 "energy_kwh")
        elif self.energy_kwh is not None:
            raise InputError(f"{where}: energy_kwh needs an interval (start < end); a reading at one instant "
                             "gives power_w or meter_kwh")
        elif self.power_w is None and self.meter_kwh is None:
            raise InputError(f"{where}: a reading at {_iso(self.start)} needs power_w or meter_kwh")

    @property
    def is_interval(self) -> bool:
        """True for an energy interval, False for an instantaneous (power or meter) reading."""
        return self.end > self.start

    @property
    def duration_s(self) -> float:
        return (self.end - self.start).total_seconds()


@dataclass(frozen=True)
class UsageRecord:
    """A utilisation measure of one resource over ``[start, end)`` (``start == end``: a point sample).

    ``aggregation`` says what ``value`` is: Gnocchi's aggregation method (``mean``, ``rate:mean``...)
    or Ceilometer's counter type (``cumulative``, ``gauge``, ``delta``).
    """

    source: str
    resource_id: str
    metric: str
    start: datetime
    end: datetime
    value: float
    unit: str = ""
    aggregation: str = ""

    def __post_init__(self) -> None:
        where = f"usage record {self.source}:{self.resource_id}:{self.metric}"
        object.__setattr__(self, "start", utc_datetime(self.start, where=where + " start"))
        object.__setattr__(self, "end", utc_datetime(self.end, where=where + " end"))
        if isinstance(self.value, bool) or not isinstance(self.value, (int, float, np.floating, np.integer)):
            raise InputError(f"{where}: value {self.value!r} is not a number")
        object.__setattr__(self, "value", float(self.value))
        if not self.source or not self.resource_id or not self.metric:
            raise InputError(f"{where}: source, resource_id and metric must be non-empty")
        if self.end < self.start:
            raise InputError(f"{where}: end {_iso(self.end)} is before start {_iso(self.start)}")


Record = EnergyRecord | UsageRecord


# ====================================================================== readings -> intervals
Key = tuple[str, str, str]
Span = tuple[datetime, datetime]


def to_intervals(records: Iterable[EnergyRecord], *, max_gap_s: float | None = None) -> list[EnergyRecord]:
    """Interval records from readings and intervals, each stretch of time of a resource counted once.

    Records are grouped by (source, resource_id, component): one device. Within a group:

    1. **Meter differences.** Between two consecutive meter readings the energy is their difference
       (a counter that falls was reset: that stretch is left to step 3).
    2. **Intervals given by the device** (a BMC's average over its sampling period, Redfish
       ``PowerMetrics``) are kept whole where no meter difference covers them. Two of them that overlap
       would count the same energy twice: in order of their end, one that overlaps an interval kept
       before it is left out.
    3. **Trapezoid of power readings**, only over what steps 1 and 2 do not cover: between two
       consecutive power readings the power is taken as linear, and each uncovered part of the span
       gets the trapezoid of that line.

    Why this order: a meter and a device's own average are exact over their span, two instantaneous
    readings are a guess in between. So with ``ipmitool dcmi power reading`` logged every 10 minutes
    whose BMC averages over 10 minutes, the averages count and the trapezoids between the readings are
    left out; with averages over 1 second, the trapezoids count except for those seconds.

    A span between readings longer than ``max_gap_s`` is a gap and is left out, never bridged.
    """
    if max_gap_s is not None and not (isinstance(max_gap_s, (int, float)) and math.isfinite(max_gap_s)
                                      and max_gap_s > 0):
        raise InputError(f"max_gap_s {max_gap_s!r} must be a positive number of seconds", field="max_gap_s")
    given: dict[Key, list[EnergyRecord]] = {}
    power: dict[Key, list[EnergyRecord]] = {}
    meter: dict[Key, list[EnergyRecord]] = {}
    for r in records:
        key = (r.source, r.resource_id, r.component)
        if r.is_interval:
            given.setdefault(key, []).append(r)
            continue
        if r.meter_kwh is not None:
            meter.setdefault(key, []).append(r)
        if r.power_w is not None:
            power.setdefault(key, []).append(r)
    out: list[EnergyRecord] = []
    for key in {*given, *power, *meter}:
        metered = _meter_differences(key, meter.get(key, []), max_gap_s)
        kept = _without_overlaps(given.get(key, []), [(r.start, r.end) for r in metered])
        cover = _merge([(r.start, r.end) for r in metered], [(r.start, r.end) for r in kept])
        out += metered + kept + _trapezoids(key, power.get(key, []), cover, max_gap_s)
    out.sort(key=lambda r: (r.source, r.resource_id, r.component, r.start))
    return out


def _consecutive(readings: list[EnergyRecord], max_gap_s: float | None) -> Iterable[tuple[EnergyRecord,
                                                                                          EnergyRecord, float]]:
    ordered = sorted(readings, key=lambda r: r.start)
    for a, b in zip(ordered, ordered[1:], strict=False):
        span = (b.start - a.start).total_seconds()
        if span > 0 and (max_gap_s is None or span <= max_gap_s):
            yield a, b, span


def _method(first: EnergyRecord, how: str) -> str:
    return (first.method + "; " if first.method else "") + how


def _meter_differences(key: Key, readings: list[EnergyRecord], max_gap_s: float | None) -> list[EnergyRecord]:
    out = []
    for a, b, span in _consecutive(readings, max_gap_s):
        assert a.meter_kwh is not None and b.meter_kwh is not None
        if b.meter_kwh < a.meter_kwh:
            continue  # counter reset
        kwh = b.meter_kwh - a.meter_kwh
        out.append(EnergyRecord(source=key[0], resource_id=key[1], start=a.start, end=b.start, energy_kwh=kwh,
                                power_w=kwh * 3.6e6 / span, component=key[2], method=_method(a, "meter difference")))
    return out


def _without_overlaps(intervals: list[EnergyRecord], taken: list[Span]) -> list[EnergyRecord]:
    """Intervals in order of their end, each kept unless it overlaps ``taken`` or one kept before it."""
    starts = [a for a, _b in taken]
    kept: list[EnergyRecord] = []
    for r in sorted(intervals, key=lambda r: (r.end, r.start)):
        if kept and r.start < kept[-1].end:
            continue
        i = bisect.bisect_left(starts, r.end)
        if i > 0 and taken[i - 1][1] > r.start:
            continue  # the taken span starting last before r ends reaches into r (taken spans are disjoint)
        kept.append(r)
    return kept


def _merge(*sorted_spans: list[Span]) -> list[Span]:
    out: list[Span] = []
    for a, b in heapq.merge(*sorted_spans):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def _free(a: datetime, b: datetime, cover: list[Span], starts: list[datetime]) -> list[Span]:
    """The parts of ``[a, b]`` that no span of ``cover`` (disjoint, sorted) covers."""
    out = []
    i = max(bisect.bisect_right(starts, a) - 1, 0)
    t = a
    while i < len(cover) and cover[i][0] < b:
        c0, c1 = cover[i]
        if c1 > t:
            if c0 > t:
                out.append((t, c0))
            t = max(t, c1)
        i += 1
    if t < b:
        out.append((t, b))
    return out


def _trapezoids(key: Key, readings: list[EnergyRecord], cover: list[Span],
                max_gap_s: float | None) -> list[EnergyRecord]:
    starts = [c[0] for c in cover]
    out = []
    for a, b, span in _consecutive(readings, max_gap_s):
        assert a.power_w is not None and b.power_w is not None
        slope = (b.power_w - a.power_w) / span
        for u, v in _free(a.start, b.start, cover, starts):
            seconds = (v - u).total_seconds()
            if seconds <= 0:
                continue
            mean_w = max(a.power_w + slope * ((u - a.start).total_seconds() + seconds / 2), 0.0)
            out.append(EnergyRecord(source=key[0], resource_id=key[1], start=u, end=v,
                                    energy_kwh=mean_w * seconds / 3.6e6, power_w=mean_w, component=key[2],
                                    method=_method(a, "trapezoid of power readings")))
    return out


def total_energy_kwh(records: Iterable[EnergyRecord]) -> float:
    """Sum of the interval records' energy (readings carry no energy of their own)."""
    return float(sum(r.energy_kwh or 0.0 for r in records if r.is_interval))


# ====================================================================== rows and files
def records_to_rows(records: Sequence[Record]) -> tuple[list[str], list[dict[str, Any]]]:
    """Column names and plain rows (times as ISO 8601 with Z, None as empty) of one record type."""
    if not records:
        return [], []
    kinds = {type(r) for r in records}
    if len(kinds) > 1:
        raise InputError("energy and usage records cannot share one table: write them to separate files")
    cls = kinds.pop()
    names = [f.name for f in fields(cls)]
    rows = []
    for r in records:
        row: dict[str, Any] = {}
        for n in names:
            v = getattr(r, n)
            row[n] = _iso(v) if isinstance(v, datetime) else v
        rows.append(row)
    return names, rows


_REQUIRED = ("source", "resource_id", "start", "end")
_CHECKS = {"energy_kwh": check_meter_kwh, "meter_kwh": check_meter_kwh, "power_w": check_power_w}


def _from_row(row: dict[str, Any], where: str, number: int) -> Record:
    def num(key: str) -> float | None:
        v = row.get(key)
        if v is None or v == "" or (isinstance(v, float) and math.isnan(v)):
            return None
        try:
            value = float(v)
        except (TypeError, ValueError):
            raise DataFormatError(f"{str(v)[:40]!r} is not a number", path=where, row=number, column=key) from None
        check = _CHECKS.get(key)
        if check is not None:
            return check(value, path=where, row=number, column=key, text=str(v)[:40])
        if not math.isfinite(value):
            raise DataFormatError(f"{str(v)[:40]!r} is not a finite number", path=where, row=number, column=key)
        return value

    for key in _REQUIRED:
        if row.get(key) in (None, ""):
            raise DataFormatError("is empty: every record has a source, resource_id, start and end", path=where,
                                  row=number, column=key)
    try:
        if "metric" in row:
            value = num("value")
            if value is None:
                raise DataFormatError("is empty", path=where, row=number, column="value")
            return UsageRecord(source=str(row["source"]), resource_id=str(row["resource_id"]),
                               metric=str(row["metric"]), start=row["start"], end=row["end"], value=value,
                               unit=str(row.get("unit") or ""), aggregation=str(row.get("aggregation") or ""))
        return EnergyRecord(source=str(row["source"]), resource_id=str(row["resource_id"]), start=row["start"],
                            end=row["end"], energy_kwh=num("energy_kwh"), power_w=num("power_w"),
                            meter_kwh=num("meter_kwh"), component=str(row.get("component") or "total"),
                            method=str(row.get("method") or ""))
    except DataFormatError:
        raise
    except InputError as exc:
        raise DataFormatError(str(exc), path=where, row=number) from None


def read_records(path: str | os.PathLike[str]) -> list[Record]:
    """Records back from a CSV or Parquet file written by :class:`CsvSink` / :class:`ParquetSink`.

    A CSV file is sniffed first (:mod:`greenci.energy.sniff`); every value is checked as the readers
    check theirs (power within :func:`max_power_w`, energy and meters finite and not negative), and a bad
    row is refused with its number and column.
    """
    from greenci.energy.sniff import lines, open_text

    p = Path(path)
    where = str(p)
    if p.suffix.lower() == ".parquet":
        if not p.is_file():
            raise InputError(f"{p}: no such file: check the path")
        missing = [c for c in _REQUIRED if c not in _parquet_columns(p)]
        if missing:
            raise DataFormatError(f"columns {missing} are missing: not a greenci records file", path=where)
        return [_from_row(row, where, i + 1) for i, row in enumerate(_parquet_table(p).to_pylist())]
    out: list[Record] = []
    with open_text(p, fmt="a greenci records file (CSV)") as (fh, _head):
        reader = csv.DictReader(lines(fh, where, keep_ends=True))
        try:
            columns = list(reader.fieldnames or [])
            missing = [c for c in _REQUIRED if c not in columns]
            if missing:
                raise DataFormatError(f"columns {missing} are missing: not a greenci records file", path=where)
            for row in reader:
                if None in row:
                    raise DataFormatError(f"has more cells than the header's {len(columns)}", path=where,
                                          row=reader.line_num)
                if any(v is None for v in row.values()):
                    raise DataFormatError(f"has fewer cells than the header's {len(columns)}: the row is cut short",
                                          path=where, row=reader.line_num)
                out.append(_from_row(row, where, reader.line_num))
        except csv.Error as exc:
            raise DataFormatError(f"is not CSV from line {reader.line_num} on ({exc})", path=where) from None
    return out


@runtime_checkable
class RecordSink(Protocol):
    """Where records go: a file, or (later) the greenci service store. One method, ``write``."""

    def write(self, records: Sequence[Record]) -> None:
        """Persist ``records`` (all of one type); raise a GreenciError if that is impossible."""
        ...


def _csv_text(names: list[str], rows: list[dict[str, Any]], *, header: bool) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=names)
    if header:
        writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def _csv_columns(path: Path) -> list[str]:
    """The header of an existing CSV file (its first line)."""
    with path.open(newline="", encoding="utf-8", errors="replace") as fh:
        first = fh.readline(65536)
    return next(csv.reader([first]), []) if first.strip() else []


def _ends_with_newline(path: Path) -> bool:
    with path.open("rb") as fh:
        fh.seek(-1, os.SEEK_END)
        return fh.read(1) in (b"\n", b"\r")


class CsvSink:
    """Records to a CSV file; with ``append`` (default) later writes add rows under the same header.

    Appending is what a CI log of many measured runs needs; a file whose header differs is refused
    rather than mixed. A new file is written whole (temporary name, then rename); rows added to an
    existing file go in one ``O_APPEND`` write, so the rows already there are never rewritten and two
    runs appending at once do not interleave.
    """

    def __init__(self, path: str | os.PathLike[str], *, append: bool = True) -> None:
        self.path = Path(path)
        self.append = append
        self._written = False

    def write(self, records: Sequence[Record]) -> None:
        names, rows = records_to_rows(list(records))
        if not names:
            return
        exists = self.path.is_file() and self.path.stat().st_size > 0
        keep = exists and (self.append or self._written)
        if keep:
            header = _csv_columns(self.path)
            if header != names:
                raise InputError(f"{self.path}: has columns {header}, these records have {names}: write to "
                                 "another file")
            text = _csv_text(names, rows, header=False)
            append_line(self.path, text if _ends_with_newline(self.path) else "\r\n" + text)
        else:
            write_text(self.path, _csv_text(names, rows, header=True))
        self._written = True

    def __repr__(self) -> str:
        return f"CsvSink({str(self.path)!r}, append={self.append})"


class ParquetSink:
    """Records to a Parquet file (needs pyarrow: ``pip install greenci[parquet]``).

    Parquet files cannot grow in place, so ``append`` rewrites the file with the old rows first; the new
    file replaces the old one in one rename, so a failure leaves the old file as it was.
    """

    def __init__(self, path: str | os.PathLike[str], *, append: bool = True) -> None:
        self.path = Path(path)
        self.append = append
        self._written = False

    def write(self, records: Sequence[Record]) -> None:
        pq = _parquet_module("write")
        import pyarrow as pa

        names, rows = records_to_rows(list(records))
        if not names:
            return
        if self.path.is_file() and (self.append or self._written):
            old = _parquet_table(self.path)
            if old.column_names != names:
                raise InputError(f"{self.path}: has columns {old.column_names}, these records have {names}: "
                                 "write to another file")
            rows = old.to_pylist() + rows
        table = pa.Table.from_pylist(rows, schema=_arrow_schema(names))
        with atomic_path(self.path) as tmp:
            pq.write_table(table, tmp)
        self._written = True

    def __repr__(self) -> str:
        return f"ParquetSink({str(self.path)!r}, append={self.append})"


def _parquet_table(path: Path) -> Any:
    pq = _parquet_module("read")
    import pyarrow as pa

    try:
        return pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise DataFormatError(f"cannot be read as Parquet ({exc}): greenci appends only to its own records "
                              "files: write to another file", path=str(path)) from None


def _parquet_columns(path: Path) -> list[str]:
    pq = _parquet_module("read")
    import pyarrow as pa

    try:
        return list(pq.read_schema(path).names)
    except (pa.ArrowException, OSError) as exc:
        raise DataFormatError(f"cannot be read as Parquet ({exc}): greenci appends only to its own records "
                              "files: write to another file", path=str(path)) from None


def check_records_file(path: str | os.PathLike[str], *, field: str,
                       kind: type[EnergyRecord] | type[UsageRecord] = EnergyRecord) -> Path:
    """Fail now, naming ``field``, if records of ``kind`` cannot be written (or appended) to ``path``.

    Run it before the work: the suffix (``.csv`` or ``.parquet``), a writable place, pyarrow for
    Parquet, and an existing file's columns are checked, so no reading or measuring is lost to a typo.
    """
    p = check_file(Path(path), field=field, suffixes=(".csv", ".parquet"))
    parquet = p.suffix.lower() == ".parquet"
    if parquet:
        _parquet_module("write")
    if p.is_file() and p.stat().st_size > 0:
        names = [f.name for f in fields(kind)]
        columns = _parquet_columns(p) if parquet else _csv_columns(p)
        if columns != names:
            raise InputError(f"{field} {p}: the file has columns {columns}, not those of greenci's "
                             f"{kind.__name__}s ({', '.join(names)}): write to another file", field=field)
    return p


def _arrow_schema(names: list[str]) -> Any:
    import pyarrow as pa

    floats = {"energy_kwh", "power_w", "meter_kwh", "value"}
    return pa.schema([(n, pa.float64() if n in floats else pa.string()) for n in names])


def _parquet_module(what: str) -> Any:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise ConfigError(f"Parquet needs pyarrow to {what}: pip install 'greenci[parquet]', or use a .csv file") \
            from None
    return pq


def open_sink(path: str | os.PathLike[str] | None = None, *, store: RecordSink | None = None,
              append: bool = True) -> RecordSink:
    """The sink for records: the service ``store`` when one is given, else a file by its suffix.

    ``store`` is the seam for the greenci service (any object with ``write(records)``); ``.parquet``
    gives a :class:`ParquetSink`, ``.csv`` a :class:`CsvSink`.
    """
    if store is not None:
        if not isinstance(store, RecordSink):
            raise InputError(f"store {store!r} has no write(records) method: pass a RecordSink")
        return store
    if path is None:
        raise InputError("records need somewhere to go: give a .csv or .parquet file")
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix == ".parquet":
        return ParquetSink(p, append=append)
    if suffix == ".csv":
        return CsvSink(p, append=append)
    raise InputError(f"{p}: records are written as .csv or .parquet, not {suffix or 'a file without suffix'}")


def rows_to_csv_text(records: Sequence[Record]) -> str:
    """Records as CSV text (for printing to stdout)."""
    names, rows = records_to_rows(list(records))
    buf = io.StringIO()
    if names:
        writer = csv.DictWriter(buf, fieldnames=names, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return buf.getvalue()
