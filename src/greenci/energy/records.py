"""Energy and usage records: what every energy reader returns, and where records are written.

Why one pair of record types: a ``greenci measure`` run, an ``ipmitool`` log, a Redfish snapshot, a PDU
export and an OpenStack Gnocchi series all become the same frozen records before anything else sees
them, so accounting, reports and the (future) service never know which device a number came from.

:class:`EnergyRecord` is one of three things, told apart by its fields:

* an **interval**: ``start < end`` and ``energy_kwh`` over ``[start, end)`` (``power_w`` is the mean);
* a **power reading**: ``start == end`` and an instantaneous ``power_w``;
* a **meter reading**: ``start == end`` and ``meter_kwh``, the cumulative value of an energy counter.

:func:`to_intervals` turns readings into intervals (trapezoid between power readings, differences between
meter readings) and never bridges a gap longer than ``max_gap_s``: a missing stretch stays missing.

:class:`UsageRecord` is a utilisation measure (CPU nanoseconds, memory MB, ...) of one resource over
``[start, end)`` (``start == end`` for a point sample), as Gnocchi and Ceilometer report them.

Sinks: :class:`RecordSink` is the one-method protocol (``write(records)``) every destination implements.
:class:`CsvSink` and :class:`ParquetSink` are the file sinks. **Service seam:** the greenci service store
does not exist yet; when it does, it implements :class:`RecordSink` (e.g. a ``StoreSink(store)`` in
``greenci.service``) and is passed wherever a sink is taken (``open_sink(path, store=...)``,
``measure(sink=...)``). Nothing here pretends to write to it.
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from greenci.accounting import energy_kwh as _trapezoid_kwh
from greenci.errors import ConfigError, DataFormatError, InputError

__all__ = [
    "CsvSink",
    "EnergyRecord",
    "ParquetSink",
    "RecordSink",
    "UsageRecord",
    "open_sink",
    "read_records",
    "records_to_rows",
    "rows_to_csv_text",
    "to_intervals",
    "total_energy_kwh",
    "utc_datetime",
]


def utc_datetime(value: object, *, where: str = "time") -> datetime:
    """An aware UTC datetime from a datetime, datetime64, epoch seconds or ISO 8601 text (naive = UTC)."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, bool):
        raise InputError(f"{where} {value!r} is not a time: use ISO 8601, e.g. 2024-03-01T12:00:00Z")
    if isinstance(value, (int, float)) and math.isfinite(value):
        return datetime.fromtimestamp(float(value), UTC)
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
            return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
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
def to_intervals(records: Iterable[EnergyRecord], *, max_gap_s: float | None = None) -> list[EnergyRecord]:
    """Interval records from readings; intervals pass through unchanged.

    Readings are grouped by (source, resource_id, component) and sorted by time. Between two
    consecutive meter readings the energy is their difference (a counter that falls was reset: that
    interval is left out); between two power readings it is the trapezoid. An interval longer than
    ``max_gap_s`` is a gap and is left out, never bridged.
    """
    out: list[EnergyRecord] = []
    groups: dict[tuple[str, str, str], list[EnergyRecord]] = {}
    for r in records:
        if r.is_interval:
            out.append(r)
        else:
            groups.setdefault((r.source, r.resource_id, r.component), []).append(r)
    for (source, resource, component), group in groups.items():
        group.sort(key=lambda r: r.start)
        for a, b in zip(group, group[1:], strict=False):
            span = (b.start - a.start).total_seconds()
            if span <= 0 or (max_gap_s is not None and span > max_gap_s):
                continue
            if a.meter_kwh is not None and b.meter_kwh is not None:
                if b.meter_kwh < a.meter_kwh:
                    continue  # counter reset
                kwh = b.meter_kwh - a.meter_kwh
                method = "meter difference"
            elif a.power_w is not None and b.power_w is not None:
                kwh = _trapezoid_kwh(np.array([0.0, span]), np.array([a.power_w, b.power_w]))
                method = "trapezoid of power readings"
            else:
                continue
            out.append(EnergyRecord(source=source, resource_id=resource, start=a.start, end=b.start,
                                    energy_kwh=kwh, power_w=kwh * 3.6e6 / span, component=component,
                                    method=(a.method + "; " if a.method else "") + method))
    out.sort(key=lambda r: (r.source, r.resource_id, r.component, r.start))
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


def _from_row(row: dict[str, Any], where: str) -> Record:
    def num(key: str) -> float | None:
        v = row.get(key)
        if v is None or v == "" or (isinstance(v, float) and math.isnan(v)):
            return None
        try:
            return float(v)
        except (TypeError, ValueError):
            raise DataFormatError(f"{key} {v!r} is not a number", path=where, column=key) from None

    if "metric" in row:
        value = num("value")
        if value is None:
            raise DataFormatError("value is empty", path=where, column="value")
        return UsageRecord(source=str(row["source"]), resource_id=str(row["resource_id"]), metric=str(row["metric"]),
                           start=row["start"], end=row["end"], value=value, unit=str(row.get("unit") or ""),
                           aggregation=str(row.get("aggregation") or ""))
    return EnergyRecord(source=str(row["source"]), resource_id=str(row["resource_id"]), start=row["start"],
                        end=row["end"], energy_kwh=num("energy_kwh"), power_w=num("power_w"),
                        meter_kwh=num("meter_kwh"), component=str(row.get("component") or "total"),
                        method=str(row.get("method") or ""))


def read_records(path: str | os.PathLike[str]) -> list[Record]:
    """Records back from a CSV or Parquet file written by :class:`CsvSink` / :class:`ParquetSink`."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no such file: check the path")
    if p.suffix.lower() == ".parquet":
        rows = _parquet_module("read").read_table(p).to_pylist()
    else:
        with p.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
    out = []
    for i, row in enumerate(rows):
        missing = [c for c in ("source", "resource_id", "start", "end") if c not in row]
        if missing:
            raise DataFormatError(f"columns {missing} are missing: not a greenci records file", path=str(p))
        out.append(_from_row(row, f"{p} row {i + 2}"))
    return out


@runtime_checkable
class RecordSink(Protocol):
    """Where records go: a file, or (later) the greenci service store. One method, ``write``."""

    def write(self, records: Sequence[Record]) -> None:
        """Persist ``records`` (all of one type); raise a GreenciError if that is impossible."""
        ...


class CsvSink:
    """Records to a CSV file; with ``append`` (default) later writes add rows under the same header.

    Appending is what a CI log of many measured runs needs; a file whose header differs is refused
    rather than mixed.
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
            with self.path.open(newline="", encoding="utf-8") as fh:
                header = next(csv.reader(fh), [])
            if header != names:
                raise InputError(f"{self.path}: has columns {header}, these records have {names}: write to "
                                 "another file")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a" if keep else "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=names)
            if not keep:
                writer.writeheader()
            writer.writerows(rows)
        self._written = True

    def __repr__(self) -> str:
        return f"CsvSink({str(self.path)!r}, append={self.append})"


class ParquetSink:
    """Records to a Parquet file (needs pyarrow: ``pip install greenci[parquet]``).

    Parquet files cannot grow in place, so ``append`` rewrites the file with the old rows first.
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
            old = pq.read_table(self.path)
            if old.column_names != names:
                raise InputError(f"{self.path}: has columns {old.column_names}, these records have {names}: "
                                 "write to another file")
            rows = old.to_pylist() + rows
        self.path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pylist(rows, schema=_arrow_schema(names)), self.path)
        self._written = True

    def __repr__(self) -> str:
        return f"ParquetSink({str(self.path)!r}, append={self.append})"


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
