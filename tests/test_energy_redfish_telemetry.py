"""Redfish TelemetryService MetricReports, PowerEquipment rack PDUs, and scoped Sensors.

Payloads are written here, modelled on the DMTF mockups, Dell iDRAC telemetry and OpenBMC reports.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from greenci.cli.energy import register
from greenci.energy.records import to_intervals, total_energy_kwh
from greenci.energy.redfish import parse_redfish, read_redfish
from greenci.errors import DataFormatError

AT = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


def _mv(metric_id: str, value: object, ts: str | None, prop: str | None = None, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"MetricId": metric_id, "MetricValue": value, **extra}
    if ts is not None:
        out["Timestamp"] = ts
    if prop is not None:
        out["MetricProperty"] = prop
    return out


def _report(values: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"@odata.type": "#MetricReport.v1_5_0.MetricReport", "Id": "PlatformPowerUsage",
            "@odata.id": "/redfish/v1/TelemetryService/MetricReports/PlatformPowerUsage",
            "Name": "Platform power usage", "ReportSequence": "127",
            "MetricReportDefinition": {"@odata.id": "/redfish/v1/TelemetryService/MetricReportDefinitions/"
                                                     "PlatformPowerUsage"},
            "MetricValues": values, **extra}


POWER = "/redfish/v1/Chassis/1U/Power#/PowerControl/0/PowerConsumedWatts"
PSU1 = "/redfish/v1/Chassis/1U/Sensors/PS1InputPower/Reading"
TOTAL_SENSOR = "/redfish/v1/Chassis/1U/Sensors/TotalPower/Reading"
CPU0 = "/redfish/v1/Systems/1/Processors/CPU0/EnvironmentMetrics#/PowerWatts/Reading"
DIMM = "/redfish/v1/Systems/1/Memory/DIMM1/EnvironmentMetrics#/PowerWatts/Reading"
ENERGY = "/redfish/v1/Chassis/1U/EnvironmentMetrics#/EnergyJoules/Reading"


def test_metric_report_series_with_scopes_from_property_paths() -> None:
    values = []
    for minute, (node, psu, cpu, dimm) in enumerate(((400, 210, 120, 18), (460, 240, 150, 19), (430, 225, 135, 18))):
        ts = f"2024-03-01T12:0{minute}:00Z"
        values += [_mv("PlatformPower", str(node), ts, POWER), _mv("PS1Power", str(psu), ts, PSU1),
                   _mv("CPU0Power", f"{cpu}.0", ts, CPU0), _mv("DIMM1Power", str(dimm), ts, DIMM),
                   _mv("Inlet", "23", ts, "/redfish/v1/Chassis/1U/Sensors/InletTemp/Reading")]
    recs = parse_redfish(_report(values), chassis="1U", at=AT, where="report.json")
    by: dict[tuple[str, str], list[float]] = {}
    for r in sorted(recs, key=lambda r: r.start):
        by.setdefault((r.resource_id, r.component), []).append(r.power_w or 0.0)
    assert by == {("1U", "total"): [400, 460, 430], ("1U/Sensors/PS1InputPower", "psu"): [210, 240, 225],
                  ("1/CPU0", "cpu"): [120, 150, 135], ("1/DIMM1", "ram"): [18, 19, 18]}
    assert {r.start.minute for r in recs} == {0, 1, 2}
    assert all("time: its Timestamp" in r.method for r in recs)
    node = [r for r in to_intervals(recs) if r.component == "total"]
    assert total_energy_kwh(node) == pytest.approx(((400 + 460) / 2 * 60 + (460 + 430) / 2 * 60) / 3.6e6)


def test_two_metrics_of_one_chassis_total_are_not_double_counted() -> None:
    ts = "2024-03-01T12:00:00Z"
    values = [_mv("PlatformPower", "400", ts, POWER), _mv("TotalPower", "398", ts, TOTAL_SENSOR),
              _mv("AvgPower", "390", ts, "/redfish/v1/Chassis/1U/Power#/PowerControl/0/PowerMetrics/"
                                          "AverageConsumedWatts"),
              _mv("MaxPower", "600", ts, "/redfish/v1/Chassis/1U/Power#/PowerControl/0/PowerMetrics/MaxConsumedWatts")]
    (total,) = parse_redfish(_report(values), chassis="1U", at=AT)
    assert total.component == "total" and total.power_w == 400
    assert "not counted again: AvgPower, TotalPower" in total.method


def test_dell_style_report_by_metric_id_with_units_from_the_definition_and_kw(tmp_path: Path) -> None:
    ts = "2024-03-01T12:00:00Z"
    report = _report([
        _mv("SystemInputPower", "0.312", ts,
            Oem={"Dell": {"ContextID": "System.Embedded.1", "Source": "PowerMetrics"}}),
        _mv("TotalCPUPower", "141", ts, Oem={"Dell": {"ContextID": "System.Embedded.1"}}),
        _mv("TotalMemoryPower", "22000", ts, Oem={"Dell": {"ContextID": "System.Embedded.1"}}),
        _mv("PSUInputPower", "160", ts, Oem={"Dell": {"ContextID": "PSU.Slot.1"}}),
        _mv("TotalFanPower", "31", ts),
        _mv("SystemEnergyConsumption", "1234.5", ts),
    ], Id="PowerMetrics")
    definition = {"@odata.type": "#MetricReportDefinition.v1_4_2.MetricReportDefinition", "Id": "PowerMetrics",
                  "MetricReportDefinitionType": "Periodic",
                  "ReportActions": ["RedfishEvent", "LogToMetricReportsCollection"],
                  "Metrics": [{"MetricId": "SystemInputPower", "Units": "kW"},
                              {"MetricId": "TotalMemoryPower", "Units": "mW"},
                              {"MetricId": "SystemEnergyConsumption", "Units": "kW.h"}]}
    path = tmp_path / "r750.json"
    path.write_text(json.dumps([definition, report]))
    recs = read_redfish(path)
    got = {(r.resource_id, r.component): r for r in recs if r.power_w is not None}
    assert got[("r750", "total")].power_w == pytest.approx(312.0)  # kW from the definition
    assert got[("r750/CPU", "cpu")].power_w == 141.0
    assert got[("r750/MEM", "ram")].power_w == pytest.approx(22.0)  # mW from the definition
    assert got[("r750/PSU.Slot.1", "psu")].power_w == 160.0
    assert not any("Fan" in r.method for r in recs)
    (meter,) = [r for r in recs if r.meter_kwh is not None]
    assert (meter.resource_id, meter.component, meter.meter_kwh) == ("r750", "total", 1234.5)


def test_energy_in_joules_missing_timestamps_and_empty_values(tmp_path: Path) -> None:
    report = _report([_mv("Energy", "7200000", None, ENERGY), _mv("PlatformPower", "nan", None, POWER),
                      _mv("PlatformPower", "", None, POWER)], Timestamp="2024-03-01T11:00:00Z")
    (meter,) = parse_redfish(report, chassis="1U", at=AT)
    assert meter.meter_kwh == pytest.approx(2.0) and meter.start == datetime(2024, 3, 1, 11, tzinfo=UTC)
    assert "time: the report's Timestamp" in meter.method
    bare = _report([_mv("PlatformPower", "350", None, POWER)])
    path = tmp_path / "bare.json"
    path.write_text(json.dumps(bare))
    os.utime(path, (AT.timestamp(), AT.timestamp()))
    (reading,) = read_redfish(path)
    assert reading.start == AT and "time: at (no Timestamp)" in reading.method


def test_reports_without_power_and_definitions_alone_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "defn.json"
    path.write_text(json.dumps({"@odata.type": "#MetricReportDefinition.v1_4_2.MetricReportDefinition",
                                "Id": "PowerMetrics", "Metrics": [{"MetricId": "SystemInputPower"}]}))
    with pytest.raises(DataFormatError, match=r"defn.json: holds only MetricReportDefinition.*no values.*MetricReport"):
        read_redfish(path)
    temps = tmp_path / "temps.json"
    temps.write_text(json.dumps(_report([_mv("InletTemp", "23", "2024-03-01T12:00:00Z",
                                             "/redfish/v1/Chassis/1U/Sensors/InletTemp/Reading")])))
    with pytest.raises(DataFormatError, match=r"temps.json: no power or energy reading.*sensor 'InletTemp' is not"):
        read_redfish(temps)
    bad = _report([_mv("PlatformPower", "about 400", "2024-03-01T12:00:00Z", POWER)])
    with pytest.raises(DataFormatError, match=r"column 'MetricValues/0/MetricValue': 'about 400' is not a number"):
        parse_redfish(bad, chassis="1U", at=AT, where="r.json")
    empty = _report([])
    with pytest.raises(DataFormatError, match="holds no MetricValues"):
        parse_redfish(empty, chassis="1U", at=AT)


# ====================================================================== PowerEquipment
def _outlet(oid: str, watts: float | None, kwh: float, state: str = "On", status: str = "Enabled") -> dict[str, Any]:
    return {"@odata.type": "#Outlet.v1_4_0.Outlet", "Id": oid, "Name": f"Outlet {oid}",
            "@odata.id": f"/redfish/v1/PowerEquipment/RackPDUs/1/Outlets/{oid}", "OutletType": "C13",
            "PowerState": state, "Status": {"State": status, "Health": "OK"},
            "Voltage": {"Reading": 230.1}, "CurrentAmps": {"Reading": 0.5},
            "PowerWatts": {"Reading": watts, "ApparentVA": 120, "PowerFactor": 0.92}, "EnergykWh": {"Reading": kwh}}


def _circuit(group: str, cid: str, kind: str, watts: float, kwh: float) -> dict[str, Any]:
    return {"@odata.type": "#Circuit.v1_7_0.Circuit", "Id": cid, "CircuitType": kind, "PowerState": "On",
            "@odata.id": f"/redfish/v1/PowerEquipment/RackPDUs/1/{group}/{cid}", "Status": {"State": "Enabled"},
            "PowerWatts": {"Reading": watts}, "EnergykWh": {"Reading": kwh}}


def _pdu() -> dict[str, Any]:
    return {"@odata.type": "#PowerDistribution.v1_3_0.PowerDistribution", "Id": "1",
            "@odata.id": "/redfish/v1/PowerEquipment/RackPDUs/1", "EquipmentType": "RackPDU",
            "Mains": {"@odata.id": "/redfish/v1/PowerEquipment/RackPDUs/1/Mains",
                      "Members": [_circuit("Mains", "AC1", "Mains", 1450, 5120.5)]},
            "Branches": {"@odata.id": "/redfish/v1/PowerEquipment/RackPDUs/1/Branches",
                         "Members": [_circuit("Branches", "A", "Branch", 900, 3001),
                                     _circuit("Branches", "B", "Branch", 550, 2119.5)]},
            "Outlets": {"@odata.id": "/redfish/v1/PowerEquipment/RackPDUs/1/Outlets",
                        "Members": [_outlet("A1", 412, 880.0), _outlet("A2", 17.5, 12.0, state="Off"),
                                    _outlet("A3", None, 0.0, status="Absent")]},
            "Metrics": {"@odata.id": "/redfish/v1/PowerEquipment/RackPDUs/1/Metrics",
                        "PowerWatts": {"Reading": 1450}, "EnergykWh": {"Reading": 5120.5}}}


def test_rack_pdu_mains_branches_and_outlets_with_off_and_absent(tmp_path: Path) -> None:
    path = tmp_path / "pdu.json"
    path.write_text(json.dumps(_pdu()))
    recs = read_redfish(path, at=AT)
    power = {(r.resource_id, r.component): r for r in recs if r.power_w is not None}
    assert set(power) == {("1/Mains/AC1", "mains"), ("1/Branches/A", "circuit"), ("1/Branches/B", "circuit"),
                          ("1/Outlets/A1", "outlet"), ("1/Outlets/A2", "outlet")}
    off = power[("1/Outlets/A2", "outlet")]
    assert off.power_w == 0.0 and "PowerState Off: 0 W (its PowerWatts read 17.5 W)" in off.method
    # the PDU's own Metrics repeat its single mains feed: counted once
    assert [r.resource_id for r in recs if r.component == "mains" and r.power_w is not None] == ["1/Mains/AC1"]
    meters = {r.resource_id: r.meter_kwh for r in recs if r.meter_kwh is not None}
    assert meters["1/Branches/B"] == 2119.5 and "1/Outlets/A3" not in meters


def test_outlet_collection_expanded_and_a_pdu_of_links_refused(tmp_path: Path) -> None:
    coll = {"@odata.type": "#OutletCollection.OutletCollection",
            "@odata.id": "/redfish/v1/PowerEquipment/RackPDUs/pdu7/Outlets",
            "Members": [_outlet("A1", 100, 1.0), _outlet("B4", 0.25, 2.0)]}
    coll["Members"][1]["@odata.id"] = "/redfish/v1/PowerEquipment/RackPDUs/pdu7/Outlets/B4"
    coll["Members"][0]["@odata.id"] = "/redfish/v1/PowerEquipment/RackPDUs/pdu7/Outlets/A1"
    path = tmp_path / "outlets.json"
    path.write_text(json.dumps(coll))
    recs = read_redfish(path, at=AT)
    assert {(r.resource_id, r.component, r.power_w) for r in recs if r.power_w is not None} == {
        ("pdu7/Outlets/A1", "outlet", 100.0), ("pdu7/Outlets/B4", "outlet", 0.25)}
    links = {"@odata.type": "#PowerDistribution.v1_3_0.PowerDistribution", "Id": "1",
             "Outlets": {"@odata.id": "/redfish/v1/PowerEquipment/RackPDUs/1/Outlets"}}
    path.write_text(json.dumps(links))
    with pytest.raises(DataFormatError, match="holds links, not readings"):
        read_redfish(path, at=AT)
    path.write_text(json.dumps([_outlet("A3", None, 0.0, status="Disabled")]))
    with pytest.raises(DataFormatError, match=r"no power or energy reading.*Outlet 1/Outlets/A3 is Disabled"):
        read_redfish(path, at=AT)


# ====================================================================== Sensor scopes
def _sensor(sid: str, reading: float, **extra: Any) -> dict[str, Any]:
    return {"@odata.type": "#Sensor.v1_8_0.Sensor", "Id": sid, "ReadingType": "Power", "Reading": reading,
            "@odata.id": f"/redfish/v1/Chassis/1U/Sensors/{sid}", **extra}


def test_sensors_are_scoped_by_context_or_id_and_disabled_ones_skipped(tmp_path: Path) -> None:
    docs = [_sensor("PS1InputPower", 220, PhysicalContext="PowerSupply"),
            _sensor("CPU0Power", 0.118, PhysicalContext="CPU", ReadingUnits="kW"),
            _sensor("power_total_power", 410),
            _sensor("DIMMPower", 21),
            _sensor("Fan0Power", 9, PhysicalContext="Fan"),
            _sensor("PS2InputPower", 0, PhysicalContext="PowerSupply", Status={"State": "Absent"})]
    path = tmp_path / "sensors.json"
    path.write_text(json.dumps(docs))
    recs = read_redfish(path, at=AT)
    assert {(r.resource_id, r.component, r.power_w) for r in recs} == {
        ("1U/Sensors/PS1InputPower", "psu", 220.0), ("1U/Sensors/CPU0Power", "cpu", 118.0),
        ("1U/Sensors/power_total_power", "total", 410.0), ("1U/Sensors/DIMMPower", "ram", 21.0)}


def test_cli_reads_a_metric_report_with_the_right_components(tmp_path: Path) -> None:
    app = typer.Typer()
    register(app)
    ts = "2024-03-01T12:00:00Z"
    path = tmp_path / "report.json"
    path.write_text(json.dumps(_report([_mv("PlatformPower", "400", ts, POWER), _mv("PS1Power", "210", ts, PSU1),
                                        _mv("CPU0Power", "120", ts, CPU0)])))
    result = CliRunner().invoke(app, ["telemetry", "redfish", str(path), "--chassis", "1U", "--format", "json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert {(r["resource_id"], r["component"]) for r in rows} == {
        ("1U", "total"), ("1U/Sensors/PS1InputPower", "psu"), ("1/CPU0", "cpu")}
