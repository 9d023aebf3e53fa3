"""The simulator: a golden report on a small seeded case, the study command, and its invariants."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from greenci.cli import app
from greenci.errors import InputError
from greenci.scheduling.strategies import make_strategy
from greenci.simulation import simulate
from greenci.simulation_report import simulation_json, write_outputs
from greenci.synthetic import synthetic_grid
from greenci.tracegen import generate_study_trace

GOLDEN = Path(__file__).parent / "golden" / "small_simulation.json"
NAMES = ("round-robin", "location", "lts-1", "lts-3", "lts-6", "oracle", "greenci")


def _small():
    jobs = generate_study_trace(start="2022-10-12T00:00Z", days=1, runs=300, seed=11)
    grid = synthetic_grid(["DE-LU", "GB", "US-CAL-CISO", "AU-NSW", "SG"], start="2022-09-20T00:00Z",
                          hours=24 * 26, seed=11)
    return jobs, grid


def test_golden_report_for_a_small_seeded_case() -> None:
    jobs, grid = _small()
    result = simulate(jobs, grid, [make_strategy(n) for n in NAMES], forecast="persistence")
    doc = simulation_json(result)
    got = {s["name"]: {k: s[k] for k in ("emissions_g", "reduction_vs_round_robin", "deadline_misses",
                                         "wait_p95_s", "shifted_jobs", "jobs_by_region")} for s in doc["strategies"]}
    if os.environ.get("GREENCI_REGEN_GOLDEN"):
        GOLDEN.write_text(json.dumps(got, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    want = json.loads(GOLDEN.read_text(encoding="utf-8"))
    assert set(got) == set(want)
    for name, row in want.items():
        for key, value in row.items():
            if isinstance(value, float):
                assert got[name][key] == pytest.approx(value, rel=1e-9), (name, key)
            else:
                assert got[name][key] == value, (name, key)
    assert doc["synthetic_intensity"] and doc["synthetic_jobs"]
    assert any("SYNTHETIC" in n for n in doc["notes"])


def test_ordering_and_no_deadline_misses_with_perfect_forecasts() -> None:
    jobs, grid = _small()
    result = simulate(jobs, grid, [make_strategy(n) for n in NAMES], forecast="perfect")
    e = {s.name: s.emissions_g for s in result.strategies}
    assert e["round-robin"] > e["location"] >= e["lts-1"] >= e["lts-3"] >= e["lts-6"] >= e["oracle"]
    assert all(s.deadline_misses == 0 for s in result.strategies)
    rr = result.by_name("round-robin")
    assert rr.reduction_vs_round_robin == 0.0 and rr.wait_max_s == 0.0


def test_waiting_never_exceeds_the_buffer() -> None:
    jobs, grid = _small()
    result = simulate(jobs, grid, [make_strategy(n) for n in ("round-robin", "lts-1", "lts-3")], forecast="ridge")
    assert result.by_name("lts-1").wait_max_s <= 3600 + 1e-6
    assert result.by_name("lts-3").wait_max_s <= 3 * 3600 + 1e-6


def test_timeline_counts_every_job_once() -> None:
    jobs, grid = _small()
    result = simulate(jobs, grid, [make_strategy("round-robin"), make_strategy("lts-3")], forecast="perfect")
    for name, cumulative in result.timeline.cumulative_g.items():
        assert cumulative[-1] == pytest.approx(result.by_name(name).emissions_g)
        assert result.timeline.running[name].max() <= len(jobs)


def test_trace_outside_the_intensity_span_is_refused() -> None:
    jobs, grid = _small()
    with pytest.raises(InputError, match="not inside the intensity data"):
        simulate(jobs, grid.between(None, "2022-10-12T06:00Z"), [make_strategy("round-robin")])


def test_outputs_are_written(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    jobs, grid = _small()
    result = simulate(jobs, grid, [make_strategy(n) for n in ("round-robin", "lts-3")], forecast="perfect",
                      keep_placements=True)
    written = {p.name for p in write_outputs(result, tmp_path)}
    assert {"summary.json", "strategies.csv", "timeline.csv", "figure2.png"} <= written
    assert written & {"placements.parquet", "placements.csv"}
    assert (tmp_path / "figure2.png").read_bytes()[:4] == b"\x89PNG"


def test_cli_study_json_shape_on_synthetic_intensity(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GREENCI_SHARED", str(tmp_path / "absent"))
    monkeypatch.chdir(tmp_path)  # no ../shared from here: the synthetic model is used and labelled
    result = CliRunner().invoke(app, ["simulate", "--study", "--days", "1", "--format", "json",
                                      "--forecast", "persistence"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert [s["name"] for s in doc["strategies"]] == list(NAMES)
    assert doc["jobs"] == 1848 and len(doc["regions"]) == 12
    assert doc["synthetic_intensity"] is True
    first = doc["strategies"][0]
    assert first["reduction_vs_round_robin"] == 0.0 and first["deadline_misses"] == 0
    tl = doc["timeline"]
    assert set(tl["running"]) == set(NAMES) and len(tl["time_utc"]) == len(tl["running"]["oracle"])
    for name in NAMES:  # the last cumulative value is the strategy's total
        total = next(s["emissions_g"] for s in doc["strategies"] if s["name"] == name)
        assert tl["cumulative_g"][name][-1] == pytest.approx(total)
    assert "wait_p95_s" in first and "emissions_g" in first


@pytest.mark.shared
def test_cli_study_on_real_intensity_reproduces_the_ordering(shared_data: Path) -> None:
    result = CliRunner().invoke(app, ["simulate", "--study", "--intensity",
                                      str(shared_data / "intensity" / "electricitymaps-hourly"), "--format", "json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["jobs"] == 7392 and doc["synthetic_intensity"] is False
    e = {s["name"]: s for s in doc["strategies"]}
    assert e["round-robin"]["emissions_g"] > e["location"]["emissions_g"] >= e["lts-1"]["emissions_g"] \
        >= e["lts-3"]["emissions_g"] >= e["lts-6"]["emissions_g"]
    assert all(s["deadline_misses"] == 0 for s in doc["strategies"])
    saving = {k: e["round-robin"]["emissions_g"] - e[k]["emissions_g"] for k in ("oracle", "greenci")}
    assert saving["greenci"] >= 0.95 * saving["oracle"]


def test_unknown_strategy_and_missing_input_are_clear() -> None:
    r = CliRunner().invoke(app, ["simulate", "--study", "--strategies", "round-robin,teleport"])
    assert r.exit_code == 2 and "teleport" in r.output
    r = CliRunner().invoke(app, ["simulate"])
    assert r.exit_code == 2 and "--study" in r.output


def test_lts_does_not_peek_at_future_intensity() -> None:
    """Corrupting intensity after a job's arrival must not change its decision under a forecast."""
    jobs, grid = _small()
    first = jobs.take(np.arange(40))
    cut = int(first.submitted_s[-1]) + 1
    corrupted_values = grid.values.copy()
    future = grid.times.astype(np.int64) >= (cut // grid.step_s) * grid.step_s
    corrupted_values[:, future] = 1e6
    from dataclasses import replace

    corrupted = replace(grid, values=corrupted_values)
    a = simulate(first, grid, [make_strategy("lts-3")], forecast="ridge", keep_placements=True)
    b = simulate(first, corrupted, [make_strategy("lts-3")], forecast="ridge", keep_placements=True)
    np.testing.assert_array_equal(a.placements["lts-3"].region, b.placements["lts-3"].region)
    np.testing.assert_array_equal(a.placements["lts-3"].start_s, b.placements["lts-3"].start_s)


def test_greenci_does_not_peek_at_future_intensity() -> None:
    """greenci's own strategy, saving rule and nightly windows included: the future poisoned, decisions unchanged.

    Regression: its saving rule once averaged the whole grid, future included.
    """
    from dataclasses import replace

    from greenci.scheduling.eligibility import EligibilityRules
    from greenci.scheduling.strategies import GreenciStrategy

    jobs, grid = _small()
    first = jobs.take(np.arange(60))
    cut = int(first.submitted_s[-1]) + 1
    poisoned = grid.values.copy()
    poisoned[:, grid.times.astype(np.int64) >= (cut // grid.step_s) * grid.step_s] = 1e6
    strategy = GreenciStrategy(buffer_s=3 * 3600.0, rules=EligibilityRules(min_saving_g=0.5, delay_user_triggered=True),
                               nightly_time_zone="Europe/Berlin", name="greenci")
    a = simulate(first, grid, [strategy], forecast="ridge", keep_placements=True).placements["greenci"]
    b = simulate(first, replace(grid, values=poisoned), [strategy], forecast="ridge",
                 keep_placements=True).placements["greenci"]
    np.testing.assert_array_equal(a.region, b.region)
    np.testing.assert_array_equal(a.start_s, b.start_s)
    np.testing.assert_array_equal(a.reason, b.reason)
    np.testing.assert_allclose(a.expected_g, b.expected_g)


def test_greenci_fails_fast_for_pull_requests_in_a_replay_and_the_study_strategies_do_not() -> None:
    jobs, grid = _small()
    result = simulate(jobs, grid, [make_strategy(n) for n in ("round-robin", "lts-3", "greenci")],
                      forecast="perfect", keep_placements=True)
    pr = jobs.event.astype(str) == "pull_request"
    assert pr.any()
    greenci, lts = result.placements["greenci"], result.placements["lts-3"]
    assert np.all(greenci.start_s[pr] == jobs.submitted_s[pr]), "no pull-request run waits"
    assert np.any(lts.start_s[pr] > jobs.submitted_s[pr]), "the study's LTS shifts every run"


@pytest.mark.shared
def test_cli_simulate_real_trace_ordering_and_breakdown(shared_data: Path) -> None:
    r = CliRunner().invoke(app, ["simulate", "--trace", str(shared_data / "jobs" / "github-actions" / "gha-dashboard"),
                                 "--intensity", str(shared_data / "intensity" / "electricitymaps-hourly"),
                                 "--forecast", "persistence", "--format", "json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["synthetic_jobs"] is False and doc["jobs"] > 10_000
    e = {s["name"]: s for s in doc["strategies"]}
    assert e["round-robin"]["emissions_g"] > e["location"]["emissions_g"] >= e["lts-1"]["emissions_g"] \
        >= e["lts-3"]["emissions_g"] >= e["lts-6"]["emissions_g"]
    assert all(s["deadline_misses"] == 0 for s in doc["strategies"])
    assert "generated_runs_reduction" in e["lts-6"] and e["lts-6"]["study_reduction"] == 0.312
    assert any("shifted by" in n and "weeks" in n for n in doc["notes"])
    assert any("implausible" in n for n in doc["notes"])
    assert {row["repo"] for row in doc["repositories"]} >= {"facebook/react", "psf/requests"}


def test_trace_cli_summary_and_fetch_without_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    trace = tmp_path / "runs.csv"
    trace.write_text("repo,workflow,job,event,started_at,completed_at,conclusion\n"
                     "a/b,ci,test,push,2024-01-01T10:00:00Z,2024-01-01T10:05:00Z,success\n"
                     "a/b,ci,test,push,2024-01-02T10:00:00Z,2024-01-02T10:07:00Z,success\n"
                     "a/b,ci,test,push,2024-01-03T10:00:00Z,not-a-time,success\n")
    r = CliRunner().invoke(app, ["trace", "summary", str(trace), "--format", "json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["jobs"] == 2 and doc["problems"] == 1 and doc["first_problems"][0]["row"] == 4
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    monkeypatch.delenv("GREENCI_GITHUB_TOKEN", raising=False)
    r = CliRunner().invoke(app, ["trace", "fetch", "psf/requests", "-o", str(tmp_path / "out")])
    assert r.exit_code == 2 and "GITHUB_TOKEN" in r.output


def test_cli_sweep_serial_covers_every_combination(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GREENCI_SHARED", str(tmp_path / "absent"))
    r = CliRunner().invoke(app, ["simulate", "--study", "--sweep", "--days", "0.5", "--seeds", "1,2", "--buffers",
                                 "1,3", "--strategies", "round-robin,lts,oracle", "--region-set", "a=DE-LU,GB",
                                 "--region-set", "b=GB,SG,CA-ON", "--forecast", "persistence", "--scheduler",
                                 "serial", "--format", "json"])
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)["rows"]
    combos = {(x["region_set"], x["seed"], x["strategy"], x["buffer_h"]) for x in rows}
    assert len(combos) == len(rows) == 2 * 2 * (1 + 2 + 2)
    for x in rows:
        if x["strategy"] == "round-robin":
            assert x["reduction_vs_round_robin"] == 0.0
        assert x["deadline_misses"] == 0


@pytest.mark.shared
def test_greenci_misses_no_deadline_on_the_real_runs_with_and_without_nightly_windows(shared_data: Path) -> None:
    trace = str(shared_data / "jobs" / "github-actions" / "gha-dashboard")
    for extra in ([], ["--nightly-tz", "Europe/Berlin"]):
        r = CliRunner().invoke(app, ["simulate", "--trace", trace, "--strategies", "round-robin,lts-6,greenci",
                                     "--forecast", "persistence", "--format", "json", *extra])
        assert r.exit_code == 0, r.output
        e = {s["name"]: s for s in json.loads(r.stdout)["strategies"]}
        assert e["greenci"]["deadline_misses"] == 0, extra
        fail_fast = [k for k in e["greenci"]["reasons"] if "someone waits" in k]
        assert fail_fast and e["greenci"]["reasons"][fail_fast[0]] > 6000, "pull-request runs are not delayed"
        assert e["greenci"]["shifted_jobs"] < e["lts-6"]["shifted_jobs"]
