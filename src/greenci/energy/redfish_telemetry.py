"""Redfish TelemetryService ``MetricReport`` resources and rack PDUs under ``PowerEquipment``.

Why a module of its own: these are the two Redfish shapes operators collect at scale (a BMC pushes metric
reports on a schedule; a PDU lists every outlet), and neither says "this is the node's total" the way
``Power`` does: the scope must be read from where each value comes from.

**MetricReport** (``/redfish/v1/TelemetryService/MetricReports/{id}``): ``MetricValues[]`` with
``MetricId``, ``MetricProperty`` (the URI of the property read), ``MetricValue`` (a *string*) and
``Timestamp``; one report holds a series (several timestamps). The scope comes from the property path
(``/redfish/v1/Chassis/1/Power#/PowerControl/0/PowerConsumedWatts`` -> ``total`` of chassis ``1``;
``.../PowerSupplies/1/PowerInputWatts`` -> ``psu``; ``.../Sensors/PS1InputPower/Reading`` -> ``psu``;
``/redfish/v1/Systems/1/Processors/CPU0/EnvironmentMetrics#/PowerWatts/Reading`` -> ``cpu``;
``/redfish/v1/PowerEquipment/RackPDUs/1/Outlets/A3#/PowerWatts/Reading`` -> ``outlet``), else from the
``MetricId`` (Dell's ``SystemInputPower``, ``TotalCPUPower``, with ``Oem.Dell.ContextID`` naming the unit).
Units come from a ``MetricReportDefinition`` (``Metrics[].Units``) or ``MetricDefinition`` (``Units``)
given in the same file (or expanded in the report), else from the property (``...Watts`` is W,
``EnergykWh`` kWh, ``EnergyJoules`` J), else from the metric id's suffix (``...Power``/``...Watts`` W,
``...kW``, ``...mW``, ``...kWh``); a value whose unit cannot be told is skipped and named.
A value's time is its ``Timestamp``, else the report's, else ``at`` (the file's modification time), and
``method`` says which. When several metrics read the same thing (``PowerConsumedWatts`` and a total power
sensor of one chassis) one series is kept and ``method`` names the others: totals are never doubled.
A ``MetricReportDefinition`` alone holds no values and is refused.

**PowerEquipment** (``/redfish/v1/PowerEquipment/RackPDUs/{pdu}``): ``Mains/{id}`` -> ``mains``,
``Branches``/``Subfeeds``/``Feeders/{id}`` -> ``circuit``, ``Outlets/{id}`` -> ``outlet`` (resource
``pdu1/Outlets/A3``), the PDU's ``Metrics`` -> ``mains`` of the whole PDU (left out when its ``Mains``
are read too: they are the same feed). Each gives ``PowerWatts.Reading`` (W) and ``EnergykWh.Reading``
(a meter). An outlet or circuit whose ``PowerState`` is ``Off`` reads 0 W and says so; one whose
``Status.State`` is ``Disabled``, ``Absent`` or ``UnavailableOffline`` is skipped and named.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from greenci.energy.records import EnergyRecord, check_meter_kwh, check_power_w, utc_datetime
from greenci.energy.redfish import SOURCE, _excerpt, _join, _readings
from greenci.energy.scopes import classify
from greenci.errors import DataFormatError, InputError

__all__ = ["INACTIVE_STATES", "definition_units", "equipment_id", "inactive", "parse_equipment", "parse_metric_report"]

#: ``Status.State`` values of a sensor, outlet or circuit that has no reading to give
INACTIVE_STATES = frozenset({"Disabled", "Absent", "UnavailableOffline"})
_POWER = {"W": 1.0, "Watts": 1.0, "watts": 1.0, "Watt": 1.0, "kW": 1e3, "mW": 1e-3, "MW": 1e6}
_ENERGY = {"kW.h": 1.0, "kWh": 1.0, "W.h": 1e-3, "Wh": 1e-3, "J": 1 / 3.6e6, "kJ": 1 / 3.6e3, "MJ": 1 / 3.6,
           "MW.h": 1e3, "MWh": 1e3}
_EMPTY_VALUES = {"", "nan", "n/a", "na", "null", "none", "unknown"}
_CIRCUITS = {"Mains": "mains", "Branches": "circuit", "Subfeeds": "circuit", "Feeders": "circuit"}
_EQUIPMENT = ("RackPDUs", "FloorPDUs", "Switchgear", "TransferSwitches", "PowerShelves")

Unit = tuple[str, float]  # ("power", factor to W) or ("energy", factor to kWh)


def _unit(text: object) -> Unit | None:
    if not isinstance(text, str):
        return None
    t = text.strip()
    if t in _POWER:
        return ("power", _POWER[t])
    if t in _ENERGY:
        return ("energy", _ENERGY[t])
    return None


def _unit_from_name(name: str) -> Unit | None:
    """The unit a property or metric id's suffix implies (``PowerConsumedWatts`` W, ``EnergykWh`` kWh)."""
    low = name.lower()
    if low.endswith("kwh"):
        return ("energy", 1.0)
    if low.endswith("wh"):
        return ("energy", 1e-3)
    if low.endswith(("joules", "energyj")):
        return ("energy", 1 / 3.6e6)
    if name.endswith(("kW", "KW")) or low.endswith("_kw"):
        return ("power", 1e3)
    if name.endswith("mW") or low.endswith("_mw"):
        return ("power", 1e-3)
    if low.endswith(("watts", "watt", "power", "pwr")):
        return ("power", 1.0)
    return None


