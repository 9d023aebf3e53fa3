"""``greenci ci start`` / ``greenci ci report``: a real detached sampler (utilisation model, so no RAPL is needed),
the GitHub summary and outputs, the scheduler service over real HTTP, and the failures around them."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from typer.testing import CliRunner

from greenci.cli import app
from greenci.usecases.ci_energy import STATE_FILE, read_state, sampler_alive

if TYPE_CHECKING:
    from greenci.service import ServiceSettings


@pytest.fixture()
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A state folder, GitHub's summary and output files in the environment; any sampler left is stopped after."""
    for var in ("GREENCI_SERVICE_URL", "GREENCI_SERVICE_TOKEN", "GREENCI_JOB", "RUNNER_TEMP"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "summary.md"))
    monkeypatch.setenv("GITHUB_OUTPUT", str(tmp_path / "output.txt"))
    where = tmp_path / "ci"
    yield where
    if (where / STATE_FILE).is_file():
        pid = read_state(where).pid
        if sampler_alive(pid):
            os.kill(pid, signal.SIGKILL)
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass


def _ci(*args: str) -> object:
    return CliRunner().invoke(app, ["ci", *args])


def _start(where: Path, *extra: str) -> None:
    got = _ci("start", "--state-dir", str(where), "--method", "model", "--interval-s", "0.2", *extra)
    assert got.exit_code == 0, got.output  # type: ignore[attr-defined]


def _burn(seconds: float) -> None:
    t = time.monotonic()
    x = 0
    while time.monotonic() - t < seconds:
        x += 1


def _outputs(state_dir: Path) -> dict[str, str]:
    text = (state_dir.parent / "output.txt").read_text(encoding="utf-8")
    return dict(line.split("=", 1) for line in text.splitlines() if line)


def test_start_then_report_measures_the_job_and_writes_the_summary_and_outputs(state_dir: Path) -> None:
    _start(state_dir)
    assert json.loads((state_dir / STATE_FILE).read_text())["method"] == "model"
    _burn(1.5)
    got = _ci("report", "--state-dir", str(state_dir), "--intensity-g-per-kwh", "300", "--pue", "1.2")
    assert got.exit_code == 0, got.output  # type: ignore[attr-defined]
    assert "MODELLED" in got.stdout and "gCO2eq" in got.stdout  # type: ignore[attr-defined]
    out = _outputs(state_dir)
    kwh, co2, duration = float(out["energy-kwh"]), float(out["co2-g"]), float(out["duration-s"])
    assert kwh > 0 and duration >= 1.4
    assert co2 == pytest.approx(kwh * 1.2 * 300, rel=1e-4)
    summary = (state_dir.parent / "summary.md").read_text(encoding="utf-8")
    assert "| Energy (IT) |" in summary and "| Peak power |" in summary and "| Average power |" in summary
    assert "modelled: utilisation model" in summary and "energy modelled, not measured" in summary
    assert "SYNTHETIC" not in summary
    assert not sampler_alive(read_state(state_dir).pid)
    report = json.loads((state_dir / "report.json").read_text())
    assert report["energy_kwh"] == pytest.approx(kwh) and report["sampler_died"] is False

    # a second report reads the same samples again (a retry), here with the synthetic model: labelled so
    again = _ci("report", "--state-dir", str(state_dir), "--region", "DE-LU")
    assert again.exit_code == 0, again.output  # type: ignore[attr-defined]
    summary = (state_dir.parent / "summary.md").read_text(encoding="utf-8")
    assert summary.count("### greenci: energy of this job") == 2 and "SYNTHETIC intensity" in summary
    assert float(_outputs(state_dir)["energy-kwh"]) == pytest.approx(kwh)


def test_report_without_start_names_greenci_ci_start(state_dir: Path) -> None:
    got = _ci("report", "--state-dir", str(state_dir))
    assert got.exit_code == 2 and "greenci ci start" in got.stderr  # type: ignore[attr-defined]
    assert not (state_dir.parent / "output.txt").exists()


def test_a_second_start_is_refused_unless_restart(state_dir: Path) -> None:
    _start(state_dir)
    first = read_state(state_dir).pid
    got = _ci("start", "--state-dir", str(state_dir), "--method", "model")
    assert got.exit_code == 2, got.output  # type: ignore[attr-defined]
    assert str(state_dir) in got.stderr and "--restart" in got.stderr  # type: ignore[attr-defined]
    assert sampler_alive(first)
    _start(state_dir, "--restart")
    assert read_state(state_dir).pid != first and not sampler_alive(first)
    assert sampler_alive(read_state(state_dir).pid)


def test_a_sampler_that_died_is_reported_with_what_it_sampled(state_dir: Path) -> None:
    _start(state_dir)
    time.sleep(0.7)
    pid = read_state(state_dir).pid
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    got = _ci("report", "--state-dir", str(state_dir), "--intensity-g-per-kwh", "100")
    assert got.exit_code == 0, got.output  # type: ignore[attr-defined]
    assert "died" in got.stderr and "DIED" in got.stdout  # type: ignore[attr-defined]
    assert float(_outputs(state_dir)["energy-kwh"]) > 0
    assert "had died before greenci ci report" in (state_dir.parent / "summary.md").read_text(encoding="utf-8")


def test_no_samples_is_an_error(state_dir: Path) -> None:
    _start(state_dir)
    pid = read_state(state_dir).pid
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    (state_dir / "samples.jsonl").write_text("", encoding="utf-8")
    got = _ci("report", "--state-dir", str(state_dir))
    assert got.exit_code == 2 and "0 sample(s)" in got.stderr  # type: ignore[attr-defined]


