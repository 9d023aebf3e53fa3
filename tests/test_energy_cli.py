"""``greenci telemetry`` file commands in-process (CliRunner), registration, and a light import."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from greenci.cli.energy import register
from greenci.energy import read_records

IPMI = """    Instantaneous power reading:                   {w} Watts
    Minimum during sampling period:                 48 Watts
    Maximum during sampling period:                361 Watts
    Average power reading over sample period:      {w} Watts
    IPMI timestamp:                           Thu Feb 15 08:{m:02d}:01 2024
    Sampling period:                          00000060 Seconds.
    Power reading state is:                   activated
"""


@pytest.fixture
def app() -> typer.Typer:
    a = typer.Typer()
    register(a)
    return a


@pytest.fixture
def ipmi_log(tmp_path: Path) -> Path:
    path = tmp_path / "node7.txt"
    path.write_text("".join(IPMI.format(w=200 + 10 * i, m=30 + i) for i in range(3)))
    return path


def test_register_adds_measure_and_the_telemetry_group(app: typer.Typer) -> None:
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "measure" in result.output and "telemetry" in result.output
    sub = CliRunner().invoke(app, ["telemetry", "--help"])
    for name in ("ipmi", "redfish", "pdu", "gnocchi", "ceilometer"):
        assert name in sub.output


def test_ipmi_table_csv_json_and_file(app: typer.Typer, ipmi_log: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    table = runner.invoke(app, ["telemetry", "ipmi", str(ipmi_log)])
    assert table.exit_code == 0, table.output
    assert "node7" in table.output and "6 records" in table.output
    csv_out = runner.invoke(app, ["telemetry", "ipmi", str(ipmi_log), "--intervals", "--format", "csv"])
    lines = csv_out.output.strip().splitlines()
    assert lines[0] == "source,resource_id,start,end,energy_kwh,power_w,meter_kwh,component,method"
    assert len(lines) == 1 + 3  # three BMC averages over 60 s: they cover the trapezoids between the readings
    as_json = json.loads(runner.invoke(app, ["telemetry", "ipmi", str(ipmi_log), "--format", "json"]).output)
    assert as_json[0]["power_w"] == 200.0 and as_json[0]["start"] == "2024-02-15T08:30:01Z"
    out = tmp_path / "ipmi.parquet"
    pytest.importorskip("pyarrow")
    written = runner.invoke(app, ["telemetry", "ipmi", str(ipmi_log), "-o", str(out)])
    assert written.exit_code == 0 and len(read_records(out)) == 6


def test_pdu_intervals_by_default(app: typer.Typer, tmp_path: Path) -> None:
    path = tmp_path / "rack.csv"
    path.write_text("timestamp,watts\n2024-03-01T12:00:00Z,100\n2024-03-01T12:00:30Z,300\n")
    result = CliRunner().invoke(app, ["telemetry", "pdu", str(path), "--format", "json"])
    rows = json.loads(result.output)
    assert len(rows) == 1 and rows[0]["energy_kwh"] == pytest.approx(200 * 30 / 3.6e6)


def test_redfish_files_or_url_not_both(app: typer.Typer, tmp_path: Path) -> None:
    path = tmp_path / "env.json"
    path.write_text(json.dumps({"@odata.type": "#EnvironmentMetrics.v1_3_1.EnvironmentMetrics",
                                "@odata.id": "/redfish/v1/Chassis/1U/EnvironmentMetrics",
                                "PowerWatts": {"Reading": 374}}))
    ok = CliRunner().invoke(app, ["telemetry", "redfish", str(path), "--at", "2024-03-01T12:00:00Z", "--format", "csv"])
    assert ok.exit_code == 0 and ",1U,2024-03-01T12:00:00Z,2024-03-01T12:00:00Z,,374.0," in ok.output
    both = CliRunner().invoke(app, ["telemetry", "redfish", str(path), "--url", "https://bmc"])
    assert both.exit_code == 2 and "not both" in both.output


def test_errors_are_one_line_with_the_error_code(app: typer.Typer, tmp_path: Path) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text("Error: Unable to establish IPMI v2 / RMCP+ session\n")
    result = CliRunner().invoke(app, ["telemetry", "ipmi", str(bad)])
    assert result.exit_code == 2 and "Instantaneous power reading" in result.output
    assert "Traceback" not in result.output
    wrong = CliRunner().invoke(app, ["telemetry", "ipmi", str(bad), "--format", "xml"])
    assert wrong.exit_code == 2


def test_measure_in_process_keeps_the_exit_code(app: typer.Typer) -> None:
    result = CliRunner().invoke(app, ["measure", "--rapl-root", "/nonexistent", "--interval-s", "0.1", "--no-gpu",
                                      "--report", "json", "--", sys.executable, "-c", "import sys; sys.exit(7)"])
    assert result.exit_code == 7
    doc = json.loads(result.stderr)
    assert doc["exit_code"] == 7 and doc["emissions_g"] is None


def test_import_greenci_energy_stays_light() -> None:
    code = ("import sys, greenci.energy; heavy = [m for m in ('pandas', 'httpx', 'psutil', 'pynvml', 'typer', "
            "'rich', 'pyarrow') if m in sys.modules]; print(heavy)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip() == "[]", proc.stdout + proc.stderr


def test_telemetry_output_is_checked_before_anything_is_read(app: typer.Typer, tmp_path: Path) -> None:
    missing = tmp_path / "missing.txt"  # reading it would fail: the -o check must come first
    for out, words in ((tmp_path / "records.xlsx", "write a .csv or .parquet file"),
                       (tmp_path, "is a folder"),
                       (tmp_path / "file.txt" / "out.csv", "is a file, not a folder")):
        if out.name == "out.csv":
            (tmp_path / "file.txt").write_text("x")
        for command in (["ipmi", str(missing)], ["pdu", str(missing)], ["redfish", str(missing)]):
            result = CliRunner().invoke(app, ["telemetry", *command, "-o", str(out)])
            assert result.exit_code == 2 and "--output" in result.stderr and words in result.stderr, result.stderr
    other = tmp_path / "other.csv"
    other.write_text("a,b\n1,2\n")
    result = CliRunner().invoke(app, ["telemetry", "ipmi", str(missing), "-o", str(other)])
    assert result.exit_code == 2 and "not those of greenci's EnergyRecords" in result.stderr
    assert other.read_text() == "a,b\n1,2\n"


def test_telemetry_records_file_appends_and_keeps_earlier_records(app: typer.Typer, ipmi_log: Path,
                                                                  tmp_path: Path) -> None:
    out = tmp_path / "records.csv"
    assert CliRunner().invoke(app, ["telemetry", "ipmi", str(ipmi_log), "-o", str(out)]).exit_code == 0
    before = out.read_bytes()
    bad = tmp_path / "bad.txt"
    bad.write_bytes(IPMI.format(w=200, m=30).replace("activated", "deactivated").encode())
    result = CliRunner().invoke(app, ["telemetry", "ipmi", str(bad), "-o", str(out)])
    assert result.exit_code == 2 and out.read_bytes() == before
    assert CliRunner().invoke(app, ["telemetry", "ipmi", str(ipmi_log), "-o", str(out)]).exit_code == 0
    assert len(read_records(out)) == 12 and out.read_bytes().startswith(before)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary file left


def test_errors_and_tables_are_plain_text(app: typer.Typer, tmp_path: Path) -> None:
    odd = tmp_path / "[bold]x[red]y.txt"
    odd.write_text("nothing here\n")
    result = CliRunner().invoke(app, ["telemetry", "ipmi", str(odd)])
    assert result.exit_code == 2 and "[bold]x[red]y.txt" in result.stderr
    pdu = tmp_path / "rack.csv"
    pdu.write_text("timestamp,outlet,watts\n2024-03-01T12:00:00Z,[/a],100\n2024-03-01T12:01:00Z,[/a],100\n")
    table = CliRunner().invoke(app, ["telemetry", "pdu", str(pdu)])
    assert table.exit_code == 0 and "[/a]" in table.stdout


def test_at_is_named_as_the_option(app: typer.Typer, tmp_path: Path) -> None:
    path = tmp_path / "data_at_node.txt"
    path.write_text(IPMI.format(w=200, m=30).replace("Thu Feb 15 08:30:01 2024", "Unspecified"))
    result = CliRunner().invoke(app, ["telemetry", "ipmi", str(path)])
    assert result.exit_code == 2 and str(path) in result.stderr and result.stderr.rstrip().endswith("as --at")
    result = CliRunner().invoke(app, ["telemetry", "ipmi", str(path), "--at", "soon"])
    assert result.exit_code == 2 and "--at 'soon' is not a time" in result.stderr
    assert CliRunner().invoke(app, ["telemetry", "ipmi", str(path), "--at", "2024-02-15T08:30:01Z"]).exit_code == 0
    result = CliRunner().invoke(app, ["telemetry", "pdu", str(path), "--max-gap-s", "nan"])
    assert result.exit_code == 2


def test_ipmi_from_stdin_is_sniffed_too(app: typer.Typer) -> None:
    ok = CliRunner().invoke(app, ["telemetry", "ipmi", "-", "--format", "json"], input=IPMI.format(w=200, m=30))
    assert ok.exit_code == 0 and json.loads(ok.stdout)[0]["resource_id"] == "localhost"
    noise = CliRunner().invoke(app, ["telemetry", "ipmi", "-"], input=bytes(range(256)) * 64)
    assert noise.exit_code == 2 and "<stdin>" in noise.stderr
