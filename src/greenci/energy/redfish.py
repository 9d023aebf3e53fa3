"""Redfish power and energy: the legacy ``Power`` resource and the newer ``PowerSubsystem`` model.

Shapes read (DMTF Redfish schemas):

* ``/redfish/v1/Chassis/{id}/Power`` (``#Power.v1_x``, deprecated but common): ``PowerControl[]`` with
  ``PowerConsumedWatts`` (a power reading) and ``PowerMetrics {IntervalInMin, AverageConsumedWatts}``
  (an interval: the average over the last ``IntervalInMin`` minutes); ``PowerSupplies[].PowerInputWatts``.
* ``/redfish/v1/Chassis/{id}/EnvironmentMetrics``: ``PowerWatts.Reading`` (W) and ``EnergykWh.Reading``
  (a cumulative meter, kWh).
* ``/redfish/v1/Chassis/{id}/PowerSubsystem`` -> ``PowerSupplies`` -> ``{psu}/Metrics``
  (``#PowerSupplyMetrics``): ``InputPowerWatts.Reading`` and ``EnergykWh.Reading`` per supply.
* ``/redfish/v1/Chassis/{id}/Sensors/{sensor}`` (``#Sensor``): ``ReadingType`` ``Power`` (W, or the
  ``ReadingUnits`` kW / mW), ``EnergykWh``/``EnergyWh``/``EnergyJoules`` (meters), with ``ReadingTime``
  when the service gives it. Its scope comes from ``PhysicalContext`` (``PowerSupply`` -> ``psu``, ``CPU``
  -> ``cpu``, ``Memory`` -> ``ram``, ``GPU``), else from its id (``PS1InputPower`` -> ``psu``, see
  :mod:`greenci.energy.scopes`); a sensor of another part (a fan) is skipped, never taken as ``total``.
* TelemetryService ``MetricReport`` and ``PowerEquipment`` rack PDUs (mains, branch circuits, outlets):
  :mod:`greenci.energy.redfish_telemetry`. A file may hold the report's ``MetricReportDefinition`` or
  ``MetricDefinition`` resources beside it (a JSON array): they give the units; alone they are refused.
* A collection expanded with ``$expand`` (``Members`` holding resources): each member.

A sensor, supply, outlet or circuit whose ``Status.State`` is ``Disabled``, ``Absent`` or
``UnavailableOffline`` is skipped; when nothing is left the file is refused, naming what was skipped.

Readings carry no time except a Sensor's ``ReadingTime``, so each is stamped ``at``: the HTTP
response's ``Date`` for live reads, the file's modification time for saved JSON, or what you pass.
Two snapshots of a meter become energy with :func:`greenci.energy.records.to_intervals`.

Every number read is checked, and a bad one is refused with the file and the JSON path of the value
(``PowerControl/0/PowerConsumedWatts``): watts must be finite, from 0 to
:func:`~greenci.energy.records.max_power_w`; meters finite and not negative; ``IntervalInMin`` a finite
positive duration; a value of the wrong type (text, an object) where a number belongs is refused too,
``null`` is "no reading". A file is sniffed first: it must be text starting with ``{`` or ``[`` and at
most :data:`MAX_JSON_BYTES`; ``NaN`` and ``Infinity`` (not JSON) are refused.
"""

from __future__ import annotations

import email.utils
import math
import os
import ssl
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from greenci.config import Secret, as_secret
from greenci.energy.records import EnergyRecord, check_meter_kwh, check_power_w, check_span_s, utc_datetime
from greenci.energy.scopes import classify, names_other_part
from greenci.energy.sniff import read_json
from greenci.errors import DataFormatError, InputError, SourceError
from greenci.http import USER_AGENT, HttpSession, HttpSourceClient

__all__ = ["MAX_JSON_BYTES", "SOURCE", "RedfishClient", "parse_redfish", "read_redfish"]