def definition_units(doc: Any) -> dict[str, Unit]:
    """Units by metric id and by property URI, from a MetricReportDefinition or a MetricDefinition."""
    out: dict[str, Unit] = {}
    if not isinstance(doc, Mapping):
        return out
    entries = doc.get("Metrics") if isinstance(doc.get("Metrics"), list) else [doc]
    for entry in entries:
        if not isinstance(entry, Mapping) or (unit := _unit(entry.get("Units"))) is None:
            continue
        for key in (entry.get("MetricId"), entry.get("Id")):
            if isinstance(key, str) and key:
                out[key] = unit
        for prop in entry.get("MetricProperties") or []:
            if isinstance(prop, str):
                out[prop] = unit
    return out


def inactive(doc: Mapping[str, Any]) -> str | None:
    """The ``Status.State`` of a resource that has no reading to give, else None."""
    status = doc.get("Status")
    state = status.get("State") if isinstance(status, Mapping) else None
    return state if isinstance(state, str) and state in INACTIVE_STATES else None


# ====================================================================== MetricReport
@dataclass(frozen=True)
class _Target:
    """Where a metric value belongs: ``root`` groups the readings of one node or PDU (for totals)."""

    resource: str
    component: str
    root: str
    unit: Unit | None
    rank: int = 0
    note: str = ""


def _leaf(parts: list[str]) -> str:
    if parts and parts[-1] == "Reading" and len(parts) >= 2:
        return parts[-2]
    return parts[-1] if parts else ""


def _path_target(prop: str) -> _Target | str | None:
    """The target of a MetricProperty URI; a string says why it is not a reading; None: a path not known."""
    uri, _sep, frag = prop.partition("#")
    segs = [s for s in uri.strip("/").split("/") if s]
    fsegs = [s for s in frag.strip("/").split("/") if s]
    if segs[:2] != ["redfish", "v1"] or len(segs) < 4:
        return None
    kind, owner, rest = segs[2], segs[3], segs[4:]
    leaf = _leaf(fsegs or rest)
    unit = _unit_from_name(leaf)
    if kind == "Chassis":
        return _chassis_target(owner, rest, fsegs, leaf, unit)
    if kind == "Systems" and len(rest) >= 2 and rest[0] in ("Processors", "Memory"):
        if rest[0] == "Memory":
            return _Target(f"{owner}/{rest[1]}", "ram", owner, unit)
        scope = classify(rest[1])
        return _Target(f"{owner}/{rest[1]}", "gpu" if scope and scope.component == "gpu" else "cpu", owner, unit)
    if kind == "PowerEquipment" and segs[3] in _EQUIPMENT and len(segs) >= 5:
        pdu, rest = segs[4], segs[5:]
        if rest[:1] == ["Metrics"]:
            return _Target(pdu, "mains", pdu, unit, 1, "the PDU's own metrics")
        if len(rest) >= 2 and rest[0] == "Outlets":
            return _Target(f"{pdu}/Outlets/{rest[1]}", "outlet", pdu, unit)
        if len(rest) >= 2 and rest[0] in _CIRCUITS:
            return _Target(f"{pdu}/{rest[0]}/{rest[1]}", _CIRCUITS[rest[0]], pdu, unit)
    return None


