"""codecarbon emissions.csv: a real file written by codecarbon here, and hand-written rows of older versions."""

from __future__ import annotations

import csv
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from greenci.cli.energy import register
from greenci.energy.codecarbon import read_codecarbon
from greenci.errors import DataFormatError, InputError

# codecarbon 3.3.2's header (output_methods/emissions_data.py, EmissionsData field order)
HEADER = ("timestamp,project_name,run_id,experiment_id,duration,emissions,emissions_rate,cpu_power,gpu_power,"
          "ram_power,cpu_energy,gpu_energy,ram_energy,energy_consumed,water_consumed,country_name,country_iso_code,"
          "region,cloud_provider,cloud_region,os,python_version,codecarbon_version,cpu_count,cpu_model,gpu_count,"
          "gpu_model,longitude,latitude,ram_total_size,tracking_mode,cpu_utilization_percent,gpu_utilization_percent,"
          "ram_utilization_percent,ram_used_gb,on_cloud,pue,wue").split(",")


def _row(ts: str, run: str, duration: float, cpu: object, gpu: object, ram: object) -> dict[str, object]:
    row: dict[str, object] = dict.fromkeys(HEADER, "")
    row.update(timestamp=ts, project_name="ci", run_id=run, duration=duration, emissions=0.0, cpu_energy=cpu,
               gpu_energy=gpu, ram_energy=ram, energy_consumed=0.0, codecarbon_version="3.3.2",
               tracking_mode="machine")
    return row


def _write(path: Path, rows: list[dict[str, object]], header: list[str] = HEADER) -> Path:
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=header, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_a_real_codecarbon_file_reads_back_with_its_totals(tmp_path: Path) -> None:
    codecarbon = pytest.importorskip("codecarbon")
    tracker = codecarbon.OfflineEmissionsTracker(country_iso_code="DEU", output_dir=str(tmp_path), log_level="error",
                                                 measure_power_secs=1, project_name="greenci-test")
    tracker.start()
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:
        sum(range(1000))
    tracker.stop()
    path = tmp_path / "emissions.csv"
    recs = read_codecarbon(path)
    with path.open() as fh:
        row = next(csv.DictReader(fh))
    assert {r.component for r in recs} == {"cpu", "gpu", "ram"}
    for component in ("cpu", "gpu", "ram"):
        got = sum(r.energy_kwh or 0.0 for r in recs if r.component == component)
        assert got == pytest.approx(float(row[f"{component}_energy"] or 0.0))
    rec = recs[0]
    assert rec.duration_s == pytest.approx(float(row["duration"]), abs=1e-3)
    assert rec.end == datetime.fromisoformat(row["timestamp"]).replace(tzinfo=UTC)
    assert rec.method.startswith(f"codecarbon {codecarbon.__version__}") and "naive timestamp read as UTC" in rec.method


def test_flushed_rows_of_one_run_are_differenced_and_zero_kept(tmp_path: Path) -> None:
    path = _write(tmp_path / "emissions.csv", [
        _row("2024-03-01T12:01:00", "run-a", 60.0, 0.002, 0.0, 0.001),
        _row("2024-03-01T12:03:00", "run-a", 180.0, 0.005, 0.0, 0.003),
        _row("2024-03-01T13:00:30", "run-b", 30.0, 0.0005, "", 0.0001),   # no GPU reading at all
    ])
    recs = read_codecarbon(path, tz="Europe/Berlin")  # CET: 12:01 local is 11:01 UTC
    a = [r for r in recs if r.resource_id == "ci/run-a" and r.component == "cpu"]
    t0 = datetime(2024, 3, 1, 11, 0, tzinfo=UTC)
    assert [(r.start, r.end) for r in a] == [(t0, t0 + timedelta(minutes=1)), (t0 + timedelta(minutes=1),
                                                                                t0 + timedelta(minutes=3))]
    assert [r.energy_kwh for r in a] == pytest.approx([0.002, 0.003])
    assert a[1].power_w == pytest.approx(0.003 * 3.6e6 / 120)
    gpu = [r.energy_kwh for r in recs if r.component == "gpu"]
    assert gpu == [0.0, 0.0]  # run-a's zeros kept; run-b's empty cell is no reading
    assert "naive timestamp read as Europe/Berlin" in recs[0].method


def test_older_files_and_refusals(tmp_path: Path) -> None:
    old = _write(tmp_path / "old.csv", [{"timestamp": "2021-05-01T10:00:00", "project_name": "p", "duration": 100.0,
                                         "emissions": 1e-5, "energy_consumed": 0.01}],
                 header=["timestamp", "project_name", "duration", "emissions", "energy_consumed"])
    rec, = read_codecarbon(old)
    assert rec.component == "total" and rec.energy_kwh == pytest.approx(0.01) and "energy_consumed" in rec.method
    other = tmp_path / "pdu.csv"
    other.write_text("time,watts\n2024-03-01T12:00:00,200\n")
    with pytest.raises(DataFormatError, match=r"lacks the columns \['timestamp', 'duration', 'emissions', "
                                              r"'energy_consumed'\]"):
        read_codecarbon(other)
    falling = _write(tmp_path / "falling.csv", [_row("2024-03-01T12:01:00", "r", 60.0, 0.002, 0.0, 0.001),
                                                _row("2024-03-01T12:02:00", "r", 120.0, 0.001, 0.0, 0.002)])
    with pytest.raises(DataFormatError, match="cpu_energy falls from one row of run ci/r"):
        read_codecarbon(falling)
    with pytest.raises(InputError, match="not a time zone name"):
        read_codecarbon(falling, tz="Mars/Olympus")
    empty = _write(tmp_path / "empty.csv", [_row("2024-03-01T12:01:00", "r", 60.0, "", "", "")])
    with pytest.raises(DataFormatError, match="no row has an energy reading"):
        read_codecarbon(empty)


def test_cli_codecarbon(tmp_path: Path) -> None:
    path = _write(tmp_path / "emissions.csv", [_row("2024-03-01T12:01:00", "run-a", 60.0, 0.002, 0.0, 0.001)])
    app = typer.Typer()
    register(app)
    result = CliRunner().invoke(app, ["telemetry", "codecarbon", str(path), "--format", "csv"])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 4 and lines[1].split(",")[7] == "cpu"
    bad = CliRunner().invoke(app, ["telemetry", "codecarbon", str(tmp_path / "missing.csv")])
    assert bad.exit_code == 2 and "no such file" in bad.output
