"""File readers on realistic payloads: ipmitool / FreeIPMI DCMI output, saved Redfish JSON, PDU CSV exports."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from greenci.energy.ipmi import parse_dcmi_power_reading, read_ipmi
from greenci.energy.pdu import read_pdu_csv
from greenci.energy.records import to_intervals, total_energy_kwh
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


UNSET_CLOCK = DEACTIVATED.replace("deactivated", "activated")


def test_an_unset_bmc_clock_takes_the_logged_date_or_at_or_refuses() -> None:
    logged = "2024-02-15T09:00:00+00:00\n" + UNSET_CLOCK
    recs = parse_dcmi_power_reading(logged)
    assert len(recs) == 1  # no usable period: only the reading
    assert recs[0].start == datetime(2024, 2, 15, 9, tzinfo=UTC) and recs[0].power_w == 235
    with pytest.raises(DataFormatError, match=r"row 1: the reading has no usable time .* as at$") as info:
        parse_dcmi_power_reading(UNSET_CLOCK)
    assert info.value.field == "at"
    at = parse_dcmi_power_reading(UNSET_CLOCK, at="2024-02-15T10:00:00Z")
    assert at[0].start.hour == 10
    for unset in ("S+ 00:00:00", "Unspecified"):
        text = UNSET_CLOCK.replace("Thu Jan  1 00:00:00 1970", unset)
        assert parse_dcmi_power_reading(text, at="2024-02-15T10:00:00Z")[0].start.hour == 10


def test_deactivated_power_measurement_is_refused_even_with_at() -> None:
    """Regression: ``--at`` overrode a deactivated power-reading state and the numbers became readings."""
    for text in (DEACTIVATED, "2024-02-15T09:00:00+00:00\n" + DEACTIVATED,
                 DEACTIVATED.replace("235 Watts", "0 Watts")):
        with pytest.raises(DataFormatError, match=r"row \d column 'Power reading state is': power measurement is "
                                                  r"'deactivated' on the BMC.*Enable DCMI power measurement"):
            parse_dcmi_power_reading(text, at="2024-02-15T10:00:00Z", path="node7.txt")
    freeipmi_off = FREEIPMI.replace("Power Measurement                    : Active",
                                    "Power Measurement                    : Not Available")
    with pytest.raises(DataFormatError, match="'Not Available' on the BMC"):
        parse_dcmi_power_reading(freeipmi_off)
    with pytest.raises(DataFormatError, match="no 'Power reading state is'"):
        parse_dcmi_power_reading(IPMITOOL.replace("Power reading state is:                   activated", ""))


# ipmitool 1.8.19 prints the timestamp without a line break, so the sampling period shares its line
IPMITOOL_1_8_19 = """
    Instantaneous power reading:                   109 Watts
    Minimum during sampling period:                 38 Watts
    Maximum during sampling period:                242 Watts
    Average power reading over sample period:      102 Watts
    IPMI timestamp:                           10/12/23 13:29:17 CEST    Sampling period:                          \
00000060 Seconds.
    Power reading state is:                   activated

""".replace("\\\n", "")

IPMIUTIL = """ipmiutil dcmi ver 3.17
DCMI Version:                   1.5
Current Power:                   332 Watts
Min Power over sample duration:  68 Watts
Max Power over sample duration:  504 Watts
Avg Power over sample duration:  348 Watts
Timestamp:                       Thu Feb 15 09:37:32 2024

