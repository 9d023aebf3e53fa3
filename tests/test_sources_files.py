"""Carbon-intensity file readers: every format, its errors, and the real files in ../shared."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from greenci.errors import DataFormatError, InputError, SignalMismatchError
from greenci.grid import IntensityGrid
from greenci.sources import detect_format, intensity_files, read_file, read_intensity
from greenci.sources.electricitymaps_csv import read_electricitymaps_csv, zone_from_filename
from greenci.sources.entsoe_csv import read_entsoe_csv, region_from_filename
from greenci.sources.watttime_csv import G_PER_KWH_PER_LB_PER_MWH, read_watttime_csv

EM_HEADER = (
    "Datetime (UTC),Country,Zone Name,Zone Id,Carbon Intensity gCO₂eq/kWh (direct),"
    "Carbon Intensity gCO₂eq/kWh (LCA),Low Carbon Percentage,Renewable Percentage,Data Source,"
    "Data Estimated,Data Estimation Method"
)
ROWS_NOTE = "the header is row 1"


def em_row(time: str, direct: str, lca: str = "200", zone: str = "DE", estimated: str = "false") -> str:
    return f"{time},Germany,Germany,{zone},{direct},{lca},80,70,entsoe.eu,{estimated},"


def em_file(folder: Path, rows: list[str], name: str = "DE-LU_2022_hourly.csv", header: str = EM_HEADER) -> Path:
    return write(folder / name, "\n".join([header, *rows]) + "\n")


def hours(n: int, start: str = "2022-01-01T00:00") -> list[str]:
    t0 = np.datetime64(start, "s")
    return [str(t0 + np.timedelta64(3600 * i, "s")).replace("T", " ") for i in range(n)]


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# ------------------------------------------------------------------------------ Electricity Maps CSV
def test_electricitymaps_csv_reads_zone_from_file_name_and_estimated_mask(tmp_path: Path) -> None:
    t = hours(3)
    path = em_file(tmp_path, [em_row(t[0], "163.46"), em_row(t[1], "166.66", estimated="true"),
                              em_row(t[2], "171.31")])
    [s] = read_intensity(str(path))
    assert s.region == "DE-LU"  # not the Zone Id column's "DE"
    assert s.signal == "average"
    assert s.source == str(path)
    assert s.times.dtype == np.dtype("datetime64[s]")
    assert s.times[0] == np.datetime64("2022-01-01T00:00:00")
    np.testing.assert_array_equal(s.values_g_per_kwh, [163.46, 166.66, 171.31])
    np.testing.assert_array_equal(s.estimated, [False, True, False])
    assert detect_format(path) == "electricitymaps_csv"


def test_electricitymaps_csv_accepts_ascii_co2_header(tmp_path: Path) -> None:
    t = hours(2)
    rows = [em_row(t[0], "10"), em_row(t[1], "20")]
    unicode = em_file(tmp_path / "a", rows)
    ascii_ = em_file(tmp_path / "b", rows, header=EM_HEADER.replace("₂", "2"))
    [u], [a] = read_intensity(unicode), read_intensity(ascii_)
    np.testing.assert_array_equal(u.values_g_per_kwh, a.values_g_per_kwh)
    [lca] = read_intensity(ascii_, column="lca")
    np.testing.assert_array_equal(lca.values_g_per_kwh, [200.0, 200.0])


def test_electricitymaps_csv_lca_column_and_life_cycle_spelling(tmp_path: Path) -> None:
    header = EM_HEADER.replace("(LCA)", "(Life cycle)")
    t = hours(2)
    path = em_file(tmp_path, [em_row(t[0], "10", lca="31"), em_row(t[1], "20", lca="32")], header=header)
    [s] = read_electricitymaps_csv(path, column="lca")
    np.testing.assert_array_equal(s.values_g_per_kwh, [31.0, 32.0])
    [d] = read_electricitymaps_csv(path, column="Carbon Intensity gCO2eq/kWh (direct)")
    np.testing.assert_array_equal(d.values_g_per_kwh, [10.0, 20.0])


def test_empty_cell_is_a_gap_not_an_error(tmp_path: Path) -> None:
    t = hours(3)
    path = em_file(tmp_path, [em_row(t[0], "10"), em_row(t[1], ""), em_row(t[2], "30")])
    [s] = read_intensity(path)
    assert s.values_g_per_kwh.size == 3
    assert np.isnan(s.values_g_per_kwh[1])
    assert s.values_g_per_kwh[2] == 30.0


def test_blank_lines_are_skipped_and_rows_still_count_file_lines(tmp_path: Path) -> None:
    t = hours(3)
    path = em_file(tmp_path, [em_row(t[0], "10"), "", em_row(t[1], "20"), em_row(t[2], "-3")])
    with pytest.raises(DataFormatError) as err:
        read_intensity(path)
    assert err.value.row == 5  # header 1, data 2, blank 3, data 4, bad 5


def test_zone_falls_back_to_zone_id_column_and_splits_zones(tmp_path: Path) -> None:
    t = hours(2)
    path = em_file(tmp_path, [em_row(t[0], "1", zone="FR"), em_row(t[1], "2", zone="FR"),
                              em_row(t[0], "3", zone="ES"), em_row(t[1], "4", zone="ES")], name="export.csv")
    series = read_intensity(path)
    assert [s.region for s in series] == ["FR", "ES"]
    np.testing.assert_array_equal(series[1].values_g_per_kwh, [3.0, 4.0])


def test_region_override(tmp_path: Path) -> None:
    t = hours(2)
    path = em_file(tmp_path, [em_row(t[0], "1"), em_row(t[1], "2")])
    [s] = read_intensity(path, region="DE")
    assert s.region == "DE"


def test_zone_from_filename() -> None:
    assert zone_from_filename("x/DE-LU/DE-LU_2022_hourly.csv") == "DE-LU"
    assert zone_from_filename("US-CAL-CISO_2023_hourly.csv") == "US-CAL-CISO"
    assert zone_from_filename("GB_2022_hourly.csv") == "GB"
    assert zone_from_filename("export.csv") is None


def test_negative_intensity_names_file_row_and_column(tmp_path: Path) -> None:
    t = hours(3)
    path = em_file(tmp_path, [em_row(t[0], "10"), em_row(t[1], "20"), em_row(t[2], "-3")])
    with pytest.raises(DataFormatError) as err:
        read_intensity(path)
    msg = str(err.value)
    assert "DE-LU_2022_hourly.csv row 4" in msg
    assert "intensity -3 is negative" in msg
    assert "Carbon Intensity gCO₂eq/kWh (direct)" in msg
    assert ROWS_NOTE in msg
    assert (err.value.row, err.value.path) == (4, str(path))


def test_non_numeric_intensity_names_row_and_column(tmp_path: Path) -> None:
    t = hours(3)
    path = em_file(tmp_path, [em_row(t[0], "10"), em_row(t[1], "abc"), em_row(t[2], "30")])
    with pytest.raises(DataFormatError) as err:
        read_intensity(path)
    assert err.value.row == 3
    assert err.value.column == "Carbon Intensity gCO₂eq/kWh (direct)"
    assert "'abc' is not a number" in str(err.value) and ROWS_NOTE in str(err.value)


def test_infinite_intensity_is_refused(tmp_path: Path) -> None:
    t = hours(2)
    path = em_file(tmp_path, [em_row(t[0], "10"), em_row(t[1], "inf")])
    with pytest.raises(DataFormatError, match="is not a finite number"):
        read_intensity(path)


def test_duplicate_timestamp_is_refused_with_row_and_fix(tmp_path: Path) -> None:
    t = hours(3)
    path = em_file(tmp_path, [em_row(t[0], "10"), em_row(t[1], "20"), em_row(t[1], "21"), em_row(t[2], "30")])
    with pytest.raises(DataFormatError) as err:
        read_intensity(path)
    assert err.value.row == 4
    assert err.value.column == "Datetime (UTC)"
    assert "repeats row 3" in str(err.value) and "delete the duplicate" in str(err.value)


def test_unsorted_rows_are_refused(tmp_path: Path) -> None:
    t = hours(3)
    path = em_file(tmp_path, [em_row(t[0], "10"), em_row(t[2], "30"), em_row(t[1], "20")])
    with pytest.raises(DataFormatError) as err:
        read_intensity(path)
    assert err.value.row == 4
    assert "sort the file by time" in str(err.value)


def test_bad_and_empty_time(tmp_path: Path) -> None:
    t = hours(2)
    path = em_file(tmp_path, [em_row(t[0], "10"), em_row("yesterday", "20")])
    with pytest.raises(DataFormatError) as err:
        read_intensity(path)
    assert err.value.row == 3 and "not a date-time" in str(err.value)
    path = em_file(tmp_path, [em_row(t[0], "10"), em_row("", "20")])
    with pytest.raises(DataFormatError) as err:
        read_intensity(path)
    assert err.value.row == 3 and "time is empty" in str(err.value)


def test_bad_estimated_flag(tmp_path: Path) -> None:
    t = hours(2)
    path = em_file(tmp_path, [em_row(t[0], "10"), em_row(t[1], "20", estimated="maybe")])
    with pytest.raises(DataFormatError) as err:
        read_intensity(path)
    assert err.value.row == 3 and err.value.column == "Data Estimated"


def test_missing_column_lists_found_and_expected(tmp_path: Path) -> None:
    path = write(tmp_path / "DE_2022_hourly.csv", "Datetime (UTC),Zone Id,Renewable Percentage\n2022-01-01,DE,5\n")
    with pytest.raises(DataFormatError) as err:
        read_intensity(path)
    msg = str(err.value)
    assert "lacks column(s) 'Carbon Intensity gCO₂eq/kWh (direct)'" in msg
    assert "found 'Datetime (UTC)', 'Zone Id', 'Renewable Percentage'" in msg
    assert "expected 'Datetime (UTC)', 'Carbon Intensity gCO₂eq/kWh (direct)'" in msg
    t = hours(1)
    no_lca = em_file(tmp_path, [em_row(t[0], "1")], header=EM_HEADER.replace(",Carbon Intensity gCO₂eq/kWh (LCA)", ""))
    with pytest.raises(DataFormatError, match=r"lacks column\(s\) 'Carbon Intensity gCO₂eq/kWh \(LCA\)'"):
        read_intensity(no_lca, column="lca")


def test_unknown_format_lists_supported_formats(tmp_path: Path) -> None:
    path = write(tmp_path / "mystery.csv", "a,b\n1,2\n")
    with pytest.raises(DataFormatError) as err:
        read_intensity(path)
    msg = str(err.value)
    for fmt in ("electricitymaps_csv", "electricitymaps_history", "entsoe_csv", "watttime_csv"):
        assert fmt in msg
    with pytest.raises(DataFormatError, match="no header"):
        detect_format(write(tmp_path / "empty.csv", ""))


def test_header_only_file(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match="no data rows"):
        read_intensity(em_file(tmp_path, []))


def test_nothing_half_read_when_one_file_of_a_directory_is_bad(tmp_path: Path) -> None:
    t = hours(2)
    em_file(tmp_path / "DE-LU", [em_row(t[0], "1"), em_row(t[1], "2")])
    em_file(tmp_path / "GB", [em_row(t[0], "1"), em_row(t[1], "x")], name="GB_2022_hourly.csv")
    with pytest.raises(DataFormatError, match="GB_2022_hourly.csv row 3"):
        read_intensity(tmp_path)


def test_timezone_offsets_are_converted_to_utc(tmp_path: Path) -> None:
    path = em_file(tmp_path, [em_row("2022-01-01T01:00:00+01:00", "1"), em_row("2022-01-01T01:00:00Z", "2")])
    [s] = read_intensity(path)
    np.testing.assert_array_equal(s.times, np.array(["2022-01-01T00:00", "2022-01-01T01:00"], "datetime64[s]"))


# ------------------------------------------------------------------------------ lets-wait-awhile (ENTSO-E)
def test_entsoe_csv_region_mapping_and_steps(tmp_path: Path) -> None:
    write(tmp_path / "fr_ci.csv", "Time,Carbon Intensity\n2019-12-20 00:00:00,42.3\n2019-12-20 00:30:00,42.1\n")
    write(tmp_path / "ger_ci.csv", "Time,Carbon Intensity\n2019-12-20 00:00:00,218.2\n2019-12-20 00:15:00,217.8\n")
    write(tmp_path / "gb_ci.csv", "Time,Carbon Intensity\n2019-12-20 00:00:00,120.9\n2019-12-20 00:30:00,\n")
    series = {s.region: s for s in read_intensity(tmp_path)}
    assert set(series) == {"FR", "DE", "GB"}
    assert series["FR"].step_s() == 1800 and series["DE"].step_s() == 900
    assert np.isnan(series["GB"].values_g_per_kwh[1])
    assert all(s.signal == "average" for s in series.values())
    assert detect_format(tmp_path / "fr_ci.csv") == "entsoe_csv"


def test_entsoe_region_from_filename() -> None:
    assert [region_from_filename(f"{p}_ci.csv") for p in ("fr", "gb", "ger", "es")] == ["FR", "GB", "DE", "ES"]
    assert region_from_filename("carbon.csv") is None


def test_entsoe_needs_a_region_when_the_name_says_none(tmp_path: Path) -> None:
    path = write(tmp_path / "carbon.csv", "Time,Carbon Intensity\n2020-01-01 00:00:00,1\n")
    with pytest.raises(DataFormatError, match="names no region: call the file fr_ci.csv"):
        read_intensity(path)
    [s] = read_intensity(path, region="PL")
    assert s.region == "PL"


def test_entsoe_missing_column(tmp_path: Path) -> None:
    path = write(tmp_path / "fr_ci.csv", "Time,Intensity\n2020-01-01 00:00:00,1\n")
    with pytest.raises(DataFormatError, match="lacks column.*'Carbon Intensity'.*found 'Time', 'Intensity'"):
        read_entsoe_csv(path)


def test_production_files_are_skipped_in_directories_and_refused_when_named(tmp_path: Path) -> None:
    write(tmp_path / "fr_ci.csv", "Time,Carbon Intensity\n2019-12-20 00:00:00,42.3\n2019-12-20 00:30:00,42.1\n")
    prod = write(tmp_path / "fr_production.csv", ",Biomass,Fossil Gas,Nuclear,Solar\n2019-12-20 00:00:00,1,2,3,4\n")
    write(tmp_path / "LICENSE", "MIT")
    write(tmp_path / "SOURCE", "somewhere")
    write(tmp_path / "README.md", "# data")
    assert detect_format(prod) == "entsoe_production"
    assert [p.name for p in intensity_files(tmp_path)] == ["fr_ci.csv"]
    assert [s.region for s in read_intensity(tmp_path)] == ["FR"]
    with pytest.raises(DataFormatError, match="production file"):
        read_intensity(prod)


# ------------------------------------------------------------------------------ WattTime
def test_watttime_wide_vessim_shape_is_g_per_kwh_and_marginal(tmp_path: Path) -> None:
    path = write(tmp_path / "wt.csv", "oootime,Caiso_North\n2023-06-08 00:00:00,425.0\n2023-06-08 00:05:00,432.2\n")
    [s] = read_intensity(path)
    assert (s.region, s.signal) == ("CAISO_NORTH", "marginal")
    assert s.step_s() == 300
    np.testing.assert_array_equal(s.values_g_per_kwh, [425.0, 432.2])
    assert detect_format(path) == "watttime_csv"


def test_watttime_wide_several_regions_and_column_pick(tmp_path: Path) -> None:
    path = write(tmp_path / "wt.csv", "time,Caiso_North,PJM_DC\n2023-06-08 00:00,1,2\n2023-06-08 00:05,3,\n")
    series = read_intensity(path)
    assert [s.region for s in series] == ["CAISO_NORTH", "PJM_DC"]
    assert np.isnan(series[1].values_g_per_kwh[1])
    [s] = read_intensity(path, column="PJM_DC", region="PJM")
    assert s.region == "PJM"
    with pytest.raises(InputError, match=r"leave the region out, or pick one series \(column\)"):
        read_intensity(path, region="X")
    with pytest.raises(DataFormatError, match="lacks column"):
        read_intensity(path, column="ERCOT")


def test_watttime_long_shape_converts_lbs_per_mwh(tmp_path: Path) -> None:
    path = write(tmp_path / "moer.csv", "point_time,value,frequency,market,ba,datatype\n"
                                        "2023-06-08T00:00:00Z,1000,300,RTM,CAISO_NORTH,MOER\n"
                                        "2023-06-08T00:05:00Z,900,300,RTM,CAISO_NORTH,MOER\n")
    [s] = read_intensity(path)
    assert (s.region, s.signal) == ("CAISO_NORTH", "marginal")
    np.testing.assert_allclose(s.values_g_per_kwh, [453.59237, 408.233133])
    [raw] = read_watttime_csv(path, unit="g_per_kwh")
    np.testing.assert_array_equal(raw.values_g_per_kwh, [1000.0, 900.0])
    assert G_PER_KWH_PER_LB_PER_MWH == pytest.approx(0.453592, abs=1e-6)


def test_watttime_long_shape_needs_a_region(tmp_path: Path) -> None:
    path = write(tmp_path / "moer.csv", "point_time,value\n2023-06-08T00:00:00Z,1000\n")
    with pytest.raises(DataFormatError, match="add a 'region' \\(or 'ba'\\) column"):
        read_intensity(path)
    [s] = read_intensity(path, region="CAISO_NORTH")
    assert s.values_g_per_kwh[0] == pytest.approx(453.59237)


# ------------------------------------------------------------------------------ Electricity Maps history
HISTORY_HEADER = "datetime,created_at,timestamp,zone_name,carbon_intensity_avg,carbon_intensity_production_avg"


def test_electricitymaps_history(tmp_path: Path) -> None:
    path = write(tmp_path / "hist.csv", HISTORY_HEADER + "\n"
                 "2020-01-01T00:00:00+00:00,x,1577836800,US-CAL-CISO,332.39,330.62\n"
                 "2020-01-01T01:00:00+00:00,x,1577840400,US-CAL-CISO,,389.74\n")
    [s] = read_intensity(path)
    assert (s.region, s.signal, s.source) == ("US-CAL-CISO", "average", str(path))
    assert s.values_g_per_kwh[0] == 332.39 and np.isnan(s.values_g_per_kwh[1])
    [p] = read_intensity(path, column="carbon_intensity_production_avg")
    np.testing.assert_array_equal(p.values_g_per_kwh, [330.62, 389.74])
    assert detect_format(path) == "electricitymaps_history"


def test_electricitymaps_history_errors(tmp_path: Path) -> None:
    path = write(tmp_path / "hist.csv", HISTORY_HEADER + "\n"
                 "2020-01-01T00:00:00+00:00,x,1,US-CAL-CISO,1,1\n2020-01-01T00:00:00+00:00,x,1,US-CAL-CISO,2,2\n")
    with pytest.raises(DataFormatError, match="row 3 .*repeats row 2"):
        read_intensity(path)
    missing = write(tmp_path / "hist2.csv", "datetime,zone_name,total_production_avg\n2020-01-01,X,1\n")
    with pytest.raises(DataFormatError, match="lacks column.*carbon_intensity_avg"):
        read_intensity(missing)


# ------------------------------------------------------------------------------ dispatch
def test_signal_selects_files_in_directories_and_refuses_named_files(tmp_path: Path) -> None:
    wt = write(tmp_path / "wt.csv", "time,Caiso_North\n2023-06-08 00:00,1\n2023-06-08 00:05,2\n")
    write(tmp_path / "fr_ci.csv", "Time,Carbon Intensity\n2019-12-20 00:00:00,42.3\n2019-12-20 00:30:00,42.1\n")
    assert [s.region for s in read_intensity(tmp_path, signal="marginal")] == ["CAISO_NORTH"]
    assert [s.region for s in read_intensity(tmp_path, signal="average")] == ["FR"]
    with pytest.raises(SignalMismatchError):
        read_intensity(wt, signal="average")
    with pytest.raises(InputError):
        read_intensity(tmp_path, signal="other")


def test_missing_path_and_empty_directory(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        read_intensity(tmp_path / "nope.csv")
    with pytest.raises(InputError, match="no carbon-intensity CSV"):
        read_intensity(tmp_path)


def test_read_file_with_explicit_format(tmp_path: Path) -> None:
    path = write(tmp_path / "x.csv", "Time,Carbon Intensity\n2019-12-20 00:00:00,42.3\n")
    with pytest.raises(InputError, match="format 'nope' is unknown"):
        read_file(path, "nope")
    assert read_file(path, "entsoe_csv", region="FR")[0].region == "FR"


def test_importing_the_readers_does_not_import_pandas() -> None:
    code = ("import sys, greenci, greenci.sources, greenci.sources.electricitymaps_csv, "
            "greenci.sources.electricitymaps_history, greenci.sources.entsoe_csv, greenci.sources.watttime_csv; "
            "print('pandas' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@settings(max_examples=40, deadline=None)
@given(st.lists(st.one_of(st.none(), st.floats(0, 2000, allow_nan=False).map(lambda v: round(v, 3))),
                min_size=1, max_size=50))
def test_values_and_gaps_round_trip(values: list[float | None]) -> None:
    """Any non-negative values with gaps come back exactly, one per row, gaps as NaN."""
    with tempfile.TemporaryDirectory() as folder:
        t = hours(len(values))
        rows = [em_row(t[i], "" if v is None else repr(v)) for i, v in enumerate(values)]
        [s] = read_intensity(em_file(Path(folder), rows))
    expected = np.array([np.nan if v is None else v for v in values])
    np.testing.assert_array_equal(s.values_g_per_kwh, expected)
    assert s.times.size == len(values)


# ------------------------------------------------------------------------------ real data (../shared)
ZONES = ("AU-NSW", "AU-VIC", "BR-SP", "CA-ON", "CL-SIC", "DE-LU", "GB", "IN-WE", "JP-TK", "KR", "SG",
         "US-CAL-CISO", "US-MIDA-PJM", "US-NY-NYIS", "US-TEX-ERCO", "ZA")


@pytest.mark.shared
@pytest.mark.parametrize("year", [2022, 2023])
def test_real_electricitymaps_hourly_year(shared_data: Path, year: int) -> None:
    files = sorted((shared_data / "intensity" / "electricitymaps-hourly").glob(f"*/*_{year}_hourly.csv"))
    series = read_intensity(files)
    assert tuple(s.region for s in series) == ZONES
    expected = np.arange(np.datetime64(f"{year}-01-01T00:00", "s"), np.datetime64(f"{year + 1}-01-01T00:00", "s"),
                         np.timedelta64(3600, "s"))
    for s, f in zip(series, files, strict=True):
        assert s.region == f.parent.name
        assert s.source == str(f)
        assert s.times.size == 8760
        np.testing.assert_array_equal(s.times, expected)
        assert s.estimated is not None and s.estimated.shape == (8760,)
        assert np.nanmin(s.values_g_per_kwh) >= 0


@pytest.mark.shared
def test_real_electricitymaps_2022_directory_makes_a_16_by_8760_grid(shared_data: Path, tmp_path: Path) -> None:
    for f in (shared_data / "intensity" / "electricitymaps-hourly").glob("*/*_2022_hourly.csv"):
        (tmp_path / f.parent.name).mkdir()
        (tmp_path / f.parent.name / f.name).symlink_to(f)  # a directory of the 2022 files only, no copies
    grid = IntensityGrid.from_series(read_intensity(tmp_path))
    assert grid.values.shape == (16, 8760)
    assert grid.regions == ZONES
    assert grid.step_s == 3600 and grid.start == np.datetime64("2022-01-01T00:00:00")
    assert grid.signal == "average"


@pytest.mark.shared
def test_real_electricitymaps_lca_is_above_direct(shared_data: Path) -> None:
    f = shared_data / "intensity" / "electricitymaps-hourly" / "DE-LU" / "DE-LU_2022_hourly.csv"
    [direct], [lca] = read_intensity(f), read_intensity(f, column="lca")
    assert direct.values_g_per_kwh[0] == 163.46 and lca.values_g_per_kwh[0] == 213.79
    assert np.nanmean(lca.values_g_per_kwh) > np.nanmean(direct.values_g_per_kwh)


@pytest.mark.shared
@pytest.mark.parametrize(("name", "region", "step", "last", "rows"), [
    ("fr_ci.csv", "FR", 1800, "2021-01-09T22:30", 18574),
    ("gb_ci.csv", "GB", 900, "2021-01-09T23:30", 21980),  # 30 min, then 15 min from 2020-10-31: finest is 900
    ("ger_ci.csv", "DE", 900, "2021-01-09T23:00", 37147),
])
def test_real_lets_wait_awhile(shared_data: Path, name: str, region: str, step: int, last: str, rows: int) -> None:
    [s] = read_intensity(shared_data / "intensity" / "lets-wait-awhile" / name)
    assert (s.region, s.signal, s.times.size) == (region, "average", rows)
    assert s.step_s() == step
    assert s.times[0] == np.datetime64("2019-12-20T00:00") and s.times[-1] == np.datetime64(last)


@pytest.mark.shared
def test_real_gb_series_with_a_step_change_builds_a_grid_without_gaps(shared_data: Path) -> None:
    [s] = read_intensity(shared_data / "intensity" / "lets-wait-awhile" / "gb_ci.csv")
    grid = IntensityGrid.from_series([s])
    assert grid.step_s == 900 and not grid.has_gaps()
    # a 30-minute value covers both of its 15-minute slots
    assert grid.values[0, 0] == grid.values[0, 1] == s.values_g_per_kwh[0]


@pytest.mark.shared
def test_real_lets_wait_awhile_directory_skips_production_files(shared_data: Path) -> None:
    series = read_intensity(shared_data / "intensity" / "lets-wait-awhile")
    assert [s.region for s in series] == ["FR", "GB", "DE"]


@pytest.mark.shared
def test_real_watttime(shared_data: Path) -> None:
    [s] = read_intensity(shared_data / "intensity" / "vessim" / "watttime_caiso_north_2023-06.csv")
    assert (s.region, s.signal, s.times.size, s.step_s()) == ("CAISO_NORTH", "marginal", 8928, 300)
    assert s.times[0] == np.datetime64("2023-06-08T00:00") and s.times[-1] == np.datetime64("2023-07-08T23:55")
    assert s.values_g_per_kwh[0] == pytest.approx(425.01605069)  # vessim's file is already g/kWh: kept


@pytest.mark.shared
def test_real_electricitymaps_history_sample(shared_data: Path) -> None:
    [s] = read_intensity(shared_data / "intensity" / "electricitymaps-sample" / "us-cal-ciso_2020_hourly_sample.csv")
    assert (s.region, s.signal) == ("US-CAL-CISO", "average")
    # 59 consecutive hours 2020-01-01T00 .. 2020-01-03T10, then one stray row on 2020-02-26 (60 rows in all)
    assert s.times.size == 60
    assert np.all(np.diff(s.times[:59]).astype(int) == 3600)
    assert s.times[58] == np.datetime64("2020-01-03T10:00") and s.times[59] == np.datetime64("2020-02-26T01:00")
    assert s.values_g_per_kwh[0] == 332.39


@pytest.mark.shared
def test_real_whole_intensity_folder(shared_data: Path) -> None:
    series = read_intensity(shared_data / "intensity")
    assert len(series) == 32 + 1 + 3 + 1
    assert {s.signal for s in series} == {"average", "marginal"}
    assert len(read_intensity(shared_data / "intensity", signal="marginal")) == 1


# ------------------------------------------------------------------------------ plausibility bound
@pytest.mark.parametrize("value", ["1e308", "2600", "1e400"])
def test_implausible_intensity_is_refused_naming_file_row_column_and_the_bound(tmp_path: Path, value: str) -> None:
    t = hours(3)
    path = em_file(tmp_path, [em_row(t[0], "10"), em_row(t[1], value), em_row(t[2], "30")])
    with pytest.raises(DataFormatError) as err:
        read_intensity(path)
    msg = str(err.value)
    assert (err.value.path, err.value.row, err.value.column) == (str(path), 3, "Carbon Intensity gCO₂eq/kWh (direct)")
    assert "DE-LU_2022_hourly.csv row 3" in msg
    if value == "1e400":  # beyond float range: an infinity, not a number at all
        assert "is not a finite number" in msg
    else:
        assert "above the plausible maximum of 2500" in msg and "GREENCI_MAX_INTENSITY_G_PER_KWH" in msg
        assert "max_g_per_kwh" in msg and "[intensity]" in msg


def test_the_bound_is_a_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    t = hours(2)
    path = em_file(tmp_path, [em_row(t[0], "10"), em_row(t[1], "2600")])
    monkeypatch.setenv("GREENCI_MAX_INTENSITY_G_PER_KWH", "3000")
    [s] = read_intensity(path)
    assert s.values_g_per_kwh[1] == 2600.0
    monkeypatch.setenv("GREENCI_MAX_INTENSITY_G_PER_KWH", "")
    cfg = write(tmp_path / "config.toml", "[intensity]\nmax_g_per_kwh = 100\n")
    monkeypatch.setenv("GREENCI_CONFIG", str(cfg))
    with pytest.raises(DataFormatError, match="above the plausible maximum of 100"):
        read_intensity(path)


@pytest.mark.parametrize("cell", ["nan", "NaN", "NA", "null", "∞", "-inf"])
def test_words_for_missing_or_infinite_are_refused_only_an_empty_cell_is_a_gap(tmp_path: Path, cell: str) -> None:
    t = hours(2)
    path = em_file(tmp_path, [em_row(t[0], "10"), em_row(t[1], cell)])
    with pytest.raises(DataFormatError, match="not a (finite )?number") as err:
        read_intensity(path)
    assert err.value.row == 3


def test_watttime_long_bound_applies_to_grams_not_to_the_pounds_written(tmp_path: Path) -> None:
    path = write(tmp_path / "moer.csv", "point_time,value,ba\n2023-06-08T00:00:00Z,3000,CAISO_NORTH\n"
                                        "2023-06-08T00:05:00Z,6000,CAISO_NORTH\n")
    with pytest.raises(DataFormatError) as err:
        read_intensity(path)
    msg = str(err.value)
    assert err.value.row == 3 and "6000 lbs CO2/MWh" in msg and "2721.55" in msg  # 3000 lbs = 1361 g passed


def test_a_zone_called_na_is_a_zone_not_a_gap(tmp_path: Path) -> None:
    t = hours(2)
    path = em_file(tmp_path, [em_row(t[0], "1", zone="NA"), em_row(t[1], "2", zone="NA")], name="export.csv")
    assert [s.region for s in read_intensity(path)] == ["NA"]


# ------------------------------------------------------------------------------ rows cut short
def test_a_row_with_fewer_cells_than_the_header_is_refused(tmp_path: Path) -> None:
    t = hours(3)
    short = ",".join(em_row(t[1], "20").split(",")[:5])  # time .. direct value, the rest cut off
    path = em_file(tmp_path, [em_row(t[0], "10"), short, em_row(t[2], "30")])
    with pytest.raises(DataFormatError) as err:
        read_intensity(path)
    assert err.value.row == 3 and "has 5 of the header's 11 cells" in str(err.value)


@pytest.mark.parametrize("cut", [len("2020-01-01 01:00:00"), len("2020-01-01 01:0")])
def test_a_last_line_cut_mid_way_is_never_a_value(tmp_path: Path, cut: int) -> None:
    good = "2020-01-01 01:00:00,123.5"
    path = tmp_path / "fr_ci.csv"
    path.write_text("Time,Carbon Intensity\n2020-01-01 00:00:00,100\n" + good[:cut], encoding="utf-8")
    with pytest.raises(DataFormatError) as err:
        read_intensity(path)
    assert err.value.row == 3 and str(path) in str(err.value)


def test_the_last_line_without_a_newline_is_read_when_whole(tmp_path: Path) -> None:
    path = tmp_path / "fr_ci.csv"
    path.write_text("Time,Carbon Intensity\n2020-01-01 00:00:00,100\n2020-01-01 00:30:00,123.5", encoding="utf-8")
    [s] = read_intensity(path)
    assert s.values_g_per_kwh.tolist() == [100.0, 123.5]


# ------------------------------------------------------------------------------ garbage refused fast
@pytest.mark.parametrize(("data", "message"), [
    (b"Time,Carbon Intensity\n\x00\x00\x01\x02", "holds NUL bytes"),
    ("Time,Carbon Intensity\n2020-01-01 00:00:00,1\n".encode("utf-16"), "is UTF-16 text"),
    (b"x" * 70000, "hold no line break"),
])
def test_binary_or_headerless_files_are_refused_before_parsing(tmp_path: Path, data: bytes, message: str) -> None:
    path = tmp_path / "fr_ci.csv"
    path.write_bytes(data)
    with pytest.raises(DataFormatError, match=message) as err:
        read_intensity(path)
    assert str(path) in str(err.value)
    with pytest.raises(DataFormatError, match=message):
        read_file(path, "entsoe_csv")  # a format named explicitly is sniffed too


# ------------------------------------------------------------------------------ one source per region
def test_two_sources_for_one_region_are_refused_naming_both_files(tmp_path: Path) -> None:
    em = em_file(tmp_path, [em_row(t, "100") for t in hours(48)])
    quarter = [str(np.datetime64("2022-01-03T00:00") + np.timedelta64(900 * i, "s")).replace("T", " ")
               for i in range(96)]
    entsoe = write(tmp_path / "de_ci.csv", "Time,Carbon Intensity\n" + "".join(f"{t},90\n" for t in quarter))
    series = read_intensity([em]) + read_intensity([entsoe], region="DE-LU")
    with pytest.raises(InputError) as err:
        IntensityGrid.from_series(series)
    msg = str(err.value)
    assert str(em) in msg and str(entsoe) in msg and "DE-LU" in msg
    assert "give one of the two files" in msg


def test_successive_years_of_one_export_still_join(tmp_path: Path) -> None:
    a = em_file(tmp_path / "a", [em_row(t, "100") for t in hours(3, "2022-12-31T21:00")])
    b = em_file(tmp_path / "b", [em_row(t, "200") for t in hours(3, "2023-01-01T00:00")], name="DE-LU_2023_hourly.csv")
    b_ascii = em_file(tmp_path / "c", [em_row(t, "300") for t in hours(3, "2023-01-01T03:00")],
                      name="DE-LU_2023_hourly.csv", header=EM_HEADER.replace("₂", "2"))
    grid = IntensityGrid.from_series(read_intensity([a, b, b_ascii]))
    assert grid.regions == ("DE-LU",) and grid.values[0].tolist() == [100.0] * 3 + [200.0] * 3 + [300.0] * 3


@pytest.mark.shared
def test_real_electricitymaps_yearly_and_history_files_of_one_zone_are_not_merged(shared_data: Path) -> None:
    yearly = shared_data / "intensity" / "electricitymaps-hourly" / "US-CAL-CISO" / "US-CAL-CISO_2022_hourly.csv"
    sample = shared_data / "intensity" / "electricitymaps-sample" / "us-cal-ciso_2020_hourly_sample.csv"
    with pytest.raises(InputError, match="region US-CAL-CISO is given twice") as err:
        IntensityGrid.from_series(read_intensity([yearly, sample]))
    assert str(yearly) in str(err.value) and str(sample) in str(err.value)


# ------------------------------------------------------------------------------ forecast evaluate on short files
def _cli(args: list[str]) -> tuple[int, str, BaseException | None]:
    from typer.testing import CliRunner

    from greenci.cli import app

    result = CliRunner().invoke(app, args)
    return result.exit_code, result.stderr, result.exception


def test_forecast_evaluate_on_a_file_too_short_is_a_clear_error(tmp_path: Path) -> None:
    path = em_file(tmp_path, [em_row(t, "100") for t in hours(24 * 3)])
    code, err, exc = _cli(["forecast", "evaluate", str(path)])
    assert code == 2 and isinstance(exc, SystemExit), exc
    assert "error:" in err and "too short to evaluate forecasts" in err and "days are needed" in err


def test_forecast_evaluate_on_values_then_a_long_gap_is_a_clear_error(tmp_path: Path) -> None:
    """The shape of the Electricity Maps history sample: a few days, then one row weeks later."""
    rows = [em_row(t, "100") for t in hours(60)] + [em_row("2022-02-26 01:00:00", "120")]
    path = em_file(tmp_path, rows)
    code, err, exc = _cli(["forecast", "evaluate", str(path)])
    assert code == 2 and isinstance(exc, SystemExit), exc
    assert "nothing can be scored" in err and "slots are gaps" in err


@pytest.mark.shared
def test_real_forecast_evaluate_on_the_electricitymaps_sample_is_a_clear_error(shared_data: Path) -> None:
    sample = shared_data / "intensity" / "electricitymaps-sample" / "us-cal-ciso_2020_hourly_sample.csv"
    code, err, exc = _cli(["forecast", "evaluate", str(sample)])
    assert code == 2 and isinstance(exc, SystemExit), exc
    assert "error:" in err and "nothing can be scored" in err and "Traceback" not in err


# ------------------------------------------------------------------------------ grid features (impact analysis)
PRODUCTION = (",Biomass,Fossil Gas,Hydro Pumped Storage,Nuclear,Solar,Wind Onshore,BE\n"
              "2020-06-01 12:00:00,10.0,30.0,-50.0,40.0,15.0,5.0,999.0\n"
              "2020-06-01 12:30:00,0.0,50.0,20.0,50.0,0.0,0.0,999.0\n")


def test_grid_features_read_good_files(tmp_path: Path) -> None:
    from greenci.sources.grid_features import read_grid_features

    em_file(tmp_path / "DE-LU", [em_row(t, "300") for t in hours(3)])
    write(tmp_path / "lwa" / "fr_production.csv", PRODUCTION)
    got = read_grid_features(tmp_path, {"de-lu", "fr"})
    [(_, em, step)] = got["de-lu"]
    assert step == 3600 and em["intensity_g_per_kwh"].tolist() == [300.0] * 3
    assert em["renewable_pct"].tolist() == [70.0] * 3
    [(_, prod, step)] = got["fr"]
    assert step == 1800 and prod["renewable_pct"].tolist() == pytest.approx([30.0, 0.0])


@pytest.mark.parametrize(("cell", "message"), [
    ("1e308", "above the plausible maximum"), ("-3", "is negative"), ("abc", "not a number"),
])
def test_grid_features_refuse_implausible_intensity(tmp_path: Path, cell: str, message: str) -> None:
    from greenci.sources.grid_features import read_grid_features

    t = hours(3)
    path = em_file(tmp_path / "DE-LU", [em_row(t[0], "300"), em_row(t[1], cell), em_row(t[2], "300")])
    with pytest.raises(DataFormatError, match=message) as err:
        read_grid_features(tmp_path, {"de-lu"})
    assert (err.value.path, err.value.row) == (str(path), 3)


@pytest.mark.parametrize(("text", "row", "message"), [
    (PRODUCTION.replace("2020-06-01 12:30:00", "yesterday"), 3, "'yesterday' is not a date-time"),
    (PRODUCTION.replace("15.0", "1e308"), 2, "is not a power in MW"),
    (PRODUCTION.replace(",0.0,0.0,999.0\n", "\n"), 3, "has 5 of the header's 8 cells"),
])
def test_grid_features_refuse_broken_production_rows(tmp_path: Path, text: str, row: int, message: str) -> None:
    from greenci.sources.grid_features import read_grid_features

    path = write(tmp_path / "fr_production.csv", text)
    with pytest.raises(DataFormatError, match=message) as err:
        read_grid_features(tmp_path, {"fr"})
    assert (err.value.path, err.value.row) == (str(path), row)


def test_grid_features_percentages_must_be_percentages(tmp_path: Path) -> None:
    from greenci.sources.grid_features import read_grid_features

    t = hours(2)
    bad = em_row(t[1], "300").replace(",80,70,", ",180,70,")
    em_file(tmp_path / "DE-LU", [em_row(t[0], "300"), bad])
    with pytest.raises(DataFormatError, match="'180' is not a percentage from 0 to 100") as err:
        read_grid_features(tmp_path, {"de-lu"})
    assert err.value.column == "Low Carbon Percentage"
