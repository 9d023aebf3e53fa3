"""Workflow carbon-aware keys, and one-job decisions (planner and ``greenci schedule``)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from greenci.cli import app
from greenci.errors import DataFormatError, InputError
from greenci.forecast import GridForecasts
from greenci.grid import IntensityGrid
from greenci.jobs import HistoryIndex, Job, JobTable
from greenci.usecases.plan import plan_job
from greenci.workflows import read_workflow

LISTING = """
name: CI/CD jobs
on: [push]
jobs:
  job-a:
    runs-on: ubuntu-latest
    carbon-aware: yes
    steps:
      - name: My first step
        uses: actions/hello_world@main
        with:
          duration: 1h
          deadline: 3h
          allowed-regions: [eu-central-1]
  job-b:
    runs-on: ubuntu-latest
    carbon-aware: no
"""


def test_reads_the_study_listing() -> None:
    a, b = read_workflow(LISTING)
    assert (a.workflow, a.job, a.triggers) == ("CI/CD jobs", "job-a", ("push",))
    assert a.carbon_aware is True and a.duration_s == 3600 and a.deadline_after_s == 3 * 3600
    assert a.allowed_regions == ("eu-central-1",)
    assert b.carbon_aware is False and b.duration_s is None


def test_cron_triggers_and_absolute_deadline(tmp_path: Path) -> None:
    f = tmp_path / "nightly.yml"
    f.write_text("on:\n  schedule:\n    - cron: '0 2 * * *'\ndeadline: 2022-10-13T08:00Z\njobs:\n  build: {}\n")
    [spec] = read_workflow(f)
    assert spec.crons == ("0 2 * * *",) and spec.triggers == ("schedule",)
    assert spec.deadline_at == "2022-10-13T08:00:00Z" and spec.workflow == "nightly"


@pytest.mark.parametrize(("text", "fragment"), [
    ("jobs:\n  a:\n    carbon-aware: maybe\n", "carbon-aware"),
    ("jobs:\n  a:\n    duration: soon\n", "duration"),
    ("jobs:\n  a:\n    deadline: whenever\n", "deadline"),
    ("jobs:\n  a:\n    allowed-regions: []\n", "allowed-regions"),
])
def test_bad_keys_name_the_job_and_key(text: str, fragment: str) -> None:
    with pytest.raises(InputError, match=fragment):
        read_workflow(text)


def test_not_a_workflow() -> None:
    with pytest.raises(DataFormatError, match="jobs"):
        read_workflow("name: x\nsteps: []\n")


def _grid() -> IntensityGrid:
    hours = 24 * 10
    clean = np.full(hours, 300.0)
    clean[(np.arange(hours) % 24) == 4] = 50.0  # 04:00 UTC is cleanest every day in region B
    return IntensityGrid(regions=("A", "B"), start=np.datetime64("2022-10-03T00:00", "s"), step_s=3600,
                         values=np.vstack([np.full(hours, 200.0), clean]))


def test_plan_job_waits_for_the_clean_hour_on_a_perfect_forecast() -> None:
    job = Job(id="j", repo="r", workflow="w", submitted_at=datetime(2022, 10, 12, 1, tzinfo=UTC),
              duration_estimate_s=3600, event="schedule", buffer_s=6 * 3600)
    d = plan_job(job, intensity=GridForecasts(_grid(), "perfect"))
    assert d.region == "B" and d.start == "2022-10-12T04:00:00Z" and d.wait_s == 3 * 3600
    # estimate = 1 h x 1.5 (no history); baseline mean of A and B now = (200 + 300) / 2 per kW-hour
    assert d.duration_estimate_s == pytest.approx(5400)
    assert d.expected_g == pytest.approx(50 + 0.5 * 300)
    assert d.baseline_g == pytest.approx(1.5 * 250)
    assert "shifted" in d.reason


def test_plan_job_uses_only_earlier_runs_of_its_workflow() -> None:
    sub = int(datetime(2022, 10, 12, 1, tzinfo=UTC).timestamp())
    history = JobTable.build(submitted_s=[sub - 7200, sub - 3600, sub + 3600], duration_s=[600.0, 600.0, 99999.0],
                             repo=["r"] * 3, workflow=["w"] * 3)
    job = Job(id="j", repo="r", workflow="w", submitted_at=datetime(2022, 10, 12, 1, tzinfo=UTC))
    d = plan_job(job, intensity=GridForecasts(_grid(), "perfect"), history=HistoryIndex(history))
    assert d.history_runs == 2
    assert d.duration_estimate_s == pytest.approx(600 * (1 + 0.5 / np.sqrt(3)))


def test_opted_out_job_runs_now_in_the_cleanest_region() -> None:
    job = Job(id="j", repo="r", workflow="w", submitted_at=datetime(2022, 10, 12, 1, tzinfo=UTC),
              duration_estimate_s=3600, carbon_aware=False)
    d = plan_job(job, intensity=GridForecasts(_grid(), "perfect"))
    assert d.wait_s == 0 and d.region == "A" and "carbon-aware: no" in d.reason


def test_schedule_cli_reads_the_workflow_file(tmp_path: Path) -> None:
    wf = tmp_path / "ci.yml"
    wf.write_text(LISTING.replace("eu-central-1", "DE-LU, GB"))
    r = CliRunner().invoke(app, ["schedule", "--workflow-file", str(wf), "--job", "job-a", "--at",
                                 "2022-10-12T08:00Z", "--format", "json", "--forecast", "persistence"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["region"] in ("DE-LU", "GB") and d["synthetic"] is True
    assert 0 <= d["wait_s"] <= 2 * 3600  # deadline 3 h after submission minus the 1 h estimate x buffer
    assert d["duration_estimate_s"] == pytest.approx(5400)