Sampling period:                 1000 ms
Power reading state is:          active
Exception Action:  OEM defined
Power Limit:       896 Watts (inactive)
Sampling period:   1472 sec
"""


def test_a_timestamp_sharing_its_line_with_the_sampling_period_is_read() -> None:
    """Regression: ipmitool 1.8.19 output (timestamp and period on one line) was refused."""
    assert "CEST    Sampling period:" in IPMITOOL_1_8_19
    reading, interval = parse_dcmi_power_reading(IPMITOOL_1_8_19, host="node7")
    t = datetime(2023, 10, 12, 11, 29, 17, tzinfo=UTC)  # 13:29:17 CEST
    assert (reading.start, reading.power_w) == (t, 109.0)
    assert (interval.start, interval.end, interval.power_w) == (t - timedelta(seconds=60), t, 102.0)
    utc = IPMITOOL_1_8_19.replace("13:29:17 CEST", "11:29:17 UTC")
    assert parse_dcmi_power_reading(utc)[0].start == t
    one_line = ("Instantaneous power reading: 200 Watts    Average power reading over sample period: 190 Watts    "
                "IPMI timestamp: 2024-02-15T08:36:01Z    Sampling period: 5_sec    Power reading state is: activated")
    reading, interval = parse_dcmi_power_reading(one_line)
    assert reading.power_w == 200 and interval.duration_s == 5 and interval.power_w == 190
    with pytest.raises(DataFormatError, match="time zone 'CST'.*-Z"):
        parse_dcmi_power_reading(IPMITOOL_1_8_19.replace("CEST", "CST"))


def test_ipmiutil_output_takes_the_first_sampling_period_of_a_block() -> None:
    reading, interval = parse_dcmi_power_reading(IPMIUTIL)
    assert reading.power_w == 332 and interval.duration_s == 1.0 and interval.power_w == 348


def test_implausible_watts_and_periods_are_refused_with_the_row() -> None:
    for bad in ("65535 Watts", "250000 Watts"):
        with pytest.raises(DataFormatError, match=r"x.txt row 2 column 'Instantaneous power reading'"):
            parse_dcmi_power_reading(IPMITOOL.replace("220 Watts", bad), path="x.txt")
    with pytest.raises(DataFormatError, match=r"row 2 column 'Instantaneous power reading': '-5 Watts' is not"):
        parse_dcmi_power_reading(IPMITOOL.replace("220 Watts", "-5 Watts"), path="x.txt")
    with pytest.raises(DataFormatError, match=r"row 7 column 'Sampling period'.*not a duration"):
        parse_dcmi_power_reading(IPMITOOL.replace("00000005 Seconds.", "9" * 400 + " Seconds."), path="x.txt")


def test_dcmi_double_counting_bmc_average_and_trapezoid_over_the_same_span(tmp_path: Path) -> None:
    """Regression: two readings 10 min apart at about 200 W summed to 71.7 Wh with --intervals.

    The second block's BMC average covers the 10 minutes between the readings: it counts, and the
    trapezoid over the same span does not (the truth is 33 to 38 Wh, not both).
    """
    first = IPMITOOL.replace("220 Watts", "200 Watts").replace("157 Watts", "200 Watts") \
        .replace("08:36:01", "08:30:00").replace("00000005 Seconds.", "00000001 Seconds.")
    second = IPMITOOL.replace("220 Watts", "210 Watts").replace("157 Watts", "225 Watts") \
        .replace("08:36:01", "08:40:00").replace("00000005 Seconds.", "00000600 Seconds.")
    path = tmp_path / "node7.txt"
    path.write_text(first + second)
    intervals = to_intervals(read_ipmi(path))
    wh = total_energy_kwh(intervals) * 1000
    assert 33 <= wh <= 38 and wh == pytest.approx((200 * 1 + 225 * 600) / 3600)
    spans = sorted((r.start, r.end) for r in intervals)
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:], strict=False))  # no stretch counted twice
    # averages over 1 s: the trapezoids count, except for the seconds the averages cover
    short = to_intervals(parse_dcmi_power_reading(first + second.replace("00000600 Seconds.", "00000001 Seconds.")))
    trapezoid_j = (200 + 10 * 299.5 / 600) * 599  # the line from 200 W to 210 W over its first 599 s
    assert total_energy_kwh(short) * 3.6e6 == pytest.approx(200 * 1 + trapezoid_j + 225 * 1)


def test_overlapping_bmc_averages_are_counted_once() -> None:
    blocks = [IPMITOOL.replace("08:36:01", f"08:{30 + 10 * i}:01").replace("00000005 Seconds.", "00003600 Seconds.")
              for i in range(3)]
    out = to_intervals(parse_dcmi_power_reading("".join(blocks)))
    averages = [r for r in out if r.method.startswith("BMC average")]
    assert len(averages) == 1 and averages[0].end == datetime(2024, 2, 15, 8, 30, 1, tzinfo=UTC)
    trapezoids = [r for r in out if "trapezoid" in r.method]
    assert [r.duration_s for r in trapezoids] == [600, 600]


def test_random_bytes_are_refused_from_their_start(tmp_path: Path) -> None:
    """Regression: megabytes of random bytes were parsed to the end (20 s and 3 GB for 200 MB) before an error."""
    noise = os.urandom(4 * 1024 * 1024)
    for name, read in (("x.txt", read_ipmi), ("x.json", read_redfish), ("x.csv", read_pdu_csv)):
        path = tmp_path / name
        path.write_bytes(noise)
        with pytest.raises(DataFormatError, match=rf"{name}: the file (holds NUL bytes|is not text)"):
            read(path)
        path.write_bytes(b"timestamp,watts\n2024-03-01T12:00:00Z,100\n" + noise)
        with pytest.raises(DataFormatError, match=name):
            read(path)


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
    assert [r.energy_kwh for r in energy] == pytest.approx([0.3, 0.3])  # meter difference, then the reset
    assert "meter difference" in energy[0].method and "trapezoid" in energy[1].method  # stretch by power
    assert energy[0].resource_id == "pdu"
    no_power = tmp_path / "meter.csv"
    no_power.write_text("time;kWh\n" + "".join(f"{t0 + 900 * i};{kwh}\n" for i, kwh in enumerate([100.0, 100.3, 0.1])))
    assert [r.energy_kwh for r in to_intervals(read_pdu_csv(no_power))] == pytest.approx([0.3])  # reset left out


def test_pdu_errors_name_the_row_and_column(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("timestamp,watts\n2024-03-01T12:00:00Z,100\n2024-03-01T12:01:00Z,-3\n")
    with pytest.raises(DataFormatError, match=r"bad.csv row 3 column 'watts': '-3' is not a power reading"):
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


def test_pdu_power_and_meter_must_be_plausible(tmp_path: Path) -> None:
    path = tmp_path / "rack.csv"
    for header, value in (("watts", "1e308"), ("watts", "nan"), ("watts", "inf"), ("kW", "150"), ("kWh", "-1"),
                          ("kWh", "nan"), ("Wh", "-inf")):
        path.write_text(f"timestamp,{header}\n2024-03-01T12:00:00Z,1\n2024-03-01T12:01:00Z,{value}\n")
        with pytest.raises(DataFormatError, match=rf"rack.csv row 3 column '{header}': '{value}' is not an? "):
            read_pdu_csv(path)
    path.write_text("timestamp,watts\n1709294400000,100\n")
    with pytest.raises(DataFormatError, match=r"row 2 column 'timestamp'.*milliseconds"):
        read_pdu_csv(path)
    path.write_text("timestamp,watts\n2024-03-01T12:00:00Z,100,\n2024-03-01T12:01:00Z,100,7\n")
    with pytest.raises(DataFormatError, match=r"row 3: has 3 cells, the header 2"):
        read_pdu_csv(path)


def test_redfish_values_of_the_wrong_kind_are_refused_with_their_json_path(tmp_path: Path) -> None:
    bad = [({"PowerConsumedWatts": -1}, "PowerControl/0/PowerConsumedWatts"),
           ({"PowerConsumedWatts": "344"}, "PowerControl/0/PowerConsumedWatts"),
           ({"PowerConsumedWatts": 1e308}, "PowerControl/0/PowerConsumedWatts"),
           ({"PowerMetrics": {"IntervalInMin": 10**20, "AverageConsumedWatts": 319}},
            "PowerControl/0/PowerMetrics/IntervalInMin")]
    for change, pointer in bad:
        doc = json.loads(json.dumps(LEGACY_POWER))
        doc["PowerControl"][0].update(change)
        with pytest.raises(DataFormatError, match=rf"power.json column '{pointer}'"):
            parse_redfish(doc, chassis="1U", at=AT, where="power.json")
    with pytest.raises(DataFormatError, match="column 'EnergykWh/Reading'"):
        parse_redfish({**ENVIRONMENT, "EnergykWh": {"Reading": -5}}, chassis="1U", at=AT, where="env.json")
    path = tmp_path / "env.json"
    path.write_text('{"@odata.type": "#EnvironmentMetrics.v1_3_1.EnvironmentMetrics", "PowerWatts": {"Reading": NaN}}')
    with pytest.raises(DataFormatError, match="env.json: not JSON .*NaN"):
        read_redfish(path)
    path.write_text(json.dumps({**ENVIRONMENT, "PowerWatts": {"Reading": None}, "EnergykWh": None}))
    with pytest.raises(DataFormatError, match="env.json: no power or energy reading"):
        read_redfish(path)
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(DataFormatError, match="env.json"):
        read_redfish(path)


def test_a_damaged_first_line_of_a_reading_is_refused_not_merged_into_the_one_before() -> None:
    log = IPMITOOL + IPMITOOL.replace("08:36:01", "08:37:01").replace("Instantaneous power reading",
                                                                      "Instantaneous p0wer reading")
    with pytest.raises(DataFormatError, match=r"row 12 column 'Minimum during sampling period': .* twice"):
        parse_dcmi_power_reading(log)
    with pytest.raises(DataFormatError, match=r"row 3 column 'Minimum during sampling period': .* before any"):
        parse_dcmi_power_reading(IPMITOOL.replace("Instantaneous power reading", "Instantaneous p0wer reading"))