def _chassis_target(owner: str, rest: list[str], fsegs: list[str], leaf: str,
                    unit: Unit | None) -> _Target | str | None:
    if rest[:1] == ["Power"]:
        if "PowerSupplies" in fsegs:
            i = fsegs.index("PowerSupplies")
            member = fsegs[i + 1] if len(fsegs) > i + 1 else "0"
            resource = f"{owner}/PowerSupplies/{member}"
            if leaf == "PowerInputWatts":
                return _Target(resource, "psu", owner, unit)
            if leaf in ("PowerOutputWatts", "LastPowerOutputWatts"):
                return _Target(resource, "psu", owner, unit, 1, "PSU output (DC, after its conversion losses)")
            return f"{leaf} is not a power reading"
        member = fsegs[1] if len(fsegs) > 1 and fsegs[0] == "PowerControl" else "0"
        resource = owner if member == "0" else f"{owner}/PowerControl/{member}"
        if leaf == "PowerConsumedWatts":
            return _Target(resource, "total", owner, unit)
        if leaf == "AverageConsumedWatts":
            return _Target(resource, "total", owner, unit, 2, "the BMC's average over its interval, taken as a "
                                                               "reading at its timestamp")
        return f"{leaf} is not a consumption reading"
    if rest[:1] == ["Sensors"] and len(rest) >= 2:
        scope = classify(rest[1])
        if scope is None:
            return f"sensor {rest[1]!r} is not a node, PSU, CPU, DRAM or GPU power sensor"
        unit = _unit_from_name(rest[1]) if leaf == rest[1] or leaf == "Reading" else unit
        return _Target(f"{owner}/Sensors/{rest[1]}", scope.component, owner, unit, 1 + scope.rank, scope.note)
    if rest[:1] == ["EnvironmentMetrics"]:
        return _Target(owner, "total", owner, unit, 1)
    if rest[:2] == ["PowerSubsystem", "PowerSupplies"] and len(rest) >= 3:
        if leaf.startswith("Output"):
            return _Target(f"{owner}/{rest[2]}", "psu", owner, unit, 1, "PSU output (DC, after its conversion losses)")
        return _Target(f"{owner}/{rest[2]}", "psu", owner, unit)
    return None


def _id_target(value: Mapping[str, Any], metric_id: str, chassis: str) -> _Target | str:
    scope = classify(metric_id)
    if scope is None:
        return f"metric {metric_id!r} is not a node, PSU, CPU, DRAM, GPU or PDU power metric"
    context = ""
    oem = value.get("Oem")
    if isinstance(oem, Mapping):
        for vendor in oem.values():
            if isinstance(vendor, Mapping) and isinstance(vendor.get("ContextID"), str):
                context = vendor["ContextID"]
    if scope.component == "total":
        resource = chassis
    else:
        resource = f"{chassis}/{context}" if context and not context.startswith("System.") else \
            f"{chassis}/{scope.unit}"
    return _Target(resource, scope.component, chassis, _unit_from_name(metric_id), scope.rank, scope.note)


def _value(raw: object, where: str, column: str) -> float | None:
    if raw is None or (isinstance(raw, str) and raw.strip().lower() in _EMPTY_VALUES):
        return None
    if isinstance(raw, bool) or not isinstance(raw, (str, int, float)):
        raise DataFormatError(f"{str(raw)[:40]!r} is not a metric value (a number, as a string)", path=where,
                              column=column)
    try:
        number = float(raw)
    except ValueError:
        raise DataFormatError(f"{str(raw)[:40]!r} is not a number: a power or energy MetricValue is a number "
                              "written as a string, e.g. \"236\"", path=where, column=column) from None
    if not math.isfinite(number):
        return None
    return number


def _time(raw: object, where: str, column: str) -> datetime | None:
    if raw is None:
        return None
    try:
        if not isinstance(raw, str):
            raise InputError("not text")
        return utc_datetime(raw)
    except InputError:
        raise DataFormatError(f"{str(raw)[:40]!r} is not a time: Redfish gives ISO 8601, e.g. 2024-03-01T12:00:00Z",
                              path=where, column=column) from None


@dataclass(frozen=True)
class _Candidate:
    key: tuple[str, str, str]  # the thing read: (root or resource, component, power|energy)
    metric: str
    rank: int
    target: _Target
    kind: str
    amount: float
    when: datetime
    time_note: str
    column: str


