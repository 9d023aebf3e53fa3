"""The command line, in process (CliRunner) and once as a real process for exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from greenci.cli import app

runner = CliRunner()


def _json(result) -> dict:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_bare_greenci_runs_the_synthetic_demo() -> None:
    result = runner.invoke(app, [])
    assert result.exit_code == 0, result.output
    assert "SYNTHETIC" in result.output
    assert "best start" in result.output


def test_summary_without_paths_is_synthetic_and_labelled() -> None:
    doc = _json(runner.invoke(app, ["intensity", "summary", "--format", "json"]))
    assert doc["synthetic"] is True
    assert "synthetic" in doc["note"]
    assert len(doc["regions"]) == 16
    for row in doc["regions"]:
        assert row["slots"] == 72 and row["step_s"] == 3600
        assert row["min_g_per_kwh"] <= row["mean_g_per_kwh"] <= row["max_g_per_kwh"]


def test_footprint_with_fixed_intensity_is_hand_computed() -> None:
    doc = _json(runner.invoke(app, ["footprint", "--energy-kwh", "2", "--intensity-g-per-kwh", "300",
                                    "--pue", "1.5", "--format", "json"]))
    assert doc["energy_kwh"] == 2.0
    assert doc["facility_energy_kwh"] == pytest.approx(3.0)
    assert doc["emissions_g"] == pytest.approx(900.0)


def test_footprint_on_a_file_series_counts_partial_slots(tmp_path: Path) -> None:
    csv = tmp_path / "DE-LU_2022_hourly.csv"
    rows = ["Datetime (UTC),Zone Id,Carbon Intensity gCO₂eq/kWh (direct),Carbon Intensity gCO₂eq/kWh (LCA),"
            "Data Estimated"]
    for h in range(48):
        rows.append(f"2022-10-12 {h % 24:02d}:00:00,DE,{100 + 100 * (h // 24) + h % 24},0,false".replace(
            "2022-10-12", "2022-10-13" if h >= 24 else "2022-10-12"))
    csv.write_text("\n".join(rows) + "\n", encoding="utf-8")
    # 1 kWh over 90 min from 00:30: 30 min at 100, 60 min at 101 -> mean (50 + 101) / 1.5
    doc = _json(runner.invoke(app, ["footprint", "--energy-kwh", "1", "--region", "DE-LU", "--at",
                                    "2022-10-12T00:30Z", "--duration", "90m", "--source", str(csv),
                                    "--best-within-h", "3", "--format", "json"]))
    assert doc["synthetic"] is False
    assert doc["emissions_g"] == pytest.approx((0.5 * 100 + 1.0 * 101) / 1.5)
    assert doc["best_start"]["at"] == "2022-10-12T00:30:00Z"  # intensity only rises: now is best


def test_footprint_synthetic_region_reports_best_start() -> None:
    doc = _json(runner.invoke(app, ["footprint", "--energy-kwh", "1", "--region", "GB", "--at",
                                    "2022-10-12T00:00Z", "--duration", "2h", "--format", "json"]))
    assert doc["synthetic"] is True
    best = doc["best_start"]
    assert best["emissions_g"] <= doc["emissions_g"]
    assert best["saving_g"] == pytest.approx(doc["emissions_g"] - best["emissions_g"])


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["footprint", "--energy-kwh", "1", "--intensity-g-per-kwh", "100", "--pue", "0.8"], "at least 1.0"),
        (["footprint", "--energy-kwh", "1"], "--intensity-g-per-kwh"),
        (["footprint", "--energy-kwh", "1", "--region", "XX"], "no synthetic profile"),
        (["footprint", "--energy-kwh", "1", "--region", "GB", "--duration", "soon"], "--duration"),
        (["intensity", "summary", "no/such/file.csv"], "no such file"),
        (["forecast", "evaluate", "--models", "crystal-ball"], "crystal-ball"),
    ],
)
def test_bad_input_gives_a_clear_error_and_nonzero_exit(args: list[str], fragment: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert fragment in result.output
    assert "Traceback" not in result.output


def test_plot_writes_a_png(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    out = tmp_path / "grid.png"
    result = runner.invoke(app, ["intensity", "plot", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "synthetic" in result.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_real_process_exit_code_and_no_traceback() -> None:
    proc = subprocess.run([sys.executable, "-m", "greenci", "footprint", "--energy-kwh", "-1",
                           "--intensity-g-per-kwh", "100"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "energy-kwh" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_import_greenci_stays_light() -> None:
    code = ("import sys, greenci; heavy = [m for m in ('pandas', 'matplotlib', 'httpx', 'typer', 'rich') "
            "if m in sys.modules]; print(heavy)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip() == "[]", proc.stdout + proc.stderr
