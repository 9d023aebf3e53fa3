"""Feature impact: grid join by time and region (exact), the analysis on a known driver, the report."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from greenci.errors import DataFormatError, InputError
from greenci.insights.impact import (
    OUTPUT_FILES,
    analyse_impact,
    join_grid,
    model_table,
    plausible_range,
    read_runs,
    synthetic_runs,
    write_report,
)
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
    with pytest.raises(InputError, match="region_column 'region' is not a column") as info:
        join_grid(pd.DataFrame({"started_at": ["2022-10-12T00:00Z"]}),
                  functools.partial(read_grid_features, grid_dir))
    assert info.value.field == "region_column"
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
    with pytest.raises(InputError, match="row 3 is not a complete run"):
        analyse_impact(frame, out_dir=tmp_path, features=["cpu_seconds"], n_estimators=10, local_row=3)


def test_bad_tables_are_refused_with_the_fix(tmp_path: Path) -> None:
    frame = synthetic_runs(40)
    with pytest.raises(InputError, match="target 'kwh' is not a column of the table") as info:
        analyse_impact(frame, out_dir=tmp_path, target="kwh")
    assert info.value.field == "target"
    with pytest.raises(InputError, match="features 'nope': not column") as info:
        analyse_impact(frame, out_dir=tmp_path, features=["nope"])
    assert info.value.field == "features"
    frame["tests"] = frame["tests"].astype(object)
    frame.loc[4, "tests"] = "many"
    with pytest.raises(DataFormatError, match="row 6 column 'tests': 'many' is not a number"):
        analyse_impact(frame, out_dir=tmp_path)
    with pytest.raises(InputError, match="only 10 of 10 runs"):
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


# ---------------------------------------------------------------------------------------------- strict reading
GOOD_HEADER = "run_id,tests,cpu_seconds,memory_gb,renewable_pct,energy_kwh"


def _table(tmp_path: Path, body: str, name: str = "runs.csv") -> Path:
    path = tmp_path / name
    path.write_text(GOOD_HEADER + "\n" + body, encoding="utf-8")
    return path


def _runs(n: int = 24) -> str:
    return "".join(f"{i},{100 + i},{50.5 + 3 * i},{2 + i % 4},{20 + i},{0.001 * (1 + i)}\n" for i in range(n))


def test_a_row_with_fewer_cells_than_the_header_is_refused_naming_it(tmp_path: Path) -> None:
    lines = _runs().splitlines(keepends=True)
    lines[4] = "4,104,62.5\n"  # file row 6: 3 of 6 cells, not padded with missing values
    path = _table(tmp_path, "".join(lines))
    with pytest.raises(DataFormatError, match=r"runs\.csv row 6: has 3 cells but the header names 6 columns"):
        read_runs(path)
    lines[4] = "4,104,62.5,2,24,0.005,oops\n"
    with pytest.raises(DataFormatError, match="row 6: has 7 cells"):
        read_runs(_table(tmp_path, "".join(lines)))
    lines[4] = "4,104,62.5,2,24,0.005,\n"  # a trailing empty cell is harmless
    assert len(read_runs(_table(tmp_path, "".join(lines)))) == 24


def test_blank_lines_keep_the_row_numbers_of_the_file(tmp_path: Path) -> None:
    lines = _runs().splitlines(keepends=True)
    lines[10] = "10,110,80.5,4,30,-0.5\n"
    path = _table(tmp_path, "\n" + "".join(lines[:5]) + "\n\n" + "".join(lines[5:]))
    frame = read_runs(path)
    assert frame["tests"].dtype.kind in "iu" and frame.attrs["source"] == str(path)
    with pytest.raises(DataFormatError, match=r"runs\.csv row 15 column 'energy_kwh': '-0\.5' is negative"):
        analyse_impact(frame, out_dir=tmp_path / "out", n_estimators=5, lime_samples=50)
    assert not (tmp_path / "out").exists(), "refused before any figure"


@pytest.mark.parametrize(("column", "value", "why"), [
    ("energy_kwh", "nan", "is not a number"),
    ("energy_kwh", "inf", "is not a finite number"),
    ("energy_kwh", "-1e308", "is negative"),
    ("tests", "1e308", "outside 0 .. 1e\\+09"),
    ("renewable_pct", "130", "outside 0 .. 100, implausible for a percentage"),
    ("cpu_seconds", "0x1F", "is not a number"),
    ("memory_gb", "12,5.3", "is not a number"),
])
def test_implausible_numbers_are_refused_naming_file_row_and_column(tmp_path: Path, column: str, value: str,
                                                                     why: str) -> None:
    frame = read_runs(_table(tmp_path, _runs()))
    header = GOOD_HEADER.split(",")
    lines = _runs().splitlines()
    cells = lines[7].split(",")
    cells[header.index(column)] = f'"{value}"'
    lines[7] = ",".join(cells)
    frame = read_runs(_table(tmp_path, "\n".join(lines) + "\n"))
    with pytest.raises(DataFormatError, match=rf"runs\.csv row 9 column '{column}': .*{why}"):
        model_table(frame)


def test_unreadable_tables_are_refused(tmp_path: Path) -> None:
    (tmp_path / "latin1.csv").write_bytes((GOOD_HEADER + "\n1,2,3,4,5,caf\xe9\n").encode("latin-1"))
    with pytest.raises(DataFormatError, match="latin1.csv: is not UTF-8"):
        read_runs(tmp_path / "latin1.csv")
    (tmp_path / "nul.csv").write_bytes(GOOD_HEADER.encode() + b"\n1,2\x00,3,4,5,6\n")
    with pytest.raises(DataFormatError, match="NUL bytes"):
        read_runs(tmp_path / "nul.csv")
    (tmp_path / "twice.csv").write_text("tests,tests,energy_kwh\n1,2,3\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match="names column 'tests' twice"):
        read_runs(tmp_path / "twice.csv")
    (tmp_path / "empty.csv").write_text("", encoding="utf-8")
    with pytest.raises(DataFormatError, match="is empty"):
        read_runs(tmp_path / "empty.csv")
    (tmp_path / "header.csv").write_text(GOOD_HEADER + "\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match="no runs"):
        read_runs(tmp_path / "header.csv")


def test_plausible_ranges_follow_the_column() -> None:
    assert plausible_range("energy_kwh")[:2] == (0.0, 1e5)
    assert plausible_range("build_duration")[0] == 0.0 and plausible_range("queue_s")[0] == 0.0
    assert plausible_range("solar_share")[:2] == (0.0, 100.0)
    assert plausible_range("temperature_delta")[0] < 0


def _noise(n: int = 40, seed: int = 5) -> pd.DataFrame:
    """A table whose target is noise, independent of every feature: no model can explain it."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"tests": rng.integers(10, 500, n), "cpu_seconds": rng.uniform(10, 900, n),
                         "memory_gb": rng.uniform(1, 16, n), "energy_kwh": rng.uniform(0.001, 0.01, n)})