def parse_metric_report(doc: Mapping[str, Any], *, chassis: str, at: datetime, where: str, pointer: str,
                        units: Mapping[str, Unit], skipped: list[str]) -> list[EnergyRecord]:
    """Records from one MetricReport; ``units`` by metric id / property (from definitions), ``skipped``
    collects what was left out and why (for the caller's refusal)."""
    values = doc.get("MetricValues")
    report = str(doc.get("Id") or "report")
    if not isinstance(values, list) or not values:
        raise DataFormatError(f"MetricReport {report!r} holds no MetricValues: the report has not been produced yet, "
                              "or its definition collects nothing", path=where, column=_join(pointer, "MetricValues"))
    units = {**definition_units(doc.get("MetricReportDefinition")), **units}
    report_time = _time(doc.get("Timestamp"), where, _join(pointer, "Timestamp"))
    candidates: list[_Candidate] = []
    empty = 0
    for i, mv in enumerate(values):
        at_i = _join(pointer, f"MetricValues/{i}")
        if not isinstance(mv, Mapping):
            raise DataFormatError("a MetricValues entry is not an object", path=where, column=at_i)
        metric_id = str(mv.get("MetricId") or "")
        prop = mv.get("MetricProperty") if isinstance(mv.get("MetricProperty"), str) else ""
        name = metric_id or prop
        target = _path_target(prop) if prop else None
        if target is None:
            target = _id_target(mv, metric_id, chassis) if metric_id else f"value {i} has no MetricId or MetricProperty"
        if isinstance(target, str):
            skipped.append(target)
            continue
        unit = units.get(metric_id) or units.get(prop) or target.unit or _unit_from_name(metric_id)
        if unit is None:
            skipped.append(f"{name!r}: unit unknown (add its MetricReportDefinition or MetricDefinition with Units)")
            continue
        amount = _value(mv.get("MetricValue"), where, _join(at_i, "MetricValue"))
        if amount is None:
            empty += 1
            continue
        stamp = _time(mv.get("Timestamp"), where, _join(at_i, "Timestamp"))
        note = "its Timestamp" if stamp else ("the report's Timestamp" if report_time else "at (no Timestamp)")
        key = (target.root if target.component == "total" else target.resource, target.component, unit[0])
        candidates.append(_Candidate(key, name, target.rank, target, unit[0], amount * unit[1],
                                     stamp or report_time or at, note, _join(at_i, "MetricValue")))
    if empty:
        skipped.append(f"{empty} MetricValues without a value")
    return _choose(candidates, report, where)


def _choose(candidates: list[_Candidate], report: str, where: str) -> list[EnergyRecord]:
    """One metric per thing read (the best ranked), the others named in ``method``."""
    best: dict[tuple[str, str, str], tuple[int, str]] = {}
    for c in candidates:
        if c.key not in best or c.rank < best[c.key][0]:
            best[c.key] = (c.rank, c.metric)
    others: dict[tuple[str, str, str], set[str]] = {}
    for c in candidates:
        if c.metric != best[c.key][1]:
            others.setdefault(c.key, set()).add(c.metric)
    out = []
    for c in candidates:
        if c.metric != best[c.key][1]:
            continue
        method = f"MetricReport {report} {c.metric}" + (f" ({c.target.note})" if c.target.note else "")
        if c.key in others:
            method += f"; also in the report, not counted again: {', '.join(sorted(others[c.key]))}"
        method += f"; time: {c.time_note}"
        common = dict(source=SOURCE, resource_id=c.target.resource, start=c.when, end=c.when,
                      component=c.target.component, method=method)
        if c.kind == "power":
            out.append(EnergyRecord(**common, power_w=check_power_w(c.amount, path=where, column=c.column)))
        else:
            out.append(EnergyRecord(**common, meter_kwh=check_meter_kwh(c.amount, path=where, column=c.column)))
    return out


# ====================================================================== PowerEquipment
def _tail(doc: Mapping[str, Any], default_kind: str) -> tuple[str, str]:
    """``("Outlets", "A3")`` from ``/redfish/v1/PowerEquipment/RackPDUs/1/Outlets/A3``."""
    parts = [s for s in str(doc.get("@odata.id", "")).strip("/").split("/") if s]
    if len(parts) >= 7 and parts[2] == "PowerEquipment":
        return parts[5], parts[6]
    return default_kind, str(doc.get("Id") or "1")


