"""``greenci measure`` on real child processes: exit codes, process trees, signals, output, the Python API.

Children are small ``python -c`` programs (busy loops of about half a second); sampling is every 0.1 s.
There are no timing asserts: a busy machine may give the children less CPU than they ask for.
"""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from greenci.energy import CsvSink, measure, read_records, run_measured
from greenci.energy.meter import CommandNotFoundError, MeasureOptions
from greenci.errors import InputError
from greenci.usecases.measure import measure_command

BUSY = "import time\nt = time.time()\nwhile time.time() - t < {s}: pass\n"
FAST = {"interval_s": 0.1, "gpu": False, "rapl_root": "/nonexistent/powercap"}


def py(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_exit_code_is_kept() -> None:
    assert run_measured(py("import sys; sys.exit(3)"), **FAST).exit_code == 3
    assert run_measured(py("pass"), **FAST).exit_code == 0


def test_a_child_killed_by_a_signal_exits_128_plus_the_signal() -> None:
    result = run_measured(py("import os, signal; os.kill(os.getpid(), signal.SIGTERM)"), **FAST)
    assert result.exit_code == 128 + signal.SIGTERM


def test_a_missing_command_is_exit_127() -> None:
    with pytest.raises(CommandNotFoundError, match="not found") as info:
        run_measured(["greenci-no-such-command-xyz"], **FAST)
    assert info.value.exit_code == 127
    with pytest.raises(InputError, match="no command"):
        run_measured([], **FAST)


def test_busy_child_costs_more_than_an_idle_one() -> None:
    busy = run_measured(py(BUSY.format(s=0.5)), **FAST)
    idle = run_measured(py("import time; time.sleep(0.5)"), **FAST)
    assert busy.method == "model" and "no RAPL domains" in busy.method_note
    assert busy.cpu_seconds > 0.1 > idle.cpu_seconds
    assert busy.cpu_kwh / busy.duration_s > idle.cpu_kwh / idle.duration_s
    assert busy.energy_kwh == pytest.approx(busy.cpu_kwh + busy.ram_kwh + busy.gpu_kwh)
    assert busy.ram_kwh > 0 and busy.peak_rss_bytes > 1_000_000
    assert busy.samples >= 3


def test_short_lived_grandchildren_are_counted() -> None:
    """Grandchildren that start and exit between two samples still show up (reaped CPU time)."""
    code = ("import subprocess, sys\n"
            f"for _ in range(4): subprocess.run([sys.executable, '-c', {BUSY.format(s=0.08)!r}])\n")
    result = run_measured(py(code), **FAST)
    assert result.exit_code == 0
    assert result.cpu_seconds >= 0.2  # four busy loops of 0.08 s plus four interpreter starts


def test_emissions_from_intensity_files(tmp_path: Path) -> None:
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    rows = ["Time,Carbon Intensity"] + [f"{(now + timedelta(hours=h)).strftime('%Y-%m-%d %H:%M:%S')},250"
                                        for h in range(-2, 3)]
    path = tmp_path / "gb_ci.csv"
    path.write_text("\n".join(rows) + "\n")
    result = measure_command(py("pass"), MeasureOptions(**FAST, pue=1.2), intensity_files=(str(path),))
    assert result.region == "GB" and not result.synthetic
    assert result.intensity_g_per_kwh == pytest.approx(250)
    assert result.emissions_g == pytest.approx(250 * result.facility_energy_kwh)
    assert result.facility_energy_kwh == pytest.approx(1.2 * result.energy_kwh)


def test_intensity_files_that_miss_the_run_fail_with_a_fix(tmp_path: Path) -> None:
    path = tmp_path / "gb_ci.csv"
    path.write_text("Time,Carbon Intensity\n2020-01-01 00:00:00,250\n2020-01-01 01:00:00,250\n")
    with pytest.raises(InputError, match="not covered by the intensity series"):
        measure_command(py("pass"), MeasureOptions(**FAST), intensity_files=(str(path),))


def test_records_go_to_the_sink(tmp_path: Path) -> None:
    path = tmp_path / "runs.csv"
    result = run_measured(py(BUSY.format(s=0.2)), **FAST, sink=CsvSink(path))
    back = read_records(path)
    assert {r.component for r in back} == {"cpu", "ram"}
    assert sum(r.energy_kwh or 0 for r in back) == pytest.approx(result.energy_kwh)
    assert all(r.source == "greenci-measure" and r.method == "model" for r in back)


# ====================================================================== the Python API
def test_measure_as_a_context_manager_counts_this_process_without_the_sampler() -> None:
    with measure(MeasureOptions(**FAST), region="GB", label="busy block") as m:
        t = time.time()
        while time.time() - t < 0.4:
            pass
    r = m.result
    assert r is not None and r.exit_code is None and r.label == "busy block"
    assert r.cpu_seconds > 0.1
    assert r.sampler_cpu_s < r.cpu_seconds
    assert r.synthetic and r.emissions_g is not None and r.emissions_g > 0


def test_measure_as_a_decorator_reports_each_call() -> None:
    seen = []
    m = measure(**FAST, on_result=seen.append)

    @m
    def work(n: int) -> int:
        subprocess.run(py(BUSY.format(s=0.1)), check=True)
        return n * 2

    assert work(21) == 42
    assert work(1) == 2
    assert len(seen) == 2 and m.result is seen[1]
    assert seen[0].cpu_seconds > 0.03  # the child process is part of the tree


def test_an_exception_in_the_block_is_measured_and_propagates() -> None:
    m = measure(**FAST)
    with pytest.raises(ZeroDivisionError):
        with m:
            1 / 0  # noqa: B018
    assert m.result is not None


# ====================================================================== the CLI in a real process
def run_cli(*args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "greenci.cli.energy", "measure", "--rapl-root", "/nonexistent",
                           "--interval-s", "0.1", "--no-gpu", *args], capture_output=True, text=True, timeout=60,
                          **kwargs)  # type: ignore[call-overload]