def test_a_model_that_explains_nothing_says_so_everywhere(tmp_path: Path) -> None:
    report = analyse_impact(_noise(), out_dir=tmp_path, n_estimators=40, lime_samples=200)
    assert report.cv_r2 <= 0 and not report.explanatory
    assert report.warning is not None and "does not explain energy_kwh" in report.warning
    doc = report.as_dict()
    assert doc["warning"] == report.warning and doc["shap_ranking_explanatory"] is False
    md, js = write_report(report, tmp_path)
    text = md.read_text(encoding="utf-8")
    assert text.index("Warning: the model does not explain") < text.index("## 1.")
    assert "## 3. SHAP, global (NOT EXPLANATORY)" in text
    assert json.loads(js.read_text(encoding="utf-8"))["shap_ranking_explanatory"] is False
    good = analyse_impact(synthetic_runs(60, seed=1), out_dir=tmp_path / "good", n_estimators=40, lime_samples=200)
    assert good.explanatory and good.as_dict()["warning"] is None and good.as_dict()["shap_ranking_explanatory"]


def test_files_are_written_whole_and_a_refused_run_writes_none(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with pytest.raises(InputError, match="row 999 is not a complete run") as info:
        analyse_impact(synthetic_runs(40), out_dir=out, local_row=999, n_estimators=5, lime_samples=50)
    assert info.value.field == "row" and not out.exists()
    report = analyse_impact(synthetic_runs(40), out_dir=out, n_estimators=5, lime_samples=50)
    write_report(report, out)
    assert sorted(p.name for p in out.iterdir()) == sorted(OUTPUT_FILES), "no temporary file is left"
