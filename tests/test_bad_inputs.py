"""Regressions of the bad-input classes found by trying greenci as a new user would: one test per class.

Classes: markup in errors, tracebacks, a lost result, silent wrong results, a side result breaking the
main one, misleading messages, progress off a terminal. Each command runs in-process on small SYNTHETIC
files written here.
"""

from __future__ import annotations

import io
import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from synthetic_intensity import em_yearly_csv
from typer.testing import CliRunner

from greenci.cli import app


@pytest.fixture(scope="module")
def intensity(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("intensity")
    for zone in ("DE-LU", "GB"):
        (root / zone).mkdir()
        (root / zone / f"{zone}_2022_hourly.csv").write_text(em_yearly_csv(zone, amplitude=100), encoding="utf-8")
    return root


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def _trace(path: Path, start: str, runs: int = 30) -> Path:
    rows = ["repo,workflow,job,event,started_at,completed_at,conclusion"]
    for i in range(runs):
        t0 = np.datetime64(start) + np.timedelta64(i * 3000, "s")
        rows.append(f"acme/app,ci,build,push,{t0}Z,{t0 + np.timedelta64(400, 's')}Z,success")
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


# ------------------------------------------------------------------------------------------ markup
def test_markup_in_a_path_is_printed_as_written(tmp_path: Path) -> None:
    for name in ("a[red]b.csv", "c[/b]d.csv"):
        code, _, err = _run("intensity", "summary", str(tmp_path / name))
        assert code == 2
        assert name in err and "Traceback" not in err


def test_markup_in_config_hints_is_kept(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text("[http]\ntimeout_s = 5\n", encoding="utf-8")
    monkeypatch.setenv("GREENCI_CONFIG", str(tmp_path / "config.toml"))
    monkeypatch.delenv("GREENCI_ELECTRICITYMAPS_TOKEN", raising=False)
    code, _, err = _run("footprint", "--energy-kwh", "1", "--region", "DE-LU", "--source", "electricitymaps")
    assert code == 2
    assert "[sources.electricitymaps]" in err


# ------------------------------------------------------------------------------------------ tracebacks
def test_traceback_output_is_an_existing_file_or_unwritable(tmp_path: Path) -> None:
    afile = tmp_path / "afile"
    afile.write_text("keep", encoding="utf-8")
    code, _, err = _run("simulate", "--study", "-o", str(afile))
    assert code == 2 and "is a file" in err and afile.read_text() == "keep"
    code, _, err = _run("intensity", "plot", "-o", "/proc/greenci/plot.png")
    assert code == 2 and "cannot write in /proc" in err


def test_traceback_workflow_file_is_a_folder_or_binary(tmp_path: Path) -> None:
    code, _, err = _run("schedule", "--workflow-file", str(tmp_path))
    assert code == 2 and "is a folder" in err
    binary = tmp_path / "ci.yml"
    binary.write_bytes(bytes(range(256)) * 4)
    code, _, err = _run("schedule", "--workflow-file", str(binary))
    assert code == 2 and str(binary) in err and "not" in err


def test_traceback_json_with_an_infinite_value_is_valid_json() -> None:
    from greenci.jsonsafe import dumps

    doc = json.loads(dumps({"emissions_g": float("inf"), "rows": [1.0, float("nan")]}))
    assert doc["emissions_g"] is None and doc["rows"] == [1.0, None]
    assert "emissions_g" in doc["notes"][0]


def test_traceback_forecast_evaluate_on_a_file_too_short_to_score(tmp_path: Path) -> None:
    short = tmp_path / "GB" / "GB_2022_hourly.csv"
    short.parent.mkdir()
    short.write_text(em_yearly_csv("GB", start="2022-08-01T00:00", days=2, amplitude=100), encoding="utf-8")
    code, out, err = _run("forecast", "evaluate", str(short))
    assert code in (0, 2), err
    assert "Traceback" not in err


# ------------------------------------------------------------------------------------------ silent wrong results
def test_silent_intensity_of_1e308_is_refused() -> None:
    code, _, err = _run("footprint", "--energy-kwh", "1", "--intensity-g-per-kwh", "1e308")
    assert code == 2 and "--intensity-g-per-kwh" in err and "GREENCI_MAX_INTENSITY_G_PER_KWH" in err


def test_silent_deadline_shorter_than_duration_is_refused() -> None:
    code, _, err = _run("schedule", "--duration", "2h", "--deadline", "30m", "--event", "schedule")
    assert code == 2 and "--deadline" in err and "--duration" in err


def test_silent_options_that_do_not_apply_are_refused() -> None:
    assert "--implausible" in _run("simulate", "--study", "--implausible", "cap")[2]
    code, _, err = _run("simulate", "--study", "--buffers", "1,3")
    assert code == 2 and "--sweep" in err
    code, _, err = _run("simulate", "--study", "--trace", "x.csv")
    assert code == 2 and "not both" in err
    code, _, err = _run("schedule", "--event", "tuesday")
    assert code == 2 and "--event 'tuesday'" in err
    code, _, err = _run("schedule", "--allowed-regions", ",")
    assert code == 2 and "names no region" in err


def test_silent_plot_to_a_folder_is_refused(tmp_path: Path) -> None:
    code, _, err = _run("intensity", "plot", "-o", str(tmp_path))
    assert code == 2 and "is a folder" in err
    assert list(tmp_path.iterdir()) == []


def test_silent_concurrent_writers_leave_whole_files(tmp_path: Path) -> None:
    """Two replays writing one folder at once: every file is whole (one writer's or the other's)."""
    import pandas as pd

    from greenci.outputs import atomic_path

    frames = [pd.DataFrame({"x": np.arange(200_000) * k}) for k in (1, 2)]
    errors: list[BaseException] = []

    def write(frame: pd.DataFrame) -> None:
        try:
            for _ in range(5):
                with atomic_path(tmp_path / "placements.parquet") as tmp:
                    frame.to_parquet(tmp, index=False)
        except BaseException as exc:  # noqa: BLE001 - surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(f,)) for f in frames]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    got = pd.read_parquet(tmp_path / "placements.parquet")
    assert len(got) == 200_000 and int(got["x"].iloc[1]) in (1, 2)
    assert [p.name for p in tmp_path.iterdir()] == ["placements.parquet"]  # no temporary left behind


def test_silent_simulate_outputs_are_checked_before_the_work(tmp_path: Path, intensity: Path) -> None:
    out = tmp_path / "sim"
    code, _, err = _run("simulate", "--study", "--intensity", str(intensity), "--regions", "GB", "--days", "0.25",
                        "--strategies", "round-robin,lts-1", "--forecast", "persistence", "-o", str(out))
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["figure2.png", "placements.parquet", "strategies.csv",
                                                     "summary.json", "timeline.csv"]
    json.loads((out / "summary.json").read_text(encoding="utf-8"))


# ------------------------------------------------------------------------------------------ side results
def test_side_result_trace_outside_2022_still_replays(tmp_path: Path) -> None:
    """Intensity of 2023 only, a trace of 2025: the study's dates are outside, the main replay still runs."""
    root = tmp_path / "intensity"
    for zone in ("DE-LU", "GB"):
        (root / zone).mkdir(parents=True)
        csv = em_yearly_csv(zone, start="2023-01-01T00:00", days=120, amplitude=100)
        (root / zone / f"{zone}_2023_hourly.csv").write_text(csv, encoding="utf-8")
    trace = _trace(tmp_path / "trace.csv", "2025-03-03T00:00:00")
    code, out, err = _run("simulate", "--trace", str(trace), "--intensity", str(root), "--regions", "DE-LU,GB",
                          "--strategies", "round-robin,greenci", "--forecast", "persistence", "--format", "json")
    assert code == 0, err
    doc = json.loads(out)
    assert any("shifted" in n or "weeks" in n for n in doc["notes"])


# ------------------------------------------------------------------------------------------ misleading messages
def test_misleading_schedule_outside_the_files_names_its_own_options(intensity: Path) -> None:
    code, _, err = _run("schedule", "--at", "2024-01-01T00:00Z", "--duration", "20m", "--intensity", str(intensity),
                        "--regions", "GB")
    assert code == 2
    assert "--at" in err and "--start" not in err and "--days" not in err


def test_misleading_internal_names_are_shown_as_options() -> None:
    code, _, err = _run("footprint", "--energy-kwh", "inf", "--intensity-g-per-kwh", "100")
    assert code == 2 and "--energy-kwh" in err and "energy_kwh" not in err


def test_misleading_gap_error_points_to_the_command_line() -> None:
    from greenci.accounting import profile_emissions_g
    from greenci.errors import GapError

    with pytest.raises(GapError) as info:
        profile_emissions_g(np.array([0.0, 7200.0]), np.array([1.0, 1.0]), np.array([0.0, 3600.0]), 3600,
                            np.array([100.0, np.nan]))
    assert "IntensityGrid" not in str(info.value) and info.value.fields == ("at",)


# ------------------------------------------------------------------------------------------ logs
def test_progress_off_a_terminal_prints_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    from greenci.cli import support

    err = io.StringIO()
    monkeypatch.setattr(support.sys, "stderr", err)
    monkeypatch.setattr(support.Progress, "every_s", 0.05)
    bar = support.Progress("replaying", 3)
    bar.update(1)
    time.sleep(0.3)  # one long step: the heartbeat still reports
    bar.update(3)
    bar.close()
    lines = err.getvalue().splitlines()
    assert len(lines) >= 3 and lines[0].startswith("replaying: 1/3 (") and lines[-1].startswith("replaying: 3/3")


def test_readme_several_trace_files_after_one_option(tmp_path: Path, intensity: Path) -> None:
    a = _trace(tmp_path / "a.csv", "2022-10-12T00:00:00", 10)
    b = _trace(tmp_path / "b.csv", "2022-10-13T00:00:00", 10)
    code, out, err = _run("simulate", "--trace", str(a), str(b), "--intensity", str(intensity), "--regions",
                          "DE-LU,GB", "--strategies", "round-robin", "--forecast", "persistence", "--format", "json")
    assert code == 0, err
    assert json.loads(out)["jobs"] == 20


def test_silent_two_sources_for_one_zone_are_kept_apart(tmp_path: Path, intensity: Path) -> None:
    """An hourly export and a 30-minute ENTSO-E-derived file for GB: two rows in a summary, refused in a replay."""
    t = np.arange(np.datetime64("2022-08-01T00:00"), np.datetime64("2022-08-03T00:00"), np.timedelta64(30, "m"))
    entsoe = tmp_path / "gb_ci.csv"
    entsoe.write_text("Time,Carbon Intensity\n" + "".join(f"{ts}:00,200\n" for ts in t), encoding="utf-8")
    hourly = intensity / "GB" / "GB_2022_hourly.csv"
    code, out, err = _run("intensity", "summary", str(hourly), str(entsoe), "--format", "json")
    assert code == 0, err
    regions = [r["region"] for r in json.loads(out)["regions"]]
    assert len(regions) == 2 and all(r.startswith("GB (") for r in regions)
    code, _, err = _run("schedule", "--at", "2022-10-12T21:00Z", "--duration", "20m", "--intensity", str(hourly),
                        str(entsoe), "--regions", "GB")
    assert code == 2 and "given twice" in err and str(entsoe) in err


def test_silent_two_simulations_writing_one_folder_at_once(tmp_path: Path, intensity: Path) -> None:
    """Two ``simulate -o SAMEDIR`` processes at once: both succeed and every file is whole and readable."""
    import subprocess
    import sys

    import pandas as pd

    out = tmp_path / "same"
    args = ["simulate", "--study", "--intensity", str(intensity), "--regions", "DE-LU,GB", "--days", "0.5",
            "--strategies", "round-robin,lts-1,greenci", "--forecast", "persistence", "-o", str(out)]
    code = "import sys; from greenci.cli import main; main(sys.argv[1:])"
    procs = [subprocess.Popen([sys.executable, "-c", code, *args, "--seed", str(seed)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True) for seed in (1, 2)]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    assert len(pd.read_parquet(out / "placements.parquet")) > 0
    json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]  # no temporary file left behind


def test_traceback_trace_with_no_usable_run(tmp_path: Path, intensity: Path) -> None:
    """An empty REST page, or a trace whose every row is bad: a clear error naming the file, no IndexError."""
    empty = tmp_path / "runs.json"
    empty.write_text(json.dumps({"total_count": 0, "workflow_runs": []}), encoding="utf-8")
    bad = tmp_path / "bad.csv"
    bad.write_text("repo,workflow,job,event,started_at,completed_at,conclusion\n"
                   "acme/app,ci,build,push,2022-10-12T10:00:00Z,2022-10-12T09:00:00Z,success\n", encoding="utf-8")
    for trace in (empty, bad):
        code, _, err = _run("simulate", "--trace", str(trace), "--intensity", str(intensity), "--regions", "GB",
                            "--strategies", "round-robin")
        assert code == 2, err
        assert str(trace) in err and ("usable" in err or "no run" in err)
