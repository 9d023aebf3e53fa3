"""``greenci plan`` over a repository's ``.github/workflows`` folder: table, JSON and markdown."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from synthetic_intensity import write_em_folder
from typer.testing import CliRunner

from greenci.cli import app

CI = """\
name: CI
on:
  push:
    branches: [main]
    paths: ['src/**']
  pull_request:
jobs:
  lint:
    runs-on: ubuntu-latest
    duration: 10m
    steps: [{run: ruff check .}]
  test:
    needs: lint
    runs-on: ${{ matrix.os }}
    duration: 10m
    strategy:
      matrix:
        os: [ubuntu-latest, macos-latest]
        python: ['3.11', '3.12']
        exclude:
          - os: macos-latest
            python: '3.11'
    steps: [{run: pytest}]
  dynamic:
    needs: lint
    runs-on: ubuntu-latest
    duration: 10m
    strategy:
      matrix: ${{ fromJSON(needs.lint.outputs.targets) }}
    steps: [{run: make}]
  deploy:
    needs: test
    uses: ./.github/workflows/deploy.yml
"""
NIGHTLY = """\
name: nightly
on:
  schedule:
    - cron: '0 2 * * *'
jobs:
  bench:
    runs-on: ubuntu-latest
    duration: 1h
    steps: [{run: make bench}]
"""
DEPLOY = """\
name: deploy
on: workflow_call
jobs:
  ship:
    runs-on: ubuntu-latest
    steps: [{run: ./ship.sh}]
