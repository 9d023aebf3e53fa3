"""``ipmitool sdr`` / ``sdr elist`` / ``sensor`` output: power sensors per node, PSU, CPU and DRAM.

Payloads are written here, modelled on what Dell (iDRAC), Supermicro, Intel and Lenovo BMCs list.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from greenci.cli.energy import register
from greenci.energy.ipmi import read_ipmi
from greenci.energy.ipmi_sdr import parse_sdr
from greenci.energy.records import to_intervals, total_energy_kwh
from greenci.energy.scopes import classify
from greenci.errors import DataFormatError

AT = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)

# Dell PowerEdge, `ipmitool sdr elist`: a node meter and a board-level total, one PSU read, one absent
DELL_ELIST = """\
Fan1A            | 30h | ok  |  7.1 | 5880 RPM
Inlet Temp       | 04h | ok  |  7.1 | 23 degrees C
Current 1        | 6Ah | ok  | 10.1 | 0.80 Amps
Current 2        | 6Bh | ns  | 10.2 | No Reading
Voltage 1        | 6Ch | ok  | 10.1 | 228 Volts
Pwr Consumption  | 77h | ok  |  7.1 | 224 Watts
System Level     | 78h | ok  |  7.1 | 221 Watts
PS1 Input Power  | 85h | ok  | 10.1 | 224 Watts
PS2 Input Power  | 86h | ns  | 10.2 | No Reading
CPU Usage        | E5h | ns  |  7.1 | Disabled
"""

# Intel / Supermicro style `ipmitool sdr`: no node total, two PSUs in and out, per-CPU and DIMM power
SUPERMICRO_SDR = """\
CPU1 Temp        | 45 degrees C      | ok
PS1 Input Power  | 180 Watts         | ok
PS2 Input Power  | 150 Watts         | ok
PS1 Output Power | 165 Watts         | ok
PS2 Output Power | 0.138 kW          | ok
PS1 Curr Out %   | 22 percent        | ok
CPU1 Power       | 95 Watts          | ok
CPU2 Power       | 88 Watts          | ok
CPU1 DIMM Power  | 12500 mW          | ok
Fan Power        | 21 Watts          | ok
P1 Therm Ctrl %  | 0 percent         | ok
"""

# `ipmitool sensor`: value and unit in columns, thresholds after them
SENSOR = """\
PS1 Input Power  | 220.000    | Watts      | ok    | na        | na        | na        | 896.000   | 980.000   | na
PS2 Input Power  | na         | Watts      | na    | na        | na        | na        | na        | na        | na
Pwr Consumption  | 224.000    | Watts      | ok    | na        | na        | na        | 896.000   | 980.000   | na
Current 1        | 0.800      | Amps       | ok    | na        | na        | na        | na        | na        | na
PS1 Status       | 0x1        | discrete   | 0x0100| na        | na        | na        | na        | na        | na
"""


def _by(recs: list) -> dict:
    return {(r.resource_id, r.component): r for r in recs}


def test_dell_elist_keeps_the_node_meter_once_and_the_psu_apart(tmp_path: Path) -> None:
    path = tmp_path / "node7.txt"
    path.write_text(DELL_ELIST)
    recs = read_ipmi(path, at=AT)
    got = _by(recs)
    assert set(got) == {("node7", "total"), ("node7/PSU1", "psu")}
    total = got[("node7", "total")]
    assert total.power_w == 224.0 and total.start == AT and total.source == "ipmi-sdr"
    # "System Level" reads the same node: named, not a second total
    assert "'Pwr Consumption'" in total.method and "not counted again: 'System Level'" in total.method
    assert "time: at given by the caller" in total.method
    assert got[("node7/PSU1", "psu")].power_w == 224.0
    # amps and volts are never turned into power
    assert all(r.power_w in (224.0,) for r in recs)


def test_no_total_sensor_sums_the_psu_inputs_and_says_so_per_part_scopes_and_units() -> None:
    recs = parse_sdr(SUPERMICRO_SDR.splitlines(), host="n1", at=AT, time_note="test", where="x.txt")
    got = _by(recs)
    # PSU input wins over its output; an output alone (none here) would be kept and labelled
    assert got[("n1/PSU1", "psu")].power_w == 180.0
    assert got[("n1/PSU1", "psu")].method.startswith("ipmitool sdr 'PS1 Input Power'")
    assert "not counted again: 'PS1 Output Power'" in got[("n1/PSU1", "psu")].method
    assert got[("n1/PSU2", "psu")].power_w == 150.0  # 0.138 kW output not taken over the 150 W input
    assert got[("n1/CPU1", "cpu")].power_w == 95.0 and got[("n1/CPU2", "cpu")].power_w == 88.0
    assert got[("n1/MEM1", "ram")].power_w == pytest.approx(12.5)  # 12500 mW
    total = got[("n1", "total")]
    assert total.power_w == 330.0 and "sum of PSU input power" in total.method and "no total sensor" in total.method
    # fans are not a part of the shared vocabulary: skipped, never called total
    assert ("n1", "total") in got and not any("Fan" in r.method for r in recs)
    # no per-component reading is labelled total
    assert [r.component for r in recs if r.component == "total"] == ["total"]


def test_psu_outputs_alone_are_kept_but_never_summed_into_a_total() -> None:
    text = "PS1 Output Power | 165 Watts | ok\nPS2 Output Power | 0.138 kW | ok\n"
    recs = parse_sdr(text.splitlines(), host="n1", at=AT, time_note="test", where="x.txt")
    assert {(r.resource_id, r.component, r.power_w) for r in recs} == {("n1/PSU1", "psu", 165.0),
                                                                        ("n1/PSU2", "psu", 138.0)}
    assert all("PSU output" in r.method for r in recs)


def test_sensor_layout_skips_na_and_discrete_rows(tmp_path: Path) -> None:
    path = tmp_path / "sensor.txt"
    path.write_text(SENSOR)
    os.utime(path, (AT.timestamp(), AT.timestamp()))
    recs = read_ipmi(path, host="r640")
    got = _by(recs)
    assert set(got) == {("r640", "total"), ("r640/PSU1", "psu")}
    assert got[("r640", "total")].power_w == 224.0
    # no time in the output: the file's modification time, said in method
    assert all(r.start == AT and "modification time" in r.method for r in recs)


def test_time_lines_make_a_series_and_intervals_count_each_stretch_once(tmp_path: Path) -> None:
    calls = []
    for minute, watts in ((0, 200), (1, 260), (2, 230)):
        calls.append(f"2024-03-01T12:0{minute}:00+00:00\n"
                     f"Pwr Consumption  | 77h | ok  |  7.1 | {watts} Watts\n"
                     f"System Level     | 78h | ok  |  7.1 | {watts - 3} Watts\n"
                     f"PS1 Input Power  | 85h | ok  | 10.1 | {watts} Watts\n")
    path = tmp_path / "log.txt"
    path.write_text("".join(calls))
    recs = read_ipmi(path)
    totals = sorted((r for r in recs if r.component == "total"), key=lambda r: r.start)
    assert [r.power_w for r in totals] == [200.0, 260.0, 230.0]
    assert [r.start.minute for r in totals] == [0, 1, 2] and all("time: time line" in r.method for r in totals)
    node = [r for r in to_intervals(recs) if r.component == "total"]
    # oracle: two trapezoids of the node meter only ("System Level" would have doubled it)
    assert total_energy_kwh(node) == pytest.approx(((200 + 260) / 2 * 60 + (260 + 230) / 2 * 60) / 3.6e6)


def test_a_repeated_sensor_without_a_time_line_is_refused_with_its_row(tmp_path: Path) -> None:
    path = tmp_path / "twice.txt"
    path.write_text("Pwr Consumption | 200 Watts | ok\nPwr Consumption | 210 Watts | ok\n")
    with pytest.raises(DataFormatError, match=r"twice.txt row 2: sensor 'Pwr Consumption' appears again.*date -u"):
        read_ipmi(path, at=AT)
    path.write_text("Pwr Consumption | 200 Watts | ok\n2024-03-01T12:00:00Z\nPwr Consumption | 210 Watts | ok\n")
    with pytest.raises(DataFormatError, match="row 1: sensor 'Pwr Consumption' comes before the first time line"):
        read_ipmi(path)


def test_sensors_without_a_power_reading_are_refused_naming_what_was_seen(tmp_path: Path) -> None:
    path = tmp_path / "nopower.txt"
    path.write_text("Inlet Temp       | 04h | ok  |  7.1 | 23 degrees C\n"
                    "Current 1        | 6Ah | ok  | 10.1 | 0.80 Amps\n"
                    "Voltage 1        | 6Ch | ok  | 10.1 | 228 Volts\n"
                    "PS1 Input Power  | 85h | ns  | 10.1 | No Reading\n"
                    "Pwr Consumption  | 77h | ns  |  7.1 | Disabled\n"
                    "Fan Power        | 90h | ok  |  7.1 | 20 Watts\n")
    with pytest.raises(DataFormatError) as err:
        read_ipmi(path, at=AT)
    message = str(err.value)
    assert message.startswith(f"{path}: no usable power reading (6 sensor rows")
    assert "amps" in message and "volts" in message and "degrees c" in message
    assert "'PS1 Input Power' (No Reading)" in message and "'Pwr Consumption' (Disabled)" in message
    assert "['Fan Power']" in message and "Amps and Volts are not turned into power" in message


def test_implausible_power_is_refused_with_row_and_sensor(tmp_path: Path) -> None:
    path = tmp_path / "bad.txt"
    path.write_text("Inlet Temp | 23 degrees C | ok\nPwr Consumption | -5 Watts | ok\n")
    with pytest.raises(DataFormatError, match=r"bad.txt row 2 column 'Pwr Consumption': '-5 watts' is not a power"):
        read_ipmi(path, at=AT)


def test_dcmi_output_is_still_read_and_other_text_refused_naming_both_formats(tmp_path: Path) -> None:
    dcmi = tmp_path / "dcmi.txt"
    dcmi.write_text("    Instantaneous power reading:                   220 Watts\n"
                    "    IPMI timestamp:                           Thu Feb 15 08:36:01 2024\n"
                    "    Power reading state is:                   activated\n")
    (reading,) = read_ipmi(dcmi)
    assert reading.source == "ipmi-dcmi" and reading.power_w == 220.0
    other = tmp_path / "other.txt"
    other.write_text("Error: Unable to establish IPMI v2 / RMCP+ session\n")
    with pytest.raises(DataFormatError, match="Instantaneous power reading.*sensor rows"):
        read_ipmi(other)


def test_classifier_never_labels_a_part_total() -> None:
    assert classify("Total CPU Power").component == "cpu"  # type: ignore[union-attr]
    assert classify("CPU1 DIMM Power").component == "ram"  # type: ignore[union-attr]
    assert classify("Power Supply 2").unit == "PSU2"  # type: ignore[union-attr]
    for name in ("Fan Power", "Power Cap", "Peak Power", "PCIe Power", "Current 1"):
        assert classify(name) is None, name


def test_cli_reads_sdr_output_with_the_right_components(tmp_path: Path) -> None:
    app = typer.Typer()
    register(app)
    path = tmp_path / "node9.txt"
    path.write_text(SUPERMICRO_SDR)
    result = CliRunner().invoke(app, ["telemetry", "ipmi", str(path), "--at", "2024-03-01T12:00:00Z",
                                      "--format", "csv"])
    assert result.exit_code == 0, result.output
    rows = [line.split(",") for line in result.output.strip().splitlines()]
    header = rows[0]
    got = {(r[header.index("resource_id")], r[header.index("component")]) for r in rows[1:]}
    assert got == {("node9", "total"), ("node9/PSU1", "psu"), ("node9/PSU2", "psu"), ("node9/CPU1", "cpu"),
                   ("node9/CPU2", "cpu"), ("node9/MEM1", "ram")}