SOURCE = "redfish"
#: a saved Redfish file larger than this is not a handful of resources: refused before it is parsed
MAX_JSON_BYTES = 64 * 1024 * 1024
_FORMAT = ("saved Redfish JSON (Power, PowerSubsystem, EnvironmentMetrics, PowerSupplyMetrics, Sensor, MetricReport "
           "or PowerEquipment Outlet / Circuit)")
_ENERGY_UNITS = {"EnergykWh": 1.0, "EnergyWh": 1e-3, "EnergyJoules": 1 / 3.6e6}

Check = Callable[..., float]


def _join(pointer: str, key: object) -> str:
    return f"{pointer}/{key}" if pointer else str(key)


def _number(obj: Mapping[str, Any], key: str, where: str, pointer: str, check: Check,
            factor: float = 1.0) -> float | None:
    """``obj[key]`` checked by ``check`` (after ``* factor``); None when absent or null."""
    value = obj.get(key)
    if value is None:
        return None
    column = _join(pointer, key)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise DataFormatError(f"{str(value)[:40]!r} is not a number: a Redfish reading is a number or null",
                              path=where, column=column)
    try:
        number = float(value) * factor
    except OverflowError:
        number = math.inf
    return check(number, path=where, column=column, text=str(value)[:40])


def _excerpt(obj: Any, key: str, where: str, pointer: str, check: Check) -> float | None:
    """``obj[key]["Reading"]`` of a Sensor excerpt, checked; None when absent or null."""
    inner = obj.get(key) if isinstance(obj, Mapping) else None
    if inner is None:
        return None
    if not isinstance(inner, Mapping):
        raise DataFormatError(f"{str(inner)[:40]!r} is not a sensor excerpt (an object with a Reading)",
                              path=where, column=_join(pointer, key))
    return _number(inner, "Reading", where, _join(pointer, key), check)


_KINDS = ("PowerSupplyMetrics", "EnvironmentMetrics", "PowerSubsystem", "Sensor", "Power", "MetricReportDefinition",
          "MetricReport", "MetricDefinition", "Outlet", "Circuit", "PowerDistributionMetrics", "PowerDistribution")
_DEFINITIONS = ("MetricReportDefinition", "MetricDefinition")
_EQUIPMENT_KINDS = ("Outlet", "Circuit", "PowerDistributionMetrics", "PowerDistribution")
#: Redfish PhysicalContext values -> component; other contexts (Fan, StorageDevice, ...) are skipped
_CONTEXTS = {"PowerSupply": "psu", "CPU": "cpu", "CPUSubsystem": "cpu", "Memory": "ram", "MemorySubsystem": "ram",
             "GPU": "gpu", "GPUSubsystem": "gpu", "Chassis": "total", "SystemBoard": "total", "ComputeBay": "total"}
_SENSOR_POWER_UNITS = {"W": 1.0, "kW": 1e3, "mW": 1e-3}
_SENSOR_ENERGY_UNITS = {"kW.h": 1.0, "W.h": 1e-3, "J": 1 / 3.6e6, "kJ": 1 / 3.6e3}


def _kind(doc: Mapping[str, Any]) -> str:
    odata = str(doc.get("@odata.type", ""))
    for name in _KINDS:
        if odata.startswith(f"#{name}."):
            return name
    if odata.endswith("Collection") or (isinstance(doc.get("Members"), list) and "PowerControl" not in doc):
        return "Collection"
    if "MetricValues" in doc:
        return "MetricReport"
    if "MetricReportDefinitionType" in doc or ("Metrics" in doc and "ReportActions" in doc):
        return "MetricReportDefinition"
    if "OutletType" in doc or ("PowerState" in doc and "PowerWatts" in doc and "CircuitType" not in doc):
        return "Outlet"
    if "CircuitType" in doc:
        return "Circuit"
    if "PowerControl" in doc:
        return "Power"
    if "ReadingType" in doc:
        return "Sensor"
    if "InputPowerWatts" in doc:
        return "PowerSupplyMetrics"
    if "PowerWatts" in doc or "EnergykWh" in doc:
        return "EnvironmentMetrics"
    if "PowerSupplies" in doc and "CapacityWatts" in doc:
        return "PowerSubsystem"
    return ""


