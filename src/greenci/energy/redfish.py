"""Redfish power and energy: the legacy ``Power`` resource and the newer ``PowerSubsystem`` model.

Shapes read (DMTF Redfish schemas):

* ``/redfish/v1/Chassis/{id}/Power`` (``#Power.v1_x``, deprecated but common): ``PowerControl[]`` with
  ``PowerConsumedWatts`` (a power reading) and ``PowerMetrics {IntervalInMin, AverageConsumedWatts}``
  (an interval: the average over the last ``IntervalInMin`` minutes); ``PowerSupplies[].PowerInputWatts``.
* ``/redfish/v1/Chassis/{id}/EnvironmentMetrics``: ``PowerWatts.Reading`` (W) and ``EnergykWh.Reading``
  (a cumulative meter, kWh).
* ``/redfish/v1/Chassis/{id}/PowerSubsystem`` -> ``PowerSupplies`` -> ``{psu}/Metrics``
  (``#PowerSupplyMetrics``): ``InputPowerWatts.Reading`` and ``EnergykWh.Reading`` per supply.
* ``/redfish/v1/Chassis/{id}/Sensors/{sensor}`` (``#Sensor``): ``ReadingType`` ``Power`` (W),
  ``EnergykWh``/``EnergyWh``/``EnergyJoules`` (meters), with ``ReadingTime`` when the service gives it.

Readings carry no time except a Sensor's ``ReadingTime``, so each is stamped ``at``: the HTTP
response's ``Date`` for live reads, the file's modification time for saved JSON, or what you pass.
Two snapshots of a meter become energy with :func:`greenci.energy.records.to_intervals`.
"""

from __future__ import annotations

import email.utils
import json
import os
import ssl
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from greenci.config import Secret, as_secret
from greenci.energy.records import EnergyRecord, utc_datetime
from greenci.errors import DataFormatError, InputError, SourceError
from greenci.http import USER_AGENT, HttpSession, HttpSourceClient

__all__ = ["SOURCE", "RedfishClient", "parse_redfish", "read_redfish"]

SOURCE = "redfish"
_ENERGY_UNITS = {"EnergykWh": 1.0, "EnergyWh": 1e-3, "EnergyJoules": 1 / 3.6e6}


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if value >= 0 else None


def _excerpt(obj: Any, key: str) -> float | None:
    """``obj[key]["Reading"]`` of a Sensor excerpt, or None."""
    inner = obj.get(key) if isinstance(obj, Mapping) else None
    return _number(inner.get("Reading")) if isinstance(inner, Mapping) else None


def _kind(doc: Mapping[str, Any]) -> str:
    odata = str(doc.get("@odata.type", ""))
    for name in ("PowerSupplyMetrics", "EnvironmentMetrics", "PowerSubsystem", "Sensor", "Power"):
        if odata.startswith(f"#{name}."):
            return name
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


def parse_redfish(doc: Any, *, chassis: str, at: object, where: str = "redfish") -> list[EnergyRecord]:
    """Records from one Redfish resource (Power, EnvironmentMetrics, PowerSupplyMetrics, Sensor, or a
    PowerSubsystem whose ``PowerSupplies`` were expanded with their ``Metrics``)."""
    if not isinstance(doc, Mapping):
        raise DataFormatError("expected a Redfish resource (a JSON object)", path=where)
    stamp = utc_datetime(at, where=f"{where} time")
    kind = _kind(doc)
    if kind == "Power":
        return _power(doc, chassis, stamp, where)
    if kind == "EnvironmentMetrics":
        return _readings(chassis, stamp, "total", _excerpt(doc, "PowerWatts"), _excerpt(doc, "EnergykWh"),
                         "EnvironmentMetrics")
    if kind == "PowerSupplyMetrics":
        psu = str(doc.get("Id") or "psu")
        return _readings(f"{chassis}/{_psu_name(doc)}" if psu == "Metrics" else f"{chassis}/{psu}", stamp, "psu",
                         _excerpt(doc, "InputPowerWatts"), _excerpt(doc, "EnergykWh"), "PowerSupplyMetrics")
    if kind == "Sensor":
        return _sensor(doc, chassis, stamp)
    if kind == "PowerSubsystem":
        return _power_subsystem(doc, chassis, stamp, where)
    raise DataFormatError("not a Redfish Power, PowerSubsystem, EnvironmentMetrics, PowerSupplyMetrics or Sensor "
                          f"resource (@odata.type {doc.get('@odata.type')!r})", path=where)


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


