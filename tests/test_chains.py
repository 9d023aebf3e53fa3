"""``needs`` chains: no job starts before what it needs ends, the chain keeps its deadline, each job takes the
cleanest start its window leaves (checked against a brute force over that window)."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from synthetic_intensity import write_em_folder
from typer.testing import CliRunner

from greenci.cli import app
from greenci.errors import InputError
from greenci.scheduling.chains import ChainJob, dependency_order, latest_ends, place_chain
from greenci.scheduling.kernel import ForecastSurface

H = 3600
T0 = 1_665_532_800  # 2022-10-12T00:00Z, slot 0 of the forecast


def _surface(values: np.ndarray) -> ForecastSurface:
    """Regions x hourly slots, one issue at slot 0."""
    return ForecastSurface(np.asarray(values, dtype=float)[:, None, :], H, first_issue=0)


def _brute_cost(values: np.ndarray, region: int, start_s: float, duration_s: float) -> float:
    """g per kW of a run by summing slot by slot (the value of a slot covers the whole slot)."""
    t, end, g = start_s, start_s + duration_s, 0.0
    while t < end - 1e-9:
        slot = int((t - T0) // H)
        nxt = min(end, T0 + (slot + 1) * H)
        g += values[region, min(slot, values.shape[1] - 1)] * (nxt - t) / H
        t = nxt
    return g


def test_a_chain_waits_for_its_needs_and_keeps_its_deadline() -> None:
    # region 0 is cleanest at slots 2 and 9; region 1 is flat
    values = np.array([[500, 500, 50, 500, 500, 500, 500, 500, 500, 40, 500, 500] * 2, [300.0] * 24])
    jobs = [ChainJob("build", (), 1800, float("inf"), True),
            ChainJob("test", ("build",), 3600, float("inf"), True),
            ChainJob("deploy", ("test",), 1800, T0 + 8 * H, True)]
    slots = {s.key: s for s in place_chain(_surface(values), start_s=T0, step_s=H, at_s=T0 + 600, jobs=jobs)}
    assert slots["test"].start_s >= slots["build"].end_s
    assert slots["deploy"].start_s >= slots["test"].end_s
    assert slots["deploy"].end_s <= T0 + 8 * H  # the chain ends by its deadline
    # the deadline came back along the chain: test must end by 7.5 h, build by 6.5 h
    assert slots["test"].latest_end_s == T0 + 7.5 * H and slots["build"].latest_end_s == T0 + 6.5 * H
    assert not any(s.late for s in slots.values())
    assert slots["build"].region == 0 and slots["build"].start_s == T0 + 2 * H  # the 50 g hour


def test_a_job_that_may_not_wait_starts_when_its_needs_end() -> None:
    values = np.array([[500.0] * 3 + [10.0] * 21])
    jobs = [ChainJob("a", (), 1800, T0 + 20 * H, True), ChainJob("b", ("a",), 600, T0 + 20 * H, False)]
    a, b = place_chain(_surface(values), start_s=T0, step_s=H, at_s=T0, jobs=jobs)
    assert a.start_s == T0 + 3 * H  # a waits for the clean hours
    assert b.start_s == a.end_s  # b does not: it starts the moment a ends


def test_a_chain_that_cannot_keep_its_deadline_runs_as_soon_as_it_can_and_says_so() -> None:
    values = np.array([[100.0] * 24])
    jobs = [ChainJob("a", (), 3 * H, float("inf"), True), ChainJob("b", ("a",), 3 * H, T0 + 4 * H, True)]
    a, b = place_chain(_surface(values), start_s=T0, step_s=H, at_s=T0, jobs=jobs)
    assert a.late and a.start_s == T0 and b.start_s == a.end_s


def test_a_diamond_starts_its_last_job_after_both_branches() -> None:
    values = np.array([[100.0, 400.0] * 12, [400.0, 100.0] * 12])
    jobs = [ChainJob("a", (), 1800, float("inf"), True), ChainJob("b", ("a",), 7200, float("inf"), False),
            ChainJob("c", ("a",), 600, float("inf"), False), ChainJob("d", ("b", "c"), 600, T0 + 12 * H, True)]
    slots = {s.key: s for s in place_chain(_surface(values), start_s=T0, step_s=H, at_s=T0, jobs=jobs)}
    assert slots["d"].start_s >= max(slots["b"].end_s, slots["c"].end_s)
    assert slots["d"].end_s <= T0 + 12 * H


def test_cycles_and_unknown_needs_are_errors_naming_the_jobs() -> None:
    with pytest.raises(InputError, match="cycle among a, b"):
        dependency_order([ChainJob("a", ("b",), 60, 0, True), ChainJob("b", ("a",), 60, 0, True)])
    with pytest.raises(InputError, match="needs 'lint'"):
        dependency_order([ChainJob("a", ("lint",), 60, 0, True)])


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_every_job_takes_the_cleanest_start_its_window_leaves(data: st.DataObject) -> None:
    """Oracle: a random chain on random intensity; each job's (start, region) is the brute-force cheapest of
    the slot boundaries in its window, the needs end first, and the bounds hold unless flagged late."""
    n_regions = data.draw(st.integers(1, 3))
    values = np.array(data.draw(st.lists(st.lists(st.floats(10, 900), min_size=30, max_size=30),
                                         min_size=n_regions, max_size=n_regions)))
    n = data.draw(st.integers(1, 5))
    jobs = []
    for i in range(n):
        needs = tuple(f"j{k}" for k in range(i) if data.draw(st.booleans()))
        est = data.draw(st.sampled_from([600, 1800, 3600, 5400]))
        deadline = data.draw(st.one_of(st.just(float("inf")), st.integers(2, 28).map(lambda h: float(T0 + h * H))))
        jobs.append(ChainJob(f"j{i}", needs, est, deadline, data.draw(st.booleans())))
    at = T0 + data.draw(st.integers(0, 3599))
    slots = place_chain(_surface(values), start_s=T0, step_s=H, at_s=at, jobs=jobs)
    latest = latest_ends(jobs, dependency_order(jobs))
    by_key = {s.key: s for s in slots}
    for job, slot, bound in zip(jobs, slots, latest, strict=True):
        ends = [by_key[k].end_s for k in job.needs]
        assert slot.start_s >= max([at, *ends]) - 1e-6
        assert slot.earliest_s == pytest.approx(max([at, *ends]))
        if not slot.late and job.may_wait and np.isfinite(bound):
            assert slot.end_s <= bound + 1e-6
        last = bound - job.estimate_s if job.may_wait and np.isfinite(bound) else slot.earliest_s
        window = [slot.earliest_s] + [T0 + k * H for k in range(60) if slot.earliest_s < T0 + k * H <= last + 1e-6]
        brute = min(_brute_cost(values, r, s, job.estimate_s) for s, r in itertools.product(window, range(n_regions)))
        assert slot.expected_g == pytest.approx(brute, rel=1e-9, abs=1e-9)


# ------------------------------------------------------------------------------------------ greenci plan
CHAIN = """name: release
on:
  push:
deadline: 10h
carbon-aware: yes
jobs:
  build:
    runs-on: ubuntu-latest
    duration: 1h
    steps: [{run: make}]
  test:
    needs: build
    runs-on: ubuntu-latest
    strategy: {matrix: {py: ["3.11", "3.12"]}}
    duration: 2h
    steps: [{run: make test}]
  publish:
    needs: [build, test]
    runs-on: ubuntu-latest
    duration: 30m
    steps: [{run: make publish}]
"""


def test_greenci_plan_keeps_a_needs_chain_in_order_and_within_its_deadline(tmp_path: Path) -> None:
    write_em_folder(tmp_path / "intensity")
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    (workflows / "release.yml").write_text(CHAIN)
    r = CliRunner().invoke(app, ["plan", str(tmp_path), "--at", "2022-10-12T21:00Z", "--intensity",
                                 str(tmp_path / "intensity"), "--regions", "DE-LU,GB", "--forecast", "seasonal-naive",
                                 "--format", "json"])
    assert r.exit_code == 0, r.output
    jobs = {j["job"]: j for j in json.loads(r.stdout)["jobs"]}

    def span(name: str) -> tuple[float, float]:
        start = np.datetime64(jobs[name]["start"].rstrip("Z"), "s").astype(np.int64)
        return float(start), float(start + jobs[name]["duration_estimate_s"])

    at = float(np.datetime64("2022-10-12T21:00:00", "s").astype(np.int64))
    assert span("test")[0] >= span("build")[1] and span("publish")[0] >= max(span("build")[1], span("test")[1])
    assert span("publish")[1] <= at + 10 * H  # the chain ends by the workflow's deadline
    assert "after build" in jobs["test"]["window"] and "the chain ends by" in jobs["publish"]["window"]
    assert jobs["test"]["expected_g"] <= jobs["test"]["baseline_g"] + 1e-9


# ------------------------------------------------------------------------------------------ replays
def test_needs_are_read_from_when_a_run_queued_its_jobs() -> None:
    from greenci.scheduling.chains import inferred_needs, needs_broken

    runs = np.array(["r1", "r1", "r1", "r2", "r2", ""], dtype=object)
    sub = np.array([0, 100, 50, 0, 20, 500], dtype=float)  # r1: b queued when a ended; c ran beside a
    dur = np.array([100, 60, 30, 20, 20, 10], dtype=float)
    need, job = inferred_needs(runs, sub, dur)
    assert sorted(zip(need.tolist(), job.tolist(), strict=True)) == [(0, 1), (2, 1), (3, 4)]
    start = sub.copy()
    assert needs_broken(need, job, start, start + dur) == 0  # as it ran
    start[1] = 90  # b moved before a ends
    assert needs_broken(need, job, start, start + dur) == 1


def _jobs_json(path: Path, runs: int) -> None:
    """SYNTHETIC GitHub REST jobs: each run has build, then test and lint queued when build ended."""
    items, t0 = [], np.datetime64("2022-10-12T00:00:00", "s")

    def at(s: float) -> str:
        return f"{t0 + np.timedelta64(int(s), 's')}Z"

    for r in range(runs):
        base = r * 5400.0
        for k, (name, start, end) in enumerate((("build", 0, 1200), ("test", 1200, 3000), ("lint", 1200, 1500))):
            items.append({"id": r * 10 + k + 1, "run_id": 1000 + r, "name": name, "status": "completed",
                          "conclusion": "success", "created_at": at(base + start), "started_at": at(base + start),
                          "completed_at": at(base + end), "workflow_name": "CI", "head_branch": "main",
                          "run_attempt": 1, "run_url": f"https://api.github.com/repos/o/r/actions/runs/{1000 + r}"})
    path.write_text(json.dumps({"total_count": len(items), "jobs": items}))


def test_a_replay_counts_the_jobs_started_before_what_they_needed_ended(tmp_path: Path) -> None:
    from greenci.scheduling.chains import inferred_needs
    from greenci.scheduling.strategies import make_strategy
    from greenci.simulation import simulate
    from greenci.simulation_report import simulation_table
    from greenci.synthetic import synthetic_grid
    from greenci.traces import read_trace

    _jobs_json(tmp_path / "jobs.json", runs=20)
    jobs = read_trace(tmp_path / "jobs.json").jobs
    assert jobs.run_ids is not None and set(jobs.run_ids) == {str(1000 + r) for r in range(20)}
    grid = synthetic_grid(["DE-LU", "GB"], start="2022-09-20T00:00Z", hours=24 * 30, seed=3)
    names = ("round-robin", "lts-6", "oracle")
    result = simulate(jobs, grid, [make_strategy(n) for n in names], forecast="perfect", keep_placements=True)
    need, job = inferred_needs(jobs.run_ids, jobs.submitted_s, jobs.duration_s)
    assert need.size == 40  # test and lint wait for build in each of the 20 runs
    for name in names:
        p = result.placements[name]
        end = p.start_s + jobs.duration_s
        brute = len({int(j) for n, j in zip(need, job, strict=True) if p.start_s[j] < end[n] - 1e-6})
        assert result.by_name(name).needs_broken == brute
    assert result.by_name("round-robin").needs_broken == 0  # nothing moved
    assert result.by_name("lts-6").needs_broken > 0  # shifting jobs one by one breaks chains
    assert "needs broken" in str(simulation_table(result).columns[-1].header)


def test_a_table_of_workflow_runs_says_nothing_of_needs() -> None:
    from greenci.scheduling.strategies import make_strategy
    from greenci.simulation import simulate
    from greenci.synthetic import synthetic_grid
    from greenci.tracegen import generate_study_trace

    jobs = generate_study_trace(start="2022-10-12T00:00Z", days=1, runs=50, seed=1)
    grid = synthetic_grid(["DE-LU", "GB"], start="2022-09-20T00:00Z", hours=24 * 26, seed=1)
    result = simulate(jobs, grid, [make_strategy("round-robin")], forecast="perfect")
    assert result.strategies[0].needs_broken is None