def _when(at: object) -> datetime:
    try:
        return utc_datetime(at, where="at")
    except InputError as exc:
        raise InputError(str(exc), field="at") from None


def parse_redfish(doc: Any, *, chassis: str, at: object, where: str = "redfish", pointer: str = "",
                  units: Mapping[str, tuple[str, float]] | None = None,
                  skipped: list[str] | None = None) -> list[EnergyRecord]:
    """Records from one Redfish resource (Power, EnvironmentMetrics, PowerSupplyMetrics, Sensor, a
    PowerSubsystem whose ``PowerSupplies`` were expanded with their ``Metrics``, a MetricReport, a
    PowerEquipment Outlet / Circuit / PDU, or an expanded collection of these).

    ``where`` names the file (or URL) in errors, ``pointer`` the resource's place in it (``0`` for the first
    of a JSON array); values are named by their JSON path from there. ``units`` gives a MetricReport's units
    by metric id (from its definitions); ``skipped`` collects what was left out and why.
    """
    if not isinstance(doc, Mapping):
        raise DataFormatError("expected a Redfish resource (a JSON object)", path=where, column=pointer or None)
    stamp = _when(at)
    kind = _kind(doc)
    notes: list[str] = skipped if skipped is not None else []
    if kind in _DEFINITIONS or kind == "MetricReport" or kind in _EQUIPMENT_KINDS:
        from greenci.energy import redfish_telemetry as rt

        if kind in _DEFINITIONS:
            raise DataFormatError(f"this is a {kind} (what to collect): it holds no values. Save the MetricReport it "
                                  "produces (/redfish/v1/TelemetryService/MetricReports/{id}), alone or beside it in "
                                  "a JSON array", path=where, column=pointer or None)
        if kind == "MetricReport":
            return rt.parse_metric_report(doc, chassis=chassis, at=stamp, where=where, pointer=pointer,
                                          units=units or {}, skipped=notes)
        return rt.parse_equipment(doc, kind, pdu=chassis, at=stamp, where=where, pointer=pointer, skipped=notes)
    if kind == "Collection":
        members = _array(doc, "Members", where, pointer)
        full = [(i, m) for i, m in enumerate(members) if isinstance(m, Mapping) and set(m) - {"@odata.id"}]
        if not full:
            raise DataFormatError("this collection holds links, not resources: save it with $expand=. or save each "
                                  "member", path=where, column=pointer or None)
        out: list[EnergyRecord] = []
        for i, m in full:
            out += parse_redfish(m, chassis=chassis, at=stamp, where=where, pointer=_join(pointer, f"Members/{i}"),
                                 units=units, skipped=notes)
        return out
    if kind == "Power":
        return _power(doc, chassis, stamp, where, pointer)
    if kind == "EnvironmentMetrics":
        return _readings(chassis, stamp, "total", _excerpt(doc, "PowerWatts", where, pointer, check_power_w),
                         _excerpt(doc, "EnergykWh", where, pointer, check_meter_kwh), "EnvironmentMetrics")
    if kind == "PowerSupplyMetrics":
        psu = str(doc.get("Id") or "psu")
        return _readings(f"{chassis}/{_psu_name(doc)}" if psu == "Metrics" else f"{chassis}/{psu}", stamp, "psu",
                         _excerpt(doc, "InputPowerWatts", where, pointer, check_power_w),
                         _excerpt(doc, "EnergykWh", where, pointer, check_meter_kwh), "PowerSupplyMetrics")
    if kind == "Sensor":
        return _sensor(doc, chassis, stamp, where, pointer, notes)
    if kind == "PowerSubsystem":
        return _power_subsystem(doc, chassis, stamp, where, pointer)
    raise DataFormatError("not a Redfish Power, PowerSubsystem, EnvironmentMetrics, PowerSupplyMetrics, Sensor, "
                          "MetricReport or PowerEquipment "
                          f"resource (@odata.type {str(doc.get('@odata.type'))[:60]!r})", path=where,
                          column=pointer or None)


