"""Ceilometer v2 samples (``GET /v2/meters/{meter}``): the telemetry API before Gnocchi.

Ceilometer's own v2 API was removed in the Queens release (2018) in favour of Gnocchi; older clouds
still run it. A sample is ``{"counter_name", "counter_type", "counter_unit", "counter_volume",
"resource_id", "timestamp", "project_id", "user_id", "message_id", "recorded_at", "source",
"resource_metadata"}``; each becomes a point :class:`~greenci.energy.records.UsageRecord` with
``aggregation`` = the counter type (``cumulative``, ``gauge`` or ``delta``). Filters are Ceilometer's
query triples, ``q.field`` / ``q.op`` / ``q.value`` repeated. Authentication is Keystone's, shared
with :mod:`~greenci.energy.gnocchi` (Ceilometer is type ``metering`` in the catalog).

Power and energy (:func:`samples_to_energy`, :func:`read_ceilometer` for a saved body): both sample
shapes are read, ``/v2/meters/{meter}`` (``counter_name``, ``counter_unit``, ``counter_volume``,
``counter_type``, ``resource_metadata``) and ``/v2/samples`` (``meter``, ``unit``, ``volume``, ``type``,
``metadata``). The unit decides what a sample is, never the name alone (``power.state`` is a VM's
power state, not watts): ``W``/``kW``/``mW``/``MW`` are power readings at the sample's time;
``kWh``/``Wh``/``J``/``kJ``/``MJ`` are energy counters (``cumulative`` or ``gauge``: differences of
consecutive samples of one resource, a fall is a reset and that stretch is left out; ``delta``: the energy
since the resource's previous sample). Every other meter (``cpu`` in ns, ``memory.usage`` in MB,
``hardware.ipmi.current`` in A) is skipped, and a body with no power or energy sample is refused, naming
the meters it holds. A sample's time is its ``timestamp`` (naive times are UTC, as Ceilometer writes
them), else its ``recorded_at`` (the record's ``method`` says so). The scope comes from the meter name
(``hardware.ipmi.node.power``, ``compute.node.power``, ``power``: ``total``; ``...cpu...``: ``cpu``) and,
for IPMI sensor meters (``hardware.ipmi.*`` with ``metadata.node``), from the sensor id
(``PS1 Input Power``: ``psu``), the resource then being ``NODE/SENSOR``. A null volume (a disabled
sensor) is skipped.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import httpx
import numpy as np

from greenci.energy.gnocchi import _AUTH_HINT, KeystoneAuth, _finite, _TokenClient, load_saved_json
from greenci.energy.records import EnergyRecord, UsageRecord, check_power_w, utc_datetime
from greenci.energy.telemetry_units import component_from_name, counter_intervals, energy_factor_kwh, power_factor_w
from greenci.errors import DataFormatError, InputError, SourceError
from greenci.http import USER_AGENT, HttpSession, require, require_list

__all__ = ["SOURCE", "CeilometerClient", "parse_samples", "read_ceilometer", "samples_to_energy"]

SOURCE = "ceilometer"


def parse_samples(body: Any, *, where: str = "ceilometer samples") -> list[UsageRecord]:
    """Usage records from a list of Ceilometer v2 samples; samples with a null volume are skipped."""
    out = []
    for i, s in enumerate(require_list(body, where)):
        at = f"{where} item {i}"
        volume = require(s, "counter_volume", at)
        if volume is None:
            continue
        if isinstance(volume, bool) or not isinstance(volume, (int, float)) or not math.isfinite(_finite(volume)):
            raise SourceError(f"{at}: counter_volume {str(volume)[:40]!r} is not a finite number")
        stamp = require(s, "timestamp", at)
        try:
            when = utc_datetime(stamp)
        except InputError:
            raise SourceError(f"{at}: timestamp {stamp!r} is not ISO 8601") from None
        try:
            out.append(UsageRecord(source=SOURCE, resource_id=str(require(s, "resource_id", at)),
                                   metric=str(require(s, "counter_name", at)), start=when, end=when,
                                   value=float(volume), unit=str(s.get("counter_unit") or ""),
                                   aggregation=str(s.get("counter_type") or "")))
        except InputError as exc:
            raise SourceError(f"{at}: {exc}") from None
    out.sort(key=lambda r: (r.resource_id, r.metric, r.start))
    return out


_FORMAT = "a saved Ceilometer samples body (a JSON list from /v2/samples or /v2/meters/<name>)"
#: the two sample shapes: (name, unit, volume, type, metadata) keys of /v2/meters/<name> and of /v2/samples
_SHAPES = (("counter_name", "counter_unit", "counter_volume", "counter_type", "resource_metadata"),
           ("meter", "unit", "volume", "type", "metadata"))


def _shape(sample: Mapping[str, Any], at: str) -> tuple[str, str, str, str, str]:
    for keys in _SHAPES:
        if keys[0] in sample:
            return keys
    raise DataFormatError(f"{at}: has neither 'counter_name' (/v2/meters) nor 'meter' (/v2/samples): not a "
                          "Ceilometer sample")


def _when(sample: Mapping[str, Any], at: str) -> tuple[datetime, str]:
    """The sample's time and where it came from (``timestamp``, else ``recorded_at``)."""
    for key in ("timestamp", "recorded_at"):
        stamp = sample.get(key)
        if stamp in (None, ""):
            continue
        if not isinstance(stamp, str):
            raise DataFormatError(f"{at}: {key} {str(stamp)[:40]!r} is not ISO 8601 text")
        try:
            return utc_datetime(stamp), key
        except InputError:
            raise DataFormatError(f"{at}: {key} {stamp[:60]!r} is not ISO 8601, e.g. 2024-03-01T12:00:00") from None
    raise DataFormatError(f"{at}: has no timestamp and no recorded_at: a reading without a time cannot be placed; "
                          "save the body as the API returned it")


