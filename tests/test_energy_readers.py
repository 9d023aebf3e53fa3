"""File readers on realistic payloads: ipmitool / FreeIPMI DCMI output, saved Redfish JSON, PDU CSV exports."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from greenci.energy.ipmi import parse_dcmi_power_reading, read_ipmi
from greenci.energy.pdu import read_pdu_csv
from greenci.energy.records import to_intervals
from greenci.energy.redfish import parse_redfish, read_redfish
from greenci.errors import DataFormatError, InputError

# ====================================================================== IPMI
IPMITOOL = """
    Instantaneous power reading:                   220 Watts
    Minimum during sampling period:                 48 Watts
    Maximum during sampling period:                361 Watts
    Average power reading over sample period:      157 Watts
    IPMI timestamp:                           Thu Feb 15 08:36:01 2024
    Sampling period:                          00000005 Seconds.
    Power reading state is:                   activated

"""

FREEIPMI = """Current Power                        : 50 watts
Minimum Power over sampling duration : 6 watts
Maximum Power over sampling duration : 304 watts
Average Power over sampling duration : 49 watts
Time Stamp                           : 02/15/2024 - 08:36:01
Statistics reporting time period     : 60000 milliseconds
Power Measurement                    : Active
"""

DEACTIVATED = """    Instantaneous power reading:                   235 Watts
    Minimum during sampling period:                235 Watts
    Maximum during sampling period:                235 Watts
    Average power reading over sample period:      235 Watts
    IPMI timestamp:                           Thu Jan  1 00:00:00 1970
    Sampling period:                          00000000 Seconds.
    Power reading state is:                   deactivated