def _psu_name(doc: Mapping[str, Any]) -> str:
    """``Bay1`` from ``.../PowerSupplies/Bay1/Metrics``."""
    parts = str(doc.get("@odata.id", "")).rstrip("/").split("/")
    return parts[-2] if len(parts) >= 2 and parts[-1] == "Metrics" else "psu"


def _readings(resource: str, stamp: datetime, component: str, power_w: float | None, meter_kwh: float | None,
              method: str) -> list[EnergyRecord]:
    out = []
    if power_w is not None:
        out.append(EnergyRecord(source=SOURCE, resource_id=resource, start=stamp, end=stamp, power_w=power_w,
                                component=component, method=method))
    if meter_kwh is not None:
        out.append(EnergyRecord(source=SOURCE, resource_id=resource, start=stamp, end=stamp, meter_kwh=meter_kwh,
                                component=component, method=method + " energy meter"))
    return out


def _array(doc: Mapping[str, Any], key: str, where: str, pointer: str) -> list[Any]:
    value = doc.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise DataFormatError(f"{key} is not an array", path=where, column=_join(pointer, key))
    return value


def _minutes(minutes: float, *, path: str | None, column: str | None, text: str | None = None) -> float:
    return check_span_s(minutes * 60.0, path=path, column=column, text=f"{text} min" if text else None) / 60.0


def _power(doc: Mapping[str, Any], chassis: str, stamp: datetime, where: str, pointer: str) -> list[EnergyRecord]:
    controls = _array(doc, "PowerControl", where, pointer)
    out: list[EnergyRecord] = []
    for i, pc in enumerate(controls):
        if not isinstance(pc, Mapping):
            continue
        at = _join(pointer, f"PowerControl/{i}")
        member = str(pc.get("MemberId") or i)
        resource = chassis if len(controls) == 1 else f"{chassis}/PowerControl/{member}"
        watts = _number(pc, "PowerConsumedWatts", where, at, check_power_w)
        if watts is not None:
            out.append(EnergyRecord(source=SOURCE, resource_id=resource, start=stamp, end=stamp, power_w=watts,
                                    method="PowerControl.PowerConsumedWatts"))
        metrics = pc.get("PowerMetrics")
        if isinstance(metrics, Mapping):
            m_at = _join(at, "PowerMetrics")
            minutes = _number(metrics, "IntervalInMin", where, m_at, _minutes)
            avg = _number(metrics, "AverageConsumedWatts", where, m_at, check_power_w)
            if minutes and avg is not None:
                span = minutes * 60.0
                out.append(EnergyRecord(source=SOURCE, resource_id=resource, start=stamp - timedelta(seconds=span),
                                        end=stamp, energy_kwh=avg * span / 3.6e6, power_w=avg,
                                        method=f"PowerMetrics.AverageConsumedWatts over {minutes:g} min"))
    for i, psu in enumerate(_array(doc, "PowerSupplies", where, pointer)):
        if not isinstance(psu, Mapping) or _inactive(psu):
            continue
        watts = _number(psu, "PowerInputWatts", where, _join(pointer, f"PowerSupplies/{i}"), check_power_w)
        if watts is not None:
            name = str(psu.get("MemberId") or psu.get("Name") or i)
            out.append(EnergyRecord(source=SOURCE, resource_id=f"{chassis}/PowerSupplies/{name}", start=stamp,
                                    end=stamp, power_w=watts, component="psu", method="PowerSupplies.PowerInputWatts"))
    if not out:
        raise DataFormatError("the Power resource has no PowerConsumedWatts or PowerMetrics reading (the BMC may "
                              "not meter power)", path=where, column=pointer or None)
    return out