def _scope(sample: Mapping[str, Any], name: str, meta_key: str) -> tuple[str, str]:
    """``(resource_id, component)``: an IPMI sensor meter is ``NODE/SENSOR`` scoped by the sensor's name."""
    rid = str(sample.get("resource_id") or "")
    meta = sample.get(meta_key)
    meta = meta if isinstance(meta, Mapping) else {}
    node = str(meta.get("node") or "")
    sensor = str(meta.get("Sensor ID") or meta.get("sensor_id") or "")
    if not sensor and node and rid.startswith(node + "-"):
        sensor = rid[len(node) + 1:]
    if node and sensor:
        sensor = sensor.lower().replace(" ", "_")
        return f"{node}/{sensor}", component_from_name(sensor, name)
    return rid, component_from_name(name)


def _volume(value: object, at: str, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(_finite(value)):
        raise DataFormatError(f"{at}: {key} {str(value)[:40]!r} is not a finite number")
    return float(value)


def samples_to_energy(body: Any, *, where: str = "ceilometer samples") -> list[EnergyRecord]:
    """Power readings and interval energy from Ceilometer samples (either shape; see the module doc).

    Refused (:class:`~greenci.errors.DataFormatError`) when no sample is power or energy, naming the meters
    and units the body holds, or when every power sample is null.
    """
    if not isinstance(body, list):
        raise DataFormatError(f"expected a JSON list of samples, got {type(body).__name__}: {_FORMAT}", path=where)
    out: list[EnergyRecord] = []
    seen: dict[tuple[str, str], int] = {}
    nulls = 0
    counters: dict[tuple[str, str, str, str], list[tuple[datetime, float, str]]] = {}
    for i, s in enumerate(body):
        at = f"{where} item {i}"
        if not isinstance(s, Mapping):
            raise DataFormatError(f"{at}: {str(s)[:40]!r} is not a sample object")
        name_key, unit_key, volume_key, type_key, meta_key = _shape(s, at)
        name, unit = str(s.get(name_key) or ""), str(s.get(unit_key) or "")
        watts, kwh = power_factor_w(unit, where=f"{at}: {unit_key}"), energy_factor_kwh(unit, where=f"{at}: {unit_key}")
        if watts is None and kwh is None:
            seen[(name, unit)] = seen.get((name, unit), 0) + 1
            continue
        value = s.get(volume_key)
        if value is None:
            nulls += 1
            continue
        volume = _volume(value, at, volume_key)
        when, stamp_key = _when(s, at)
        rid, component = _scope(s, name, meta_key)
        if not rid:
            raise DataFormatError(f"{at}: resource_id is empty: every sample names its resource")
        method = f"ceilometer {name} ({unit})" + (", time from recorded_at" if stamp_key == "recorded_at" else "")
        if watts is not None:
            power = check_power_w(volume * watts, path=where, row=i, column=volume_key, text=f"{volume:g} {unit}")
            out.append(EnergyRecord(source=SOURCE, resource_id=rid, start=when, end=when, power_w=power,
                                    component=component, method=method))
        else:
            assert kwh is not None
            kind = str(s.get(type_key) or "cumulative")
            counters.setdefault((rid, component, name, kind), []).append((when, volume * kwh, method))
    for (rid, component, name, kind), points in counters.items():
        out += _counter_records(rid, component, kind, sorted(points, key=lambda p: p[0]), where, name)
    if not out:
        raise DataFormatError(_nothing_usable(len(body), seen, nulls, counters), path=where)
    out.sort(key=lambda r: (r.resource_id, r.component, r.start, r.end))
    return out


def _counter_records(rid: str, component: str, kind: str, points: list[tuple[datetime, float, str]], where: str,
                     name: str) -> list[EnergyRecord]:
    """Intervals of one energy meter: differences of a counter, or each delta since the previous sample."""
    t0 = points[0][0]
    secs = np.array([(p[0] - t0).total_seconds() for p in points])
    kwh = np.array([p[1] for p in points])
    if kind == "delta":
        if np.any(kwh < 0):
            raise DataFormatError(f"{name} of {rid}: a delta energy sample is negative: energy used is never "
                                  "negative", path=where)
        keep = np.flatnonzero(np.diff(secs) > 0)
        energy = kwh[1:][keep]
        method = "delta energy since the previous sample"
    else:
        keep, energy, _resets = counter_intervals(secs, kwh)
        method = "counter difference (a reset is left out)"
    return [EnergyRecord(source=SOURCE, resource_id=rid, start=t0 + timedelta(seconds=float(secs[k])),
                         end=t0 + timedelta(seconds=float(secs[k + 1])), energy_kwh=float(e),
                         power_w=float(e) * 3.6e6 / float(secs[k + 1] - secs[k]), component=component,
                         method=f"{points[k + 1][2]}: {method}")
            for k, e in zip(keep.tolist(), energy.tolist(), strict=True)]


def _nothing_usable(n: int, seen: Mapping[tuple[str, str], int], nulls: int,
                    counters: Mapping[tuple[str, str, str, str], Sequence[object]]) -> str:
    if not n:
        return "the body holds no sample at all: save the samples of a power meter (e.g. hardware.ipmi.node.power)"
    parts = []
    if nulls:
        parts.append(f"{nulls} power or energy samples have a null volume (a disabled sensor)")
    if counters:
        parts.append("an energy counter needs two samples of one resource at different times, got "
                     + ", ".join(f"{len(v)} of {k[2]} for {k[0]}" for k, v in counters.items()))
    if seen:
        parts.append("meters that are neither power nor energy: "
                     + ", ".join(f"{name or '?'} [{unit or 'no unit'}] x{count}"
                                 for (name, unit), count in sorted(seen.items())))
    return (f"no usable power or energy reading in {n} samples ({'; '.join(parts)}): give the samples of a power "
            "meter in W/kW (hardware.ipmi.node.power, power, compute.node.power) or an energy meter in kWh/J")


def read_ceilometer(path: str | os.PathLike[str]) -> list[EnergyRecord]:
    """Power and energy records from a saved ``/v2/samples`` or ``/v2/meters/<name>`` body (see the module doc)."""
    doc, where = load_saved_json(path, _FORMAT)
    if isinstance(doc, Mapping) and any(keys[0] in doc for keys in _SHAPES):
        doc = [doc]  # one sample saved on its own (GET /v2/samples/<id>)
    return samples_to_energy(doc, where=where)


class CeilometerClient(_TokenClient):
    """Samples of one meter from a Ceilometer v2 API; ``base_url`` defaults to the catalog's ``metering``."""

    name = "ceilometer"

    def __init__(self, base_url: str | None = None, auth: KeystoneAuth | None = None, *, interface: str = "public",
                 region: str | None = None, timeout_s: float = 10.0, retries: int = 1,
                 transport: httpx.BaseTransport | None = None, user_agent: str = USER_AGENT) -> None:
        if base_url is None:
            if auth is None:
                raise InputError("Ceilometer needs its URL (--url) or Keystone credentials to find it in the catalog")
            base_url = auth.endpoint("metering", interface=interface, region=region)
        http = HttpSession(base_url, label="ceilometer", timeout_s=timeout_s, retries=retries, transport=transport,
                           user_agent=user_agent, auth_hint=_AUTH_HINT)
        super().__init__(http, auth)

    def samples(self, meter: str, *, resource_id: str | None = None, start: object = None, stop: object = None,
                limit: int | None = None) -> list[UsageRecord]:
        """Samples of ``meter`` (``cpu``, ``memory.usage``, ``hardware.ipmi.node.power``...), filtered."""
        if not meter:
            raise InputError("give a meter name, e.g. cpu or memory.usage")
        params = self._query(resource_id, start, stop, limit)
        return parse_samples(self._call("GET", f"/v2/meters/{meter}", params=params),
                             where=f"ceilometer meter {meter}")

    @staticmethod
    def _query(resource_id: str | None, start: object, stop: object, limit: int | None) -> dict[str, Any]:
        """Ceilometer's query triples (``q.field`` / ``q.op`` / ``q.value``) and ``limit``."""
        triples: list[tuple[str, str, str]] = []
        if resource_id:
            triples.append(("resource_id", "eq", resource_id))
        if start is not None:
            triples.append(("timestamp", "ge", utc_datetime(start, where="--start").isoformat()))
        if stop is not None:
            triples.append(("timestamp", "lt", utc_datetime(stop, where="--stop").isoformat()))
        params: dict[str, Any] = {}
        if triples:
            params = {"q.field": [t[0] for t in triples], "q.op": [t[1] for t in triples],
                      "q.value": [t[2] for t in triples]}
        if limit is not None:
            params["limit"] = int(limit)
        return params

    def energy(self, meters: Sequence[str] = ("hardware.ipmi.node.power",), *, resource_id: str | None = None,
               start: object = None, stop: object = None, limit: int | None = None) -> list[EnergyRecord]:
        """Power readings and energy intervals of power / energy ``meters`` (see :func:`samples_to_energy`)."""
        if not meters:
            raise InputError("give at least one power or energy meter, e.g. hardware.ipmi.node.power", field="meter")
        body: list[Any] = []
        for meter in meters:
            params = self._query(resource_id, start, stop, limit)
            body += require_list(self._call("GET", f"/v2/meters/{meter}", params=params),
                                 f"ceilometer meter {meter}")
        try:
            return samples_to_energy(body, where=f"ceilometer meters {', '.join(meters)}")
        except DataFormatError as exc:
            raise SourceError(str(exc)) from None