"""
ARGS = ["--at", "2022-10-12T21:00Z", "--regions", "DE-LU,GB", "--forecast", "seasonal-naive"]


@pytest.fixture(scope="module")
def intensity(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_em_folder(tmp_path_factory.mktemp("intensity"))


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    wf = tmp_path / ".github" / "workflows"
    wf.mkdir(parents=True)
    for name, text in (("ci.yml", CI), ("nightly.yaml", NIGHTLY), ("deploy.yml", DEPLOY)):
        (wf / name).write_text(text, encoding="utf-8")
    return tmp_path


def _plan(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["plan", *args])
    return result.exit_code, result.stdout, result.stderr


def _json(repo: Path, intensity: Path, *extra: str) -> dict:
    code, out, err = _plan(str(repo), *ARGS, "--intensity", str(intensity), "--format", "json", *extra)
    assert code == 0, err
    return json.loads(out)


def test_json_plans_every_job_and_counts_matrix_legs(repo: Path, intensity: Path) -> None:
    doc = _json(repo, intensity)
    assert doc["synthetic"] is False and doc["event"] == "push" and doc["at"].startswith("2022-10-12T21:00")
    jobs = {(j["workflow"], j["job"]): j for j in doc["jobs"]}
    assert set(jobs) == {("CI", "lint"), ("CI", "test"), ("CI", "dynamic"), ("CI", "deploy"), ("deploy", "ship"),
                         ("nightly", "bench")}
    lint, test, dynamic = jobs["CI", "lint"], jobs["CI", "test"], jobs["CI", "dynamic"]
    assert test["matrix_legs"] == 3 and test["legs_counted"] == 3 and test["needs"] == ["lint"]
    # same keys, same submission, same forecast: one leg of test is exactly one lint run
    assert math.isclose(test["expected_g"], 3 * lint["expected_g"], rel_tol=1e-9)
    assert math.isclose(test["energy_kwh"], 3 * lint["energy_kwh"], rel_tol=1e-9)
    assert math.isclose(test["baseline_g"], 3 * lint["baseline_g"], rel_tol=1e-9)
    assert dynamic["matrix_legs"] is None and dynamic["legs_unknown"] and dynamic["legs_counted"] == 1
    assert math.isclose(dynamic["expected_g"], lint["expected_g"], rel_tol=1e-9)
    assert any("matrix legs unknown" in n for n in doc["notes"])
    assert jobs["CI", "deploy"]["uses"] == "./.github/workflows/deploy.yml" and jobs["CI", "deploy"]["planned"]
    ship, bench = jobs["deploy", "ship"], jobs["nightly", "bench"]
    assert not ship["planned"] and "workflow_call" in ship["reason"] and ship["expected_g"] == 0
    assert bench["event"] == "schedule" and bench["planned"] and bench["eligible"]
    for j in (lint, test, bench):
        assert j["region"] in ("DE-LU", "GB") and j["estimate_source"] and j["window"]
        assert math.isclose(j["saving_g"], j["baseline_g"] - j["expected_g"], rel_tol=1e-9, abs_tol=1e-9)
    planned = [j for j in doc["jobs"] if j["planned"]]
    totals = doc["totals"]
    assert totals["jobs"] == 5 and totals["legs"] == 1 + 3 + 1 + 1 + 1
    assert math.isclose(totals["expected_g"], sum(j["expected_g"] for j in planned), rel_tol=1e-9)
    assert math.isclose(totals["energy_kwh"], sum(j["energy_kwh"] for j in planned), rel_tol=1e-9)


def test_the_plan_is_deterministic(repo: Path, intensity: Path) -> None:
    assert _json(repo, intensity) == _json(repo, intensity)


def test_a_pull_request_is_not_delayed(repo: Path, intensity: Path) -> None:
    doc = _json(repo, intensity, "--event", "pull_request")
    jobs = {(j["workflow"], j["job"]): j for j in doc["jobs"]}
    lint, test = jobs["CI", "lint"], jobs["CI", "test"]
    assert not lint["eligible"] and lint["wait_s"] == 0
    # test needs lint: not delayed, it starts the moment lint is planned to end
    assert not test["eligible"] and test["wait_s"] == lint["duration_estimate_s"]
    assert "after lint" in test["window"]
    assert jobs["nightly", "bench"]["event"] == "schedule"  # a cron-only workflow stays a scheduled run


def test_table_output(repo: Path, intensity: Path) -> None:
    code, out, err = _plan(str(repo), *ARGS, "--intensity", str(intensity))
    assert code == 0, err
    assert "Plan at 2022-10-12T21:00Z: 5 of 6 jobs in 3 workflow files" in out
    assert "SYNTHETIC" not in out and "total" in out and "matrix legs unknown" in out
    for name in ("lint", "test", "dynamic", "deploy", "ship", "bench"):
        assert f" {name} " in out


def test_markdown_output(repo: Path, intensity: Path) -> None:
    code, out, err = _plan(str(repo / ".github" / "workflows"), *ARGS, "--intensity", str(intensity),
                           "--format", "markdown")
    assert code == 0, err
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("| workflow |"))
    assert lines[header + 1].startswith("|---|---|---:|")
    rows = [line for line in lines[header + 2:] if line.startswith("| ")]
    assert len(rows) == 7 and rows[-1].startswith("| **total** |")
    test_row = next(r for r in rows if r.startswith("| CI | test |"))
    assert test_row.split(" | ")[2] == "3"
    assert any(line.startswith("| CI | deploy (uses ./.github/workflows/deploy.yml) |") for line in rows)


def test_without_intensity_the_synthetic_model_is_labelled(repo: Path) -> None:
    code, out, err = _plan(str(repo / ".github" / "workflows" / "nightly.yaml"), "--at", "2022-10-12T21:00Z",
                           "--regions", "DE-LU,GB", "--format", "markdown", "--forecast", "persistence")
    assert code == 0, err
    assert "SYNTHETIC" in out and "| nightly | bench | 1 | schedule |" in out


@pytest.mark.parametrize(("files", "args", "fragment"), [
    ({"ci.yml": "on: push\njobs:\n  a:\n    runs-on: x\n    duration: soonish\n"}, [],
     "ci.yml: line 5, column 15: job a: duration 'soonish'"),
    ({"ci.yml": "on: push\njobs:\n  a: [\n"}, [], "ci.yml: line 4, column 1: not valid YAML"),
    ({"action.yml": "name: x\nruns:\n  using: composite\n  steps: []\n"}, [], "a GitHub Action"),
    ({"ci.yml": "on: push\njobs:\n  a: {runs-on: x}\n"}, ["--event", "merge"], "--event 'merge' is unknown"),
])
def test_errors_exit_2_with_one_line(tmp_path: Path, intensity: Path, files: dict[str, str], args: list[str],
                                     fragment: str) -> None:
    wf = tmp_path / ".github" / "workflows"
    wf.mkdir(parents=True)
    for name, text in files.items():
        (wf / name).write_text(text, encoding="utf-8")
    code, out, err = _plan(str(tmp_path), *ARGS, "--intensity", str(intensity), *args)
    assert code == 2 and out == ""
    [line] = err.strip().splitlines()
    assert line.startswith("error: ") and fragment in line