def _inactive(doc: Mapping[str, Any]) -> str | None:
    status = doc.get("Status")
    state = status.get("State") if isinstance(status, Mapping) else None
    return state if state in ("Disabled", "Absent", "UnavailableOffline") else None


def _sensor_scope(doc: Mapping[str, Any]) -> tuple[str, str] | None:
    """``(component, note)`` of a Sensor: its PhysicalContext, else its id or name; None: another part."""
    context = doc.get("PhysicalContext")
    name = str(doc.get("Id") or doc.get("Name") or "")
    if isinstance(context, str) and context:
        component = _CONTEXTS.get(context)
        if component is None:
            return None
        if component == "psu" and doc.get("PhysicalSubContext") == "Output":
            return component, " (PSU output, DC)"
        return component, ""
    scope = classify(name)
    if scope is not None:
        return scope.component, f" ({scope.note})" if scope.note else ""
    if names_other_part(name):
        return None
    return "total", " (no part named: taken as the chassis total)"


def _sensor(doc: Mapping[str, Any], chassis: str, stamp: datetime, where: str, pointer: str,
            skipped: list[str]) -> list[EnergyRecord]:
    kind = str(doc.get("ReadingType", ""))
    if kind != "Power" and kind not in _ENERGY_UNITS:
        return []
    resource = f"{chassis}/Sensors/{doc.get('Id', 'sensor')}"
    if state := _inactive(doc):
        skipped.append(f"sensor {resource} is {state}")
        return []
    scope = _sensor_scope(doc)
    if scope is None:
        skipped.append(f"sensor {resource} ({doc.get('PhysicalContext') or doc.get('Id')}) is not a node, PSU, CPU, "
                       "DRAM or GPU sensor")
        return []
    component, note = scope
    when = stamp
    reading_time = doc.get("ReadingTime")
    if reading_time is not None:
        try:
            if not isinstance(reading_time, str):
                raise InputError("not text")
            when = utc_datetime(reading_time)
        except InputError:
            raise DataFormatError(f"{str(reading_time)[:40]!r} is not a time: Redfish gives ISO 8601, e.g. "
                                  "2024-03-01T12:00:00Z", path=where, column=_join(pointer, "ReadingTime")) from None
    units = doc.get("ReadingUnits")
    if kind == "Power":
        factor = _SENSOR_POWER_UNITS.get(units, 1.0) if isinstance(units, str) else 1.0
        return _readings(resource, when, component, _number(doc, "Reading", where, pointer, check_power_w, factor),
                         None, f"Sensor Power{note}")
    factor = _ENERGY_UNITS[kind]
    if isinstance(units, str) and units in _SENSOR_ENERGY_UNITS:
        factor = _SENSOR_ENERGY_UNITS[units]
    meter = _number(doc, "Reading", where, pointer, check_meter_kwh, factor=factor)
    return _readings(resource, when, component, None, meter, f"Sensor {kind}{note}")


def _power_subsystem(doc: Mapping[str, Any], chassis: str, stamp: datetime, where: str,
                     pointer: str) -> list[EnergyRecord]:
    supplies = doc.get("PowerSupplies")
    members = _array(supplies, "Members", where, _join(pointer, "PowerSupplies")) \
        if isinstance(supplies, Mapping) else []
    out: list[EnergyRecord] = []
    for i, m in enumerate(members):
        metrics = m.get("Metrics") if isinstance(m, Mapping) else None
        if isinstance(metrics, Mapping) and ("InputPowerWatts" in metrics or "EnergykWh" in metrics):
            assert isinstance(m, Mapping)
            at = _join(pointer, f"PowerSupplies/Members/{i}/Metrics")
            name = str(m.get("Id") or m.get("Name") or "psu")
            out += _readings(f"{chassis}/{name}", stamp, "psu", _excerpt(metrics, "InputPowerWatts", where, at,
                                                                         check_power_w),
                             _excerpt(metrics, "EnergykWh", where, at, check_meter_kwh), "PowerSupplyMetrics")
    if not out:
        raise DataFormatError("this PowerSubsystem holds links, not readings: save PowerSupplies/{id}/Metrics and "
                              "EnvironmentMetrics, or read the BMC live with --url", path=where, column=pointer or None)
    return out