def _power(doc: Mapping[str, Any], chassis: str, stamp: datetime, where: str) -> list[EnergyRecord]:
    controls = doc.get("PowerControl") or []
    if not isinstance(controls, list):
        raise DataFormatError("PowerControl is not an array", path=where)
    out: list[EnergyRecord] = []
    for i, pc in enumerate(controls):
        if not isinstance(pc, Mapping):
            continue
        member = str(pc.get("MemberId") or i)
        resource = chassis if len(controls) == 1 else f"{chassis}/PowerControl/{member}"
        watts = _number(pc.get("PowerConsumedWatts"))
        if watts is not None:
            out.append(EnergyRecord(source=SOURCE, resource_id=resource, start=stamp, end=stamp, power_w=watts,
                                    method="PowerControl.PowerConsumedWatts"))
        metrics = pc.get("PowerMetrics")
        if isinstance(metrics, Mapping):
            minutes = _number(metrics.get("IntervalInMin"))
            avg = _number(metrics.get("AverageConsumedWatts"))
            if minutes and avg is not None:
                span = minutes * 60.0
                out.append(EnergyRecord(source=SOURCE, resource_id=resource, start=stamp - timedelta(seconds=span),
                                        end=stamp, energy_kwh=avg * span / 3.6e6, power_w=avg,
                                        method=f"PowerMetrics.AverageConsumedWatts over {minutes:g} min"))
    for i, psu in enumerate(doc.get("PowerSupplies") or []):
        if isinstance(psu, Mapping) and _number(psu.get("PowerInputWatts")) is not None:
            name = str(psu.get("MemberId") or psu.get("Name") or i)
            out.append(EnergyRecord(source=SOURCE, resource_id=f"{chassis}/PowerSupplies/{name}", start=stamp,
                                    end=stamp, power_w=_number(psu.get("PowerInputWatts")), component="psu",
                                    method="PowerSupplies.PowerInputWatts"))
    if not out:
        raise DataFormatError("the Power resource has no PowerConsumedWatts or PowerMetrics reading (the BMC may "
                              "not meter power)", path=where)
    return out


def _sensor(doc: Mapping[str, Any], chassis: str, stamp: datetime) -> list[EnergyRecord]:
    kind = str(doc.get("ReadingType", ""))
    value = _number(doc.get("Reading"))
    if value is None:
        return []
    when = utc_datetime(doc["ReadingTime"]) if isinstance(doc.get("ReadingTime"), str) else stamp
    resource = f"{chassis}/Sensors/{doc.get('Id', 'sensor')}"
    if kind == "Power":
        return _readings(resource, when, "total", value, None, "Sensor Power")
    if kind in _ENERGY_UNITS:
        return _readings(resource, when, "total", None, value * _ENERGY_UNITS[kind], f"Sensor {kind}")
    return []


def _power_subsystem(doc: Mapping[str, Any], chassis: str, stamp: datetime, where: str) -> list[EnergyRecord]:
    supplies = doc.get("PowerSupplies")
    members = supplies.get("Members") if isinstance(supplies, Mapping) else None
    out: list[EnergyRecord] = []
    for m in members or []:
        metrics = m.get("Metrics") if isinstance(m, Mapping) else None
        if isinstance(metrics, Mapping) and ("InputPowerWatts" in metrics or "EnergykWh" in metrics):
            name = str(m.get("Id") or m.get("Name") or "psu")
            out += _readings(f"{chassis}/{name}", stamp, "psu", _excerpt(metrics, "InputPowerWatts"),
                             _excerpt(metrics, "EnergykWh"), "PowerSupplyMetrics")
    if not out:
        raise DataFormatError("this PowerSubsystem holds links, not readings: save PowerSupplies/{id}/Metrics and "
                              "EnvironmentMetrics, or read the BMC live with --url", path=where)
    return out


def read_redfish(path: str | os.PathLike[str], *, chassis: str | None = None, at: object | None = None
                 ) -> list[EnergyRecord]:
    """Records from a saved Redfish JSON file (one resource, or a JSON array of resources).

    ``chassis`` defaults to the id in the resource's ``@odata.id``, else the file's stem; ``at`` to the
    file's modification time.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no such file: check the path")
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise DataFormatError(f"not JSON ({exc})", path=str(p)) from None
    when = at if at is not None else datetime.fromtimestamp(p.stat().st_mtime, UTC)
    docs = doc if isinstance(doc, list) else [doc]
    out: list[EnergyRecord] = []
    for d in docs:
        out += parse_redfish(d, chassis=chassis or _chassis_id(d) or p.stem, at=when, where=str(p))
    return out


def _chassis_id(doc: Any) -> str | None:
    if not isinstance(doc, Mapping):
        return None
    parts = str(doc.get("@odata.id", "")).strip("/").split("/")
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
                        out += _readings(f"{chassis}/{name}", utc_datetime(at), "psu",
                                         _excerpt(body, "InputPowerWatts"), _excerpt(body, "EnergykWh"),
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