def test_cli_passes_child_output_through_and_reports_on_stderr(tmp_path: Path) -> None:
    out = tmp_path / "run.json"
    proc = run_cli("--region", "DE-LU", "-o", str(out), "--", sys.executable, "-c",
                   "import sys; print('to stdout'); print('to stderr', file=sys.stderr); sys.exit(5)")
    assert proc.returncode == 5
    assert proc.stdout == "to stdout\n"
    assert "to stderr" in proc.stderr and "greenci measure" in proc.stderr and "SYNTHETIC" in proc.stderr
    doc = json.loads(out.read_text())
    assert doc["exit_code"] == 5 and doc["method"] == "model" and doc["synthetic"] is True
    assert doc["energy_kwh"] == pytest.approx(doc["cpu_kwh"] + doc["ram_kwh"] + doc["gpu_kwh"])
    assert len(doc["profile"]["cpu_w"]) == len(doc["profile"]["t_s"]) - 1


def test_cli_csv_report_gets_a_row_per_run(tmp_path: Path) -> None:
    out = tmp_path / "runs.csv"
    for _ in range(2):
        assert run_cli("--report", "none", "-o", str(out), "--", sys.executable, "-c", "pass").returncode == 0
    lines = out.read_text().splitlines()
    assert len(lines) == 3 and lines[0].startswith("command,exit_code,")


def test_cli_errors_are_one_line_with_the_shell_codes() -> None:
    proc = run_cli("--", "greenci-no-such-command-xyz")
    assert proc.returncode == 127 and "not found" in proc.stderr and "Traceback" not in proc.stderr
    proc = run_cli("--region", "NOWHERE", "--", sys.executable, "-c", "print('must not run')")
    assert proc.returncode == 2 and "NOWHERE" in proc.stderr and "must not run" not in proc.stdout