def read_redfish(path: str | os.PathLike[str], *, chassis: str | None = None, at: object | None = None
                 ) -> list[EnergyRecord]:
    """Records from a saved Redfish JSON file (one resource, or a JSON array of resources).

    ``chassis`` defaults to the id in the resource's ``@odata.id``, else the file's stem; ``at`` to the
    file's modification time.
    """
    p = Path(path)
    where = str(p)
    when = _when(at) if at is not None else None
    doc = read_json(p, fmt=_FORMAT, max_bytes=MAX_JSON_BYTES,
                    too_big="a file of Redfish resources needs less: save each resource (or a few) on its own")
    if when is None:
        when = datetime.fromtimestamp(p.stat().st_mtime, UTC)
    docs = doc if isinstance(doc, list) else [doc]
    units, readable = _definitions(docs)
    if docs and not readable:
        kinds = {_kind(d) for d in docs if isinstance(d, Mapping)}
        raise DataFormatError(f"holds only {' and '.join(sorted(kinds))} resources: they say what to collect and hold "
                              "no values. Save the MetricReport they produce (/redfish/v1/TelemetryService/"
                              "MetricReports/{id}), alone or beside them in a JSON array", path=where)
    out: list[EnergyRecord] = []
    skipped: list[str] = []
    for i, d in readable:
        out += parse_redfish(d, chassis=chassis or _chassis_id(d) or p.stem, at=when, where=where,
                             pointer=str(i) if isinstance(doc, list) else "", units=units, skipped=skipped)
    if not out:
        why = f": {'; '.join(skipped[:8])}" if skipped else ""
        raise DataFormatError("no power or energy reading in the file that can be used (every reading is null, "
                              f"disabled or absent, or the sensors are not power or energy sensors){why}", path=where)
    return out


def _definitions(docs: list[Any]) -> tuple[dict[str, tuple[str, float]], list[tuple[int, Any]]]:
    """Units from the definitions among ``docs``, and the other docs (with their index) to read."""
    from greenci.energy.redfish_telemetry import definition_units

    units: dict[str, tuple[str, float]] = {}
    readable = []
    for i, d in enumerate(docs):
        if isinstance(d, Mapping) and _kind(d) in _DEFINITIONS:
            units.update(definition_units(d))
        else:
            readable.append((i, d))
    return units, readable


def _chassis_id(doc: Any) -> str | None:
    if not isinstance(doc, Mapping):
        return None
    parts = str(doc.get("@odata.id", "")).strip("/").split("/")
    if len(parts) > 4 and parts[:3] == ["redfish", "v1", "PowerEquipment"]:
        return parts[4]
    return parts[3] if len(parts) > 3 and parts[:3] == ["redfish", "v1", "Chassis"] else None