"""


def test_ipmitool_block_gives_a_reading_and_the_bmc_average_interval() -> None:
    recs = parse_dcmi_power_reading(IPMITOOL, host="node7")
    reading, interval = recs
    t = datetime(2024, 2, 15, 8, 36, 1, tzinfo=UTC)
    assert (reading.start, reading.end, reading.power_w, reading.resource_id) == (t, t, 220.0, "node7")
    assert interval.start == t - timedelta(seconds=5) and interval.end == t
    assert interval.power_w == 157.0 and interval.energy_kwh == pytest.approx(157 * 5 / 3.6e6)


def test_freeipmi_statistics_are_read_the_same_way() -> None:
    reading, interval = parse_dcmi_power_reading(FREEIPMI)
    assert reading.power_w == 50.0
    assert interval.duration_s == 60.0 and interval.power_w == 49.0


def test_a_log_of_repeated_calls_integrates_between_readings(tmp_path: Path) -> None:
    blocks = [IPMITOOL.replace("08:36:01", f"08:{36 + i}:01").replace("220 Watts", f"{200 + 10 * i} Watts")
              for i in range(3)]
    path = tmp_path / "node7.log"
    path.write_text("".join(blocks))
    recs = read_ipmi(path)
    assert {r.resource_id for r in recs} == {"node7"}
    readings = [r for r in recs if not r.is_interval]
    assert [r.power_w for r in readings] == [200, 210, 220]
    trapezoids = [r for r in to_intervals(readings)]
    assert [r.energy_kwh for r in trapezoids] == pytest.approx([205 * 60 / 3.6e6, 215 * 60 / 3.6e6])


def test_a_deactivated_bmc_clock_takes_the_logged_date_or_refuses() -> None:
    logged = "2024-02-15T09:00:00+00:00\n" + DEACTIVATED
    recs = parse_dcmi_power_reading(logged)
    assert len(recs) == 1  # no usable period: only the reading
    assert recs[0].start == datetime(2024, 2, 15, 9, tzinfo=UTC) and recs[0].power_w == 235
    with pytest.raises(DataFormatError, match=r"row 1: reading has no usable time .*--at"):
        parse_dcmi_power_reading(DEACTIVATED)
    at = parse_dcmi_power_reading(DEACTIVATED, at="2024-02-15T10:00:00Z")
    assert at[0].start.hour == 10


def test_output_that_is_not_dcmi_is_refused() -> None:
    with pytest.raises(DataFormatError, match="Instantaneous power reading"):
        parse_dcmi_power_reading("Error: Unable to establish IPMI v2 / RMCP+ session\n", path="x.txt")
    with pytest.raises(InputError, match="no such file"):
        read_ipmi("/nonexistent/ipmi.txt")


# ====================================================================== Redfish
AT = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)

LEGACY_POWER = {
    "@odata.id": "/redfish/v1/Chassis/1U/Power", "@odata.type": "#Power.v1_7_1.Power", "Id": "Power",
    "PowerControl": [{
        "@odata.id": "/redfish/v1/Chassis/1U/Power#/PowerControl/0", "MemberId": "0", "Name": "System Power Control",
        "PowerConsumedWatts": 344, "PowerRequestedWatts": 800, "PowerAvailableWatts": 0, "PowerCapacityWatts": 800,
        "PowerAllocatedWatts": 800,
        "PowerMetrics": {"IntervalInMin": 30, "MinConsumedWatts": 271, "MaxConsumedWatts": 489,
                         "AverageConsumedWatts": 319},
        "PowerLimit": {"LimitInWatts": 500, "LimitException": "LogEventOnly", "CorrectionInMs": 50},
        "Status": {"State": "Enabled", "Health": "OK"},
    }],
    "PowerSupplies": [{"MemberId": "0", "Name": "Power Supply Bay", "PowerInputWatts": 370, "LineInputVoltage": 120,
                       "Status": {"State": "Enabled", "Health": "OK"}}],
}

ENVIRONMENT = {
    "@odata.type": "#EnvironmentMetrics.v1_3_1.EnvironmentMetrics", "Id": "EnvironmentMetrics",
    "Name": "Chassis Environment Metrics",
    "TemperatureCelsius": {"Reading": 39, "DataSourceUri": "/redfish/v1/Chassis/1U/Sensors/CPU1Temp"},
    "PowerWatts": {"Reading": 374, "DataSourceUri": "/redfish/v1/Chassis/1U/Sensors/TotalPower"},
    "EnergykWh": {"DataSourceUri": "/redfish/v1/Chassis/1U/Sensors/Energy", "Reading": 3638, "LifetimeReading": 6491},
    "@odata.id": "/redfish/v1/Chassis/1U/EnvironmentMetrics",
}

PSU_METRICS = {
    "@odata.type": "#PowerSupplyMetrics.v1_1_2.PowerSupplyMetrics", "Id": "Metrics",
    "Name": "Metrics for Power Supply 1", "Status": {"State": "Enabled", "Health": "Warning"},
    "InputVoltage": {"DataSourceUri": "/redfish/v1/Chassis/1U/Sensors/PS1InputVoltage", "Reading": 230.2},
    "InputPowerWatts": {"DataSourceUri": "/redfish/v1/Chassis/1U/Sensors/PS1InputPower", "Reading": 937.4},
    "OutputPowerWatts": {"DataSourceUri": "/redfish/v1/Chassis/1U/Sensors/PS1OutputPower", "Reading": 880.0},
    "EnergykWh": {"DataSourceUri": "/redfish/v1/Chassis/1U/Sensors/PS1Energy", "Reading": 325675},
    "@odata.id": "/redfish/v1/Chassis/1U/PowerSubsystem/PowerSupplies/Bay1/Metrics",
}

SENSOR = {
    "@odata.type": "#Sensor.v1_8_0.Sensor", "Id": "TotalEnergy", "Name": "Total energy", "ReadingType": "EnergyJoules",
    "ReadingTime": "2024-03-01T11:59:30+00:00", "Reading": 7.2e6, "ReadingUnits": "J",
    "@odata.id": "/redfish/v1/Chassis/1U/Sensors/TotalEnergy",
}


def test_legacy_power_gives_readings_and_the_average_interval() -> None:
    recs = parse_redfish(LEGACY_POWER, chassis="1U", at=AT)
    readings = {(r.resource_id, r.component): r for r in recs if not r.is_interval}
    assert readings[("1U", "total")].power_w == 344
    assert readings[("1U/PowerSupplies/0", "psu")].power_w == 370
    interval = next(r for r in recs if r.is_interval)
    assert interval.start == AT - timedelta(minutes=30) and interval.end == AT
    assert interval.energy_kwh == pytest.approx(319 * 0.5 / 1000)


def test_environment_metrics_power_and_energy_meter() -> None:
    power, meter = parse_redfish(ENVIRONMENT, chassis="1U", at=AT)
    assert power.power_w == 374 and meter.meter_kwh == 3638 and meter.start == AT
    later = parse_redfish({**ENVIRONMENT, "EnergykWh": {"Reading": 3639.5}}, chassis="1U", at=AT + timedelta(hours=1))
    energy = to_intervals([meter, *[r for r in later if r.meter_kwh is not None]])
    assert energy[0].energy_kwh == pytest.approx(1.5) and energy[0].power_w == pytest.approx(1500)


def test_power_supply_metrics_sensor_and_expanded_power_subsystem() -> None:
    psu = parse_redfish(PSU_METRICS, chassis="1U", at=AT)
    assert [(r.resource_id, r.component, r.power_w, r.meter_kwh) for r in psu] == [
        ("1U/Bay1", "psu", 937.4, None), ("1U/Bay1", "psu", None, 325675)]
    (energy,) = parse_redfish(SENSOR, chassis="1U", at=AT)
    assert energy.meter_kwh == pytest.approx(2.0) and energy.start == datetime(2024, 3, 1, 11, 59, 30, tzinfo=UTC)
    subsystem = {"@odata.type": "#PowerSubsystem.v1_1_0.PowerSubsystem", "Id": "PowerSubsystem", "CapacityWatts": 2000,
                 "PowerSupplies": {"@odata.id": "/redfish/v1/Chassis/1U/PowerSubsystem/PowerSupplies",
                                   "Members": [{"Id": "Bay1", "Metrics": PSU_METRICS}]}}
    assert len(parse_redfish(subsystem, chassis="1U", at=AT)) == 2
    links_only = {**subsystem, "PowerSupplies": {"@odata.id": "/redfish/v1/Chassis/1U/PowerSubsystem/PowerSupplies"}}
    with pytest.raises(DataFormatError, match="holds links, not readings"):
        parse_redfish(links_only, chassis="1U", at=AT)


def test_redfish_files_take_chassis_from_odata_id_and_time_from_mtime(tmp_path: Path) -> None:
    path = tmp_path / "snapshot.json"
    path.write_text(json.dumps([ENVIRONMENT, LEGACY_POWER]))
    stamp = AT.timestamp()
    os.utime(path, (stamp, stamp))
    recs = read_redfish(path)
    assert {r.resource_id for r in recs} >= {"1U", "1U/PowerSupplies/0"}
    assert all(r.end == AT for r in recs)
    bad = tmp_path / "thermal.json"
    bad.write_text(json.dumps({"@odata.type": "#Thermal.v1_7_0.Thermal", "Fans": []}))
    with pytest.raises(DataFormatError, match="not a Redfish Power"):
        read_redfish(bad)
    no_reading = tmp_path / "power.json"
    no_reading.write_text(json.dumps({"@odata.type": "#Power.v1_0_0.Power", "PowerControl": [{"MemberId": "0"}]}))
    with pytest.raises(DataFormatError, match="no PowerConsumedWatts"):
        read_redfish(no_reading)


# ====================================================================== PDU CSV
def test_pdu_watts_per_outlet(tmp_path: Path) -> None:
    path = tmp_path / "rack12.csv"
    path.write_text("Timestamp,Outlet,Active Power (W)\n"
                    "2024-03-01T12:00:00Z,A1,100\n2024-03-01T12:00:00Z,A2,50\n"
                    "2024-03-01T12:01:00Z,A1,200\n2024-03-01T12:01:00Z,A2,\n"
                    "2024-03-01T12:02:00Z,A2,50\n")
    recs = read_pdu_csv(path)
    assert len(recs) == 4 and {r.component for r in recs} == {"outlet"}
    energy = {r.resource_id: r for r in to_intervals(recs)}
    assert energy["A1"].energy_kwh == pytest.approx(150 * 60 / 3.6e6)
    assert energy["A2"].duration_s == 120  # the empty cell is a missing reading, bridged only by max_gap_s
    assert not [r for r in to_intervals(recs, max_gap_s=90) if r.resource_id == "A2"]


def test_pdu_kw_and_kwh_meter_with_semicolons_and_epoch_times(tmp_path: Path) -> None:
    path = tmp_path / "pdu.csv"
    t0 = int(AT.timestamp())
    path.write_text("time;kW;kWh\n" + "".join(f"{t0 + 900 * i};{kw};{kwh}\n"
                                             for i, (kw, kwh) in enumerate([(1.2, 100.0), (1.4, 100.3), (1.0, 0.1)])))
    recs = read_pdu_csv(path)
    assert recs[0].power_w == pytest.approx(1200) and recs[0].meter_kwh == 100.0 and recs[0].start == AT
    energy = to_intervals(recs)
    assert len(energy) == 1 and energy[0].energy_kwh == pytest.approx(0.3)  # the reset interval is left out
    assert energy[0].resource_id == "pdu"


def test_pdu_errors_name_the_row_and_column(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("timestamp,watts\n2024-03-01T12:00:00Z,100\n2024-03-01T12:01:00Z,-3\n")
    with pytest.raises(DataFormatError, match=r"bad.csv row 3 column 'watts': '-3' must be"):
        read_pdu_csv(path)
    path.write_text("when,watts\n2024-03-01T12:00:00Z,100\n")
    with pytest.raises(DataFormatError, match="no time column"):
        read_pdu_csv(path)
    path.write_text("timestamp,volts\n2024-03-01T12:00:00Z,230\n")
    with pytest.raises(DataFormatError, match="no power"):
        read_pdu_csv(path)
    path.write_text("timestamp,watts\nlater,100\n")
    with pytest.raises(DataFormatError, match="row 2 column 'timestamp'"):
        read_pdu_csv(path)