def test_an_unreachable_service_keeps_the_local_report_and_exits_3(state_dir: Path) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    _start(state_dir)
    time.sleep(0.5)
    got = _ci("report", "--state-dir", str(state_dir), "--intensity-g-per-kwh", "300",
              "--service", f"http://127.0.0.1:{port}", "--job-id", "abc-123")
    assert got.exit_code == 3, got.output  # type: ignore[attr-defined]
    assert "not reported to the service" in got.stderr and "cannot reach" in got.stderr  # type: ignore[attr-defined]
    assert float(_outputs(state_dir)["energy-kwh"]) > 0
    assert "reporting FAILED" in (state_dir.parent / "summary.md").read_text(encoding="utf-8")


def _service_settings(tmp_path: Path) -> tuple[datetime, ServiceSettings]:
    """A service on SYNTHETIC intensity around now (DE-LU, GB), for the jobs a CI step reports."""
    from synthetic_intensity import em_yearly_csv

    from greenci.service import ServiceSettings

    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    intensity = tmp_path / "intensity"
    for zone, phase in (("DE-LU", 0.0), ("GB", 0.4)):
        (intensity / zone).mkdir(parents=True)
        (intensity / zone / f"{zone}_hourly.csv").write_text(
            em_yearly_csv(zone, start=(now - timedelta(days=15)).strftime("%Y-%m-%dT00:00"), days=20, phase=phase),
            encoding="utf-8")
    return now, ServiceSettings(data_dir=tmp_path / "data", regions=("DE-LU", "GB"), intensity=(intensity,),
                                forecast="seasonal-naive")


def test_report_to_the_service_completes_the_job_with_measured_energy(state_dir: Path, tmp_path: Path) -> None:
    pytest.importorskip("fastapi", reason="the service needs greenci[service]")
    from test_service import JOB, serving

    now, settings = _service_settings(tmp_path)
    with serving(settings) as http:
        job = http.post("/v1/jobs", json={**JOB, "submitted_at": now.strftime("%Y-%m-%dT%H:%M:%SZ")})
        assert job.status_code == 201, job.text
        job_id = job.json()["id"]
        token = http.headers["Authorization"].split()[1]
        _start(state_dir)
        _burn(1.0)
        got = _ci("report", "--state-dir", str(state_dir), "--service", str(http.base_url), "--token", token,
                  "--job-id", job_id, "--region", "DE-LU")
        assert got.exit_code == 0, got.output  # type: ignore[attr-defined]
        kept = http.get(f"/v1/jobs/{job_id}").json()
    kwh = float(_outputs(state_dir)["energy-kwh"])
    assert kept["status"] == "completed" and kept["measured_kwh"] == pytest.approx(kwh, rel=1e-6)
    actual = kept["actual"]
    assert actual["energy_source"] == "measured" and actual["actual_g"] > 0
    assert actual["runtime_s"] == pytest.approx(float(_outputs(state_dir)["duration-s"]), abs=0.01)
    summary = (state_dir.parent / "summary.md").read_text(encoding="utf-8")
    assert "| Predicted (service) |" in summary and "| Actual (service) |" in summary
    assert "actual (service)" in got.stdout  # type: ignore[attr-defined]


def test_report_sends_the_jobs_attributed_share_of_its_nodes_metered_energy(state_dir: Path, tmp_path: Path) -> None:
    """`ci report --attribution FILE`: the service gets the job's part of the node's meter, not the sampler's model."""
    pytest.importorskip("fastapi", reason="the service needs greenci[service]")
    from test_service import JOB, serving

    from greenci.energy.attribution import AttributionRecord, write_attribution

    now, settings = _service_settings(tmp_path)
    with serving(settings) as http:
        job_id = http.post("/v1/jobs", json={**JOB, "submitted_at": now.strftime("%Y-%m-%dT%H:%M:%SZ")}).json()["id"]
        token = http.headers["Authorization"].split()[1]
        t0 = now - timedelta(minutes=2)
        parts = [AttributionRecord("node7", job, t0, t0 + timedelta(minutes=1), kwh, kwh / 2, kwh / 2, 30.0, 60.0,
                                   "test")
                 for job, kwh in ((job_id, 0.004), (job_id, 0.006), ("other-job", 0.5), ("unattributed:idle", 0.1))]
        attribution = tmp_path / "attribution.csv"
        write_attribution(parts, attribution)
        _start(state_dir)
        _burn(0.5)
        base = ["report", "--state-dir", str(state_dir), "--service", str(http.base_url), "--token", token,
                "--region", "DE-LU", "--attribution", str(attribution)]
        unknown = _ci(*base, "--job-id", "not-there")
        assert unknown.exit_code == 2 and "no record of job 'not-there'" in unknown.stderr  # type: ignore[attr-defined]
        assert "other-job" in unknown.stderr  # type: ignore[attr-defined]
        got = _ci(*base, "--job-id", job_id)
        assert got.exit_code == 0, got.output  # type: ignore[attr-defined]
        kept = http.get(f"/v1/jobs/{job_id}").json()
    assert kept["status"] == "completed" and kept["measured_kwh"] == pytest.approx(0.010, rel=1e-9)
    assert kept["actual"]["energy_source"] == "measured"
    alone = _ci("report", "--state-dir", str(state_dir), "--attribution", str(attribution))
    assert alone.exit_code == 2 and "--service" in alone.stderr  # type: ignore[attr-defined]
