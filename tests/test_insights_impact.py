"""Feature impact: grid join by time and region (exact), the analysis on a known driver, the report."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from greenci.errors import DataFormatError, InputError
from greenci.insights.impact import analyse_impact, join_grid, read_runs, synthetic_runs, write_report
from greenci.sources.grid_features import read_grid_features

EM_HEADER = ("Datetime (UTC),Country,Zone Name,Zone Id,Carbon Intensity gCO₂eq/kWh (direct),"
             "Carbon Intensity gCO₂eq/kWh (LCA),Low Carbon Percentage,Renewable Percentage,Data Source,"
             "Data Estimated,Data Estimation Method")


@pytest.fixture()
def grid_dir(tmp_path: Path) -> Path:
    """An Electricity Maps zone folder (hourly) and a lets-wait-awhile production file (30 min)."""
    zone = tmp_path / "grid" / "DE-LU"
    zone.mkdir(parents=True)
    rows = [EM_HEADER] + [f"2022-10-12 {h:02d}:00:00,Germany,Germany,DE,{300 + h},{400 + h},{50 + h},{40 + h},"
                          "entsoe.eu,false," for h in range(4)]
    (zone / "DE-LU_2022_hourly.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    prod = tmp_path / "grid" / "lwa"
    prod.mkdir()
    (prod / "fr_production.csv").write_text(
        ",Biomass,Fossil Gas,Hydro Pumped Storage,Nuclear,Solar,Wind Onshore,BE\n"
        "2020-06-01 12:00:00,10.0,30.0,-50.0,40.0,15.0,5.0,999.0\n"
        "2020-06-01 12:30:00,0.0,50.0,20.0,50.0,0.0,0.0,999.0\n", encoding="utf-8")
    return tmp_path / "grid"


def test_join_takes_the_slot_that_covers_each_start(grid_dir: Path) -> None:
    runs = pd.DataFrame({
        "started_at": ["2022-10-12T01:59:59Z", "2022-10-12T02:00:00Z", "2022-10-12T04:30:00Z",
                       "2020-06-01T12:29:00Z", "2020-06-01T12:30:00Z", "2022-10-12T01:00:00Z"],
        "region": ["DE-LU", "de", "DE-LU", "FR", "FR", "ZZ"]})
    out, report = join_grid(runs, functools.partial(read_grid_features, grid_dir))
    np.testing.assert_allclose(out["renewable_pct"].iloc[:2], [41, 42])
    np.testing.assert_allclose(out["intensity_g_per_kwh"].iloc[:2], [301, 302])
    np.testing.assert_allclose(out["low_carbon_pct"].iloc[:2], [51, 52])
    assert out.iloc[2, 2:].isna().all(), "04:30 is past the last hourly slot (03:00-04:00): no value"
    # FR 12:00: renewable 10 + 15 + 5 = 30 of 100 MW generation (pumped storage and imports left out)
    assert out["renewable_pct"].iloc[3] == pytest.approx(30.0) and out["low_carbon_pct"].iloc[3] == pytest.approx(70.0)
    assert out["renewable_pct"].iloc[4] == pytest.approx(0.0) and out["low_carbon_pct"].iloc[4] == pytest.approx(50.0)
    assert (report.matched, report.unmatched, report.regions_without_files) == (4, 2, ("ZZ",))


def test_join_needs_time_and_region_columns(grid_dir: Path) -> None:
    with pytest.raises(InputError, match="needs column 'region'"):
        join_grid(pd.DataFrame({"started_at": ["2022-10-12T00:00Z"]}),
                  functools.partial(read_grid_features, grid_dir))
    with pytest.raises(DataFormatError, match="'yesterday' is not a time"):
        join_grid(pd.DataFrame({"started_at": ["yesterday"], "region": ["DE-LU"]}),
                  functools.partial(read_grid_features, grid_dir))


@pytest.mark.shared
def test_join_on_the_real_electricity_maps_files(shared_data: Path) -> None:
    runs = pd.DataFrame({"started_at": ["2022-10-12T08:30:00Z"], "region": ["DE-LU"]})
    folder = shared_data / "intensity" / "electricitymaps-hourly"
    out, report = join_grid(runs, functools.partial(read_grid_features, folder))
    path = shared_data / "intensity" / "electricitymaps-hourly" / "DE-LU" / "DE-LU_2022_hourly.csv"
    row = pd.read_csv(path).set_index("Datetime (UTC)").loc["2022-10-12 08:00:00"]
    assert out["renewable_pct"].iloc[0] == pytest.approx(row["Renewable Percentage"])
    assert out["intensity_g_per_kwh"].iloc[0] == pytest.approx(row["Carbon Intensity gCO₂eq/kWh (direct)"])
    assert report.matched == 1


def test_analysis_finds_the_known_driver_and_writes_the_report(tmp_path: Path) -> None:
    frame = synthetic_runs(160, seed=3)
    report = analyse_impact(frame, out_dir=tmp_path, synthetic=True, n_estimators=60, lime_samples=600)
    assert report.rows == 160 and report.cv_r2 > 0.9
    name, importance, direction = report.shap_ranking[0]
    assert name == "cpu_seconds" and importance > 0 and direction > 0.9
    assert report.local_row == int(frame["energy_kwh"].to_numpy().argmax())
    assert report.shap_local[0][0] == "cpu_seconds" and report.shap_local[0][2] > 0
    assert report.lime_local[0][0] == "cpu_seconds" and report.lime_local[0][2] > 0
    n = len(report.correlation_names)
    assert n == len(report.features) + 1 and len(report.pearson) == n and all(len(r) == n for r in report.pearson)
    for f in report.figures:
        assert Path(f).read_bytes()[:4] == b"\x89PNG"
    md, js = write_report(report, tmp_path)
    text = md.read_text(encoding="utf-8")
    assert "SYNTHETIC" in text and "cpu_seconds" in text and "![SHAP global](shap_global.png)" in text
    assert json.loads(js.read_text(encoding="utf-8"))["synthetic"] is True


def test_rows_with_missing_values_are_left_out_and_counted(tmp_path: Path) -> None:
    frame = synthetic_runs(60, seed=1)
    frame.loc[[3, 7], "cpu_seconds"] = np.nan
    report = analyse_impact(frame, out_dir=tmp_path, features=["cpu_seconds", "tests"], n_estimators=20,
                            lime_samples=200, local_row=5)
    assert report.rows == 58 and report.dropped_rows == 2 and report.local_row == 5
    assert any("2 of 60 runs left out" in n for n in report.notes)
    with pytest.raises(InputError, match="--row 3 is not a complete run"):
        analyse_impact(frame, out_dir=tmp_path, features=["cpu_seconds"], n_estimators=10, local_row=3)


def test_bad_tables_are_refused_with_the_fix(tmp_path: Path) -> None:
    frame = synthetic_runs(40)
    with pytest.raises(InputError, match="target column 'kwh' is not in the table"):
        analyse_impact(frame, out_dir=tmp_path, target="kwh")
    with pytest.raises(InputError, match="feature column"):
        analyse_impact(frame, out_dir=tmp_path, features=["nope"])
    frame["tests"] = frame["tests"].astype(object)
    frame.loc[4, "tests"] = "many"
    with pytest.raises(DataFormatError, match="row 6 column 'tests': 'many' is not a number"):
        analyse_impact(frame, out_dir=tmp_path)
    with pytest.raises(InputError, match="only 10 complete runs"):
        analyse_impact(synthetic_runs(40).head(10), out_dir=tmp_path)


def test_read_runs_csv_and_parquet(tmp_path: Path) -> None:
    frame = synthetic_runs(30)
    frame.to_csv(tmp_path / "runs.csv", index=False)
    assert list(read_runs(tmp_path / "runs.csv").columns) == list(frame.columns)
    pytest.importorskip("pyarrow")
    frame.to_parquet(tmp_path / "runs.parquet")
    assert len(read_runs(tmp_path / "runs.parquet")) == 30
    with pytest.raises(InputError, match="no such file"):
        read_runs(tmp_path / "missing.csv")