@pytest.mark.skipif(not hasattr(signal, "SIGTERM") or os.name != "posix", reason="POSIX signals")
@pytest.mark.parametrize(("sig", "expected"), [(signal.SIGTERM, 42), (signal.SIGINT, 128 + signal.SIGINT)])
def test_signals_are_forwarded_to_the_child(sig: int, expected: int) -> None:
    child = ("import signal, sys, time\n"
             "signal.signal(signal.SIGTERM, lambda *a: sys.exit(42))\n"
             "print('ready', flush=True)\n"
             "time.sleep(30)\n")
    proc = subprocess.Popen([sys.executable, "-m", "greenci.cli.energy", "measure", "--rapl-root", "/nonexistent",
                             "--interval-s", "0.1", "--no-gpu", "--report", "none", "--", sys.executable, "-c", child],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        proc.send_signal(sig)
        proc.wait(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == expected


# ====================================================================== outputs: checked before, never losing a result
def _measure_in_process(*args: str) -> object:
    from typer.testing import CliRunner

    from greenci.cli import app

    return CliRunner().invoke(app, ["measure", "--rapl-root", "/nonexistent", "--interval-s", "0.1", "--no-gpu",
                                    *args])


def test_measure_bad_output_paths_are_refused_before_the_command_runs(tmp_path: Path) -> None:
    """Regression: ``measure -o UNWRITABLE -- CMD`` ran the command, then crashed, losing result and exit code."""
    marker = tmp_path / "ran"
    touch = ["--", sys.executable, "-c", f"open({str(marker)!r}, 'w').close()"]
    (tmp_path / "a-file").write_text("x")
    other = tmp_path / "other.csv"
    other.write_text("a,b\n1,2\n")
    cases = [(["-o", str(tmp_path)], "--output"), (["-o", str(tmp_path) + "/"], "--output"),
             (["-o", str(tmp_path / "run.txt")], "write a .json or .csv file"),
             (["-o", str(tmp_path / "a-file" / "run.json")], "is a file, not a folder"),
             (["-o", str(other)], "not greenci measure's"),
             (["--records", str(tmp_path / "records.json")], "--records"),
             (["--records", str(other)], "--records"),
             (["--records", str(tmp_path / "a-file" / "r.csv")], "--records")]
    for args, words in cases:
        result = _measure_in_process("--report", "none", *args, *touch)
        assert result.exit_code == 2 and words in result.stderr, (args, result.stderr)
        assert not marker.exists(), f"the command ran despite {args}"
    assert other.read_text() == "a,b\n1,2\n"
    assert _measure_in_process("--report", "none", "-o", str(tmp_path / "ok.json"), *touch).exit_code == 0
    assert marker.exists()


def test_measure_result_survives_a_report_folder_removed_during_the_run(tmp_path: Path) -> None:
    """The folder of -o and --records becomes a file while the command runs: the measurement goes to stderr."""
    folder = tmp_path / "out"
    folder.mkdir()
    code = (f"import shutil, sys; shutil.rmtree({str(folder)!r}); open({str(folder)!r}, 'w').write('x'); "
            "sys.exit(3)")
    proc = run_cli("--report", "none", "-o", str(folder / "run.json"), "--records", str(folder / "records.csv"),
                   "--", sys.executable, "-c", code)
    assert proc.returncode == 3, proc.stderr
    doc = json.loads(proc.stderr[proc.stderr.index("{"):])  # after a runpy warning of `python -m`
    assert doc["exit_code"] == 3 and doc["energy_kwh"] > 0 and "profile" in doc
    notes = " ".join(doc["notes"])
    assert "report was not written" in notes and "records were not written" in notes and "stderr" in notes


def test_measure_result_survives_a_failing_writer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import greenci.usecases.measure as use_case

    def broken(path: Path, text: str) -> Path:
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr(use_case, "write_text", broken)
    out = tmp_path / "run.json"
    result = _measure_in_process("--report", "json", "-o", str(out), "--", sys.executable, "-c",
                                 "import sys; sys.exit(4)")
    assert result.exit_code == 4
    doc = json.loads(result.stderr)  # one JSON document: the report and the rescue are not printed twice
    assert doc["exit_code"] == 4 and "No space left on device" in " ".join(doc["notes"])
    assert not out.exists()


def test_measure_csv_report_appends_without_touching_earlier_rows(tmp_path: Path) -> None:
    from greenci.energy.meter import SUMMARY_FIELDS

    out = tmp_path / "runs.csv"
    assert _measure_in_process("--report", "none", "-o", str(out), "--", sys.executable, "-c", "pass").exit_code == 0
    first = out.read_bytes().rstrip(b"\r\n")
    out.write_bytes(first)  # a last row without its line break
    assert _measure_in_process("--report", "none", "-o", str(out), "--", sys.executable, "-c", "pass").exit_code == 0
    text = out.read_bytes()
    assert text.startswith(first + b"\r\n")
    rows = list(csv.DictReader(io.StringIO(text.decode())))
    assert len(rows) == 2 and list(rows[0]) == list(SUMMARY_FIELDS)
    result = run_measured(py("pass"), **FAST)
    assert list(result.summary()) == list(SUMMARY_FIELDS)