def _point(doc: Mapping[str, Any], *, resource: str, component: str, label: str, stamp: datetime, where: str,
           pointer: str, skipped: list[str]) -> list[EnergyRecord]:
    """Power and meter of one outlet, circuit or PDU: skipped when inactive, 0 W when switched off."""
    state = inactive(doc)
    if state:
        skipped.append(f"{label} {resource} is {state}")
        return []
    watts = _excerpt(doc, "PowerWatts", where, pointer, check_power_w)
    meter = _excerpt(doc, "EnergykWh", where, pointer, check_meter_kwh)
    method = label
    if doc.get("PowerState") == "Off":
        method += " PowerState Off: 0 W" + (f" (its PowerWatts read {watts:g} W)" if watts else "")
        watts = 0.0
    out = _readings(resource, stamp, component, watts, None, method)
    if meter is not None:
        out += _readings(resource, stamp, component, None, meter, label)
    if not out:
        skipped.append(f"{label} {resource} has no PowerWatts or EnergykWh reading")
    return out


def _members(doc: Any) -> list[Mapping[str, Any]]:
    """Expanded members of a collection (``$expand``); links alone give none."""
    members = doc.get("Members") if isinstance(doc, Mapping) else None
    if not isinstance(members, list):
        return []
    return [m for m in members if isinstance(m, Mapping) and set(m) - {"@odata.id"}]


def parse_equipment(doc: Mapping[str, Any], kind: str, *, pdu: str, at: datetime, where: str, pointer: str,
                    skipped: list[str]) -> list[EnergyRecord]:
    """Records of an Outlet, a Circuit (mains, branch), a PDU's metrics, or a PDU with expanded members."""
    if kind == "Outlet":
        group, name = _tail(doc, "Outlets")
        return _point(doc, resource=f"{pdu}/{group}/{name}", component="outlet", label="Outlet", stamp=at,
                      where=where, pointer=pointer, skipped=skipped)
    if kind == "Circuit":
        group, name = _tail(doc, "Mains" if doc.get("CircuitType") == "Mains" else "Branches")
        component = "mains" if doc.get("CircuitType") == "Mains" or group == "Mains" else "circuit"
        return _point(doc, resource=f"{pdu}/{group}/{name}", component=component, label="Circuit", stamp=at,
                      where=where, pointer=pointer, skipped=skipped)
    if kind == "PowerDistributionMetrics":
        return _point(doc, resource=pdu, component="mains", label="PowerDistributionMetrics", stamp=at, where=where,
                      pointer=pointer, skipped=skipped)
    out: list[EnergyRecord] = []
    for group in ("Mains", "Branches", "Subfeeds", "Feeders", "Outlets"):
        for i, member in enumerate(_members(doc.get(group))):
            sub = "Outlet" if group == "Outlets" else "Circuit"
            out += parse_equipment(member, sub, pdu=pdu, at=at, where=where,
                                   pointer=_join(pointer, f"{group}/Members/{i}"), skipped=skipped)
    metrics = doc.get("Metrics")
    if isinstance(metrics, Mapping) and set(metrics) - {"@odata.id"}:
        if any(r.component == "mains" for r in out):
            skipped.append(f"{pdu} Metrics: the same feed as its Mains, not counted again")
        else:
            out += parse_equipment(metrics, "PowerDistributionMetrics", pdu=pdu, at=at, where=where,
                                   pointer=_join(pointer, "Metrics"), skipped=skipped)
    if not out and not skipped:
        raise DataFormatError("this PDU resource holds links, not readings: save its Mains, Branches and Outlets "
                              "with $expand=. (or each Outlet / Circuit), or its Metrics", path=where,
                              column=pointer or None)
    return out


_EQUIPMENT_PATH = re.compile(r"^/redfish/v1/PowerEquipment/(?:" + "|".join(_EQUIPMENT) + r")/([^/]+)")


def equipment_id(doc: Any) -> str | None:
    """The PDU id in a PowerEquipment resource's ``@odata.id``."""
    if not isinstance(doc, Mapping):
        return None
    m = _EQUIPMENT_PATH.match(str(doc.get("@odata.id", "")))
    return m.group(1) if m else None