class RedfishClient(HttpSourceClient):
    """Live power and energy of a BMC's chassis over Redfish, with HTTP basic authentication.

    ``verify=False`` accepts a BMC's self-signed certificate (or pass a CA bundle path); prefer a CA.
    """

    name = "redfish"

    def __init__(self, base_url: str, username: str | None = None, password: str | Secret | None = None, *,
                 verify: bool | str = True, timeout_s: float = 10.0, retries: int = 1,
                 transport: httpx.BaseTransport | None = None, user_agent: str = USER_AGENT) -> None:
        secret = as_secret(password)
        if bool(username) != bool(secret):
            raise InputError("Redfish needs both a username and a password (or neither for an open service): "
                             "set --user and GREENCI_REDFISH_PASSWORD")
        if transport is None and verify is not True:
            ctx: ssl.SSLContext | bool = False if verify is False else ssl.create_default_context(cafile=str(verify))
            transport = httpx.HTTPTransport(verify=ctx)
        self._auth = (username, secret.reveal()) if username and secret else None
        http = HttpSession(base_url, label="redfish", timeout_s=timeout_s, retries=retries, transport=transport,
                           user_agent=user_agent, auth_hint="--user and GREENCI_REDFISH_PASSWORD (the BMC account)")
        if username and secret:
            http.add_basic_auth_secret(username, secret)
        super().__init__(http)

    def _get(self, path: str) -> tuple[Any, datetime]:
        response = self._http.request("GET", path, auth=self._auth)
        try:
            body = response.json()
        except ValueError:
            raise SourceError(f"redfish: GET {path} answered with a body that is not JSON") from None
        return body, _date(response.headers.get("Date"))

    def chassis_ids(self) -> list[str]:
        """Ids of every chassis the service lists."""
        doc, _ = self._get("/redfish/v1/Chassis")
        members = doc.get("Members") if isinstance(doc, Mapping) else None
        if not isinstance(members, list):
            raise SourceError("redfish: /redfish/v1/Chassis has no Members array: is this a Redfish service?")
        return [str(m["@odata.id"]).rstrip("/").rsplit("/", 1)[-1] for m in members
                if isinstance(m, Mapping) and "@odata.id" in m]

    def read_chassis(self, chassis: str) -> list[EnergyRecord]:
        """EnvironmentMetrics and PowerSubsystem supplies when the chassis has them, else legacy Power."""
        doc, _ = self._get(f"/redfish/v1/Chassis/{chassis}")
        if not isinstance(doc, Mapping):
            raise SourceError(f"redfish: chassis {chassis} is not a JSON object")
        out: list[EnergyRecord] = []
        env = _link(doc, "EnvironmentMetrics")
        if env:
            body, at = self._get(env)
            out += parse_redfish(body, chassis=chassis, at=at, where=f"redfish {env}")
        subsystem = _link(doc, "PowerSubsystem")
        if subsystem:
            body, _ = self._get(subsystem)
            supplies = _link(body, "PowerSupplies")
            if supplies:
                coll, _ = self._get(supplies)
                for m in coll.get("Members", []) if isinstance(coll, Mapping) else []:
                    psu, _ = self._get(str(m.get("@odata.id")))
                    metrics = _link(psu, "Metrics")
                    if metrics:
                        body, at = self._get(metrics)
                        name = str(psu.get("Id") or metrics.rstrip("/").split("/")[-2])
                        src = f"redfish {metrics}"
                        out += _readings(f"{chassis}/{name}", utc_datetime(at), "psu",
                                         _excerpt(body, "InputPowerWatts", src, "", check_power_w),
                                         _excerpt(body, "EnergykWh", src, "", check_meter_kwh),
                                         "PowerSupplyMetrics")
        power = _link(doc, "Power")
        if not out and power:
            body, at = self._get(power)
            out += parse_redfish(body, chassis=chassis, at=at, where=f"redfish {power}")
        if not out:
            raise SourceError(f"redfish: chassis {chassis} reports no power or energy (no EnvironmentMetrics, "
                              "PowerSubsystem metrics or Power resource)")
        return out

    def read_all(self) -> list[EnergyRecord]:
        """Records of every chassis that reports power; chassis without readings are skipped."""
        out: list[EnergyRecord] = []
        errors = []
        for c in self.chassis_ids():
            try:
                out += self.read_chassis(c)
            except SourceError as exc:
                errors.append(str(exc))
        if not out:
            raise SourceError("redfish: no chassis reports power: " + "; ".join(errors))
        return out


def _link(doc: Any, key: str) -> str | None:
    value = doc.get(key) if isinstance(doc, Mapping) else None
    return str(value["@odata.id"]) if isinstance(value, Mapping) and "@odata.id" in value else None


def _date(header: str | None) -> datetime:
    if header:
        try:
            parsed = email.utils.parsedate_to_datetime(header)
            return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
        except (TypeError, ValueError):
            pass
    return datetime.now(UTC)
