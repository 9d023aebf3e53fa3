"""One-job decisions through the use case: cold start, fail fast, schedules, cloud regions, history, speed path."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from greenci.cli import app
from greenci.errors import InputError
from greenci.forecast import GridForecasts
from greenci.grid import IntensityGrid
from greenci.jobs import DEFAULT_ESTIMATE_S, HistoryIndex, Job, JobTable
from greenci.scheduling.eligibility import EligibilityRules
from greenci.scheduling.windows import WorkingMorning
from greenci.usecases.plan import PlanPolicy, plan_batch, plan_job
from greenci.usecases.ports import MemorySink

T0 = np.datetime64("2022-10-03T00:00", "s")
AT = datetime(2022, 10, 12, 1, tzinfo=UTC)  # a Wednesday


def _grid() -> IntensityGrid:
    """A: flat 400; B: 300, but 50 at 04:00 UTC; C: flat 100 (the cleanest now, never cleaner later)."""
    hours = 24 * 14
    b = np.full(hours, 300.0)
    b[(np.arange(hours) % 24) == 4] = 50.0
    return IntensityGrid(("A", "B", "C"), T0, 3600, np.vstack([np.full(hours, 400.0), b, np.full(hours, 100.0)]))


def _perfect() -> GridForecasts:
    return GridForecasts(_grid(), "perfect")


def _job(**kw: object) -> Job:
    base = dict(id="j", repo="o/r", workflow="ci", submitted_at=AT, duration_estimate_s=3600.0)
    base.update(kw)
    return Job(**base)  # type: ignore[arg-type]


def test_cold_start_job_runs_now_in_the_cleanest_allowed_region() -> None:
    d = plan_job(_job(duration_estimate_s=None), intensity=_perfect())
    assert (d.region, d.wait_s) == ("C", 0.0)
    assert d.estimate_source == "default" and d.duration_estimate_s == DEFAULT_ESTIMATE_S
    assert d.expected_g == pytest.approx(100.0 * DEFAULT_ESTIMATE_S / 3600), "the chosen window's cost"
    assert d.history_runs == 0 and "nothing is known" in d.reason
    only_ab = plan_job(_job(duration_estimate_s=None, allowed_regions=("A", "B")), intensity=_perfect())
    assert only_ab.region == "B" and only_ab.wait_s == 0.0
    assert only_ab.expected_g == pytest.approx(300.0 * DEFAULT_ESTIMATE_S / 3600)


def test_cold_start_takes_the_workflow_then_the_repository_history() -> None:
    sub = int(AT.timestamp())
    runs = JobTable.build(submitted_s=[sub - 900, sub - 600, sub - 300], duration_s=[100.0, 200.0, 400.0],
                          repo=["o/r"] * 3, workflow=["ci", "ci", "nightly"], job_name=["lint", "lint", "x"])
    d = plan_job(_job(job_name="build", duration_estimate_s=None), intensity=_perfect(), history=HistoryIndex(runs))
    assert d.estimate_source == "workflow history" and d.history_runs == 2
    assert d.duration_estimate_s == pytest.approx(200.0 * 1.5)
    assert any("no earlier run of o/r / ci / build" in n and "o/r / ci / lint" in n for n in d.notes)
    other = plan_job(_job(workflow="docs", duration_estimate_s=None), intensity=_perfect(), history=HistoryIndex(runs))
    assert other.estimate_source == "repository history" and other.history_runs == 3


@pytest.mark.parametrize("event", ["pull_request", "workflow_dispatch"])
def test_runs_someone_waits_for_are_not_delayed_by_default(event: str) -> None:
    d = plan_job(_job(event=event, allowed_regions=("A", "B")), intensity=_perfect())
    assert d.wait_s == 0.0 and d.region == "B", "now, in the cleanest allowed region"
    assert "someone waits" in d.reason


def test_push_to_another_branch_is_not_delayed_but_the_default_branch_may_wait() -> None:
    other = plan_job(_job(event="push", default_branch=False, allowed_regions=("A", "B")), intensity=_perfect())
    main = plan_job(_job(event="push", allowed_regions=("A", "B")), intensity=_perfect())
    assert other.wait_s == 0.0
    assert main.start == "2022-10-12T04:00:00Z" and main.region == "B"


def test_pull_request_waits_when_the_workflow_or_a_policy_opts_in() -> None:
    opted = plan_job(_job(event="pull_request", carbon_aware=True, allowed_regions=("A", "B")), intensity=_perfect())
    assert opted.start == "2022-10-12T04:00:00Z" and "shifted" in opted.reason
    for rules in (EligibilityRules(delay_user_triggered=True), EligibilityRules(overrides={"o/r": True}),
                  EligibilityRules(overrides={"o/r:ci": True})):
        d = plan_job(_job(event="pull_request", allowed_regions=("A", "B")), intensity=_perfect(),
                     policy=PlanPolicy.build(rules=rules))
        assert d.wait_s == 3 * 3600.0, rules
    workflow_says_no = EligibilityRules(overrides={"o/r": True, "o/r:ci": False})
    d = plan_job(_job(event="pull_request", allowed_regions=("A", "B")), intensity=_perfect(),
                 policy=PlanPolicy.build(rules=workflow_says_no))
    assert d.wait_s == 0.0, "the per-workflow setting wins over the repository's"


def test_opted_out_runs_now() -> None:
    d = plan_job(_job(event="schedule", carbon_aware=False, allowed_regions=("A", "B")), intensity=_perfect())
    assert d.wait_s == 0.0 and "carbon-aware: no" in d.reason


def test_a_cron_job_may_wait_until_the_next_run_of_its_schedule() -> None:
    job = _job(event="schedule", crons=("0 1 * * *",), duration_estimate_s=1800.0, allowed_regions=("B",),
               buffer_s=0.0)
    d = plan_job(job, intensity=_perfect())
    assert d.deadline == "2022-10-13T01:00:00Z" and "next run of its schedule '0 1 * * *'" in d.window
    assert d.start == "2022-10-12T04:00:00Z", "waits for the clean hour although its buffer is 0"
    # a working morning (08:00 Berlin = 06:00 UTC in October) ends the window earlier
    d = plan_job(job, intensity=_perfect(), policy=PlanPolicy.build(morning=WorkingMorning("Europe/Berlin", 8)))
    assert d.deadline == "2022-10-12T06:00:00Z" and "working morning" in d.window
    end = datetime.fromisoformat(d.start) + timedelta(seconds=d.duration_estimate_s)
    assert end <= datetime.fromisoformat(d.deadline)


def test_a_cron_window_leaves_room_for_a_run_twice_as_long_and_history_is_checked() -> None:
    job = _job(event="schedule", crons=("30 0 * * *",), duration_estimate_s=None, allowed_regions=("B",),
               job_name="nightly")
    sub = int(AT.timestamp())
    days = np.arange(1, 6)
    runs = JobTable.build(submitted_s=sub - days * 86400, duration_s=np.full(5, 3600.0), repo=["o/r"] * 5,
                          workflow=["ci"] * 5, job_name=["nightly"] * 5)
    d = plan_job(job, intensity=_perfect(), history=HistoryIndex(runs),
                 policy=PlanPolicy.build(morning=WorkingMorning("UTC", 6)))
    assert "history agrees: 5 earlier runs about every 24 h" in d.window
    latest_end = datetime.fromisoformat(d.deadline) - timedelta(seconds=d.duration_estimate_s)
    assert datetime.fromisoformat(d.start) + timedelta(seconds=d.duration_estimate_s) <= latest_end


def test_cloud_region_names_map_to_grid_zones() -> None:
    grid = IntensityGrid(("DE-LU", "GB"), T0, 3600, np.vstack([np.full(240, 200.0), np.full(240, 100.0)]))
    d = plan_job(_job(event="pull_request", allowed_regions=("eu-central-1",)), intensity=GridForecasts(grid,
                                                                                                       "perfect"))
    assert d.region == "DE-LU"
    with pytest.raises(InputError, match="eu-central-1"):
        plan_job(_job(allowed_regions=("eu-centrl-1",)), intensity=GridForecasts(grid, "perfect"))


def test_a_deadline_shorter_than_the_estimate_runs_now_and_says_so() -> None:
    d = plan_job(_job(event="schedule", deadline=AT + timedelta(minutes=30)), intensity=_perfect())
    assert d.wait_s == 0.0 and any("before the estimated" in n for n in d.notes)


def test_the_decision_never_reads_slots_after_its_issue_time() -> None:
    """No peeking: poison everything from the decision's slot on; a ridge forecast decides the same."""
    rng = np.random.default_rng(5)
    hours = 24 * 35
    values = np.abs(rng.uniform(50, 500, (3, hours)) + 100 * np.sin(np.arange(hours) * 2 * np.pi / 24))
    grid = IntensityGrid(("A", "B", "C"), T0, 3600, values)
    at = datetime(2022, 11, 1, 9, 30, tzinfo=UTC)
    poisoned = values.copy()
    cut = int((np.datetime64("2022-11-01T09:00", "s") - T0).astype(np.int64)) // 3600
    poisoned[:, cut:] = rng.uniform(0, 5000, poisoned[:, cut:].shape)
    job = _job(submitted_at=at, event="schedule", duration_estimate_s=2 * 3600.0)
    policy = PlanPolicy.build(rules=EligibilityRules(min_saving_g=1.0))
    a = plan_job(job, intensity=GridForecasts(grid, "ridge"), policy=policy)
    b = plan_job(job, intensity=GridForecasts(replace(grid, values=poisoned), "ridge"), policy=policy)
    assert (a.region, a.start, a.expected_g, a.reason) == (b.region, b.start, b.expected_g, b.reason)


def test_batch_decides_like_one_by_one_and_records_every_decision() -> None:
    provider = GridForecasts(_grid(), "persistence")
    jobs = [_job(id=f"j{k}", submitted_at=AT + timedelta(minutes=17 * k), event=ev)
            for k, ev in enumerate(["push", "pull_request", "schedule", "push", "workflow_dispatch", "push"])]
    sink = MemorySink()
    batch = plan_batch(list(reversed(jobs)), intensity=provider, sink=sink)
    single = [plan_job(j, intensity=provider) for j in reversed(jobs)]
    assert [d.job_id for d in batch] == [j.id for j in reversed(jobs)], "answers keep the request order"
    assert [(d.region, d.start, d.expected_g) for d in batch] == [(d.region, d.start, d.expected_g) for d in single]
    assert len(sink.decisions) == len(jobs)


def _write_trace(path: Path, rows: list[tuple[str, str, str, str]]) -> None:
    lines = ["repo,workflow,job,event,started_at,completed_at,conclusion"]
    lines += [f"o/r,ci,build,{ev},{a},{b},success" for ev, a, b, _ in rows]
    path.write_text("\n".join(lines) + "\n")


def test_schedule_cli_reads_several_history_files_after_one_option(tmp_path: Path) -> None:
    one, two = tmp_path / "one.csv", tmp_path / "two.csv"
    _write_trace(one, [("push", "2022-10-10T10:00:00Z", "2022-10-10T10:10:00Z", ""),
                       ("push", "2022-10-10T12:00:00Z", "2022-10-10T12:20:00Z", "")])
    _write_trace(two, [("push", "2022-10-11T10:00:00Z", "2022-10-11T10:15:00Z", "")])
    r = CliRunner().invoke(app, ["schedule", "--repo", "o/r", "--workflow", "ci", "--job", "build", "--at",
                                 "2022-10-12T08:00Z", "--history", str(one), str(two), "--forecast", "persistence",
                                 "--format", "json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["history_runs"] == 3 and d["estimate_source"] == "history"
    assert d["duration_estimate_s"] == pytest.approx(20 * 60 * (1 + 0.5 / 2))
    assert "from 3 earlier runs" in d["estimate"] and d["synthetic"] is True
    table = CliRunner().invoke(app, ["schedule", "--repo", "o/r", "--workflow", "ci", "--job", "build", "--at",
                                     "2022-10-12T08:00Z", "--history", str(one), str(two), "--forecast", "persistence"])
    assert table.exit_code == 0 and "3 earlier runs" in table.stdout


def test_schedule_cli_says_when_the_history_holds_no_run_of_the_job(tmp_path: Path) -> None:
    one = tmp_path / "one.csv"
    _write_trace(one, [("push", "2022-10-10T10:00:00Z", "2022-10-10T10:10:00Z", "")])
    r = CliRunner().invoke(app, ["schedule", "--repo", "o/r", "--workflow", "ci", "--job", "test", "--at",
                                 "2022-10-12T08:00Z", "--history", str(one), "--forecast", "persistence",
                                 "--format", "json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["history_runs"] == 1 and d["estimate_source"] == "workflow history"
    assert any("no earlier run of o/r / ci / test" in n for n in d["notes"])


def test_schedule_cli_maps_a_cloud_region_and_refuses_an_unknown_event() -> None:
    r = CliRunner().invoke(app, ["schedule", "--allowed-regions", "eu-central-1", "--at", "2022-10-12T08:00Z",
                                 "--forecast", "persistence", "--format", "json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["region"] == "DE-LU"
    bad = CliRunner().invoke(app, ["schedule", "--event", "tuesday", "--at", "2022-10-12T08:00Z"])
    assert bad.exit_code == 2 and "tuesday" in bad.output and "pull_request" in bad.output


def test_run_now_costs_from_the_kernel_match_a_separate_computation() -> None:
    """The planner takes the run-now costs (baseline, best now) from the kernel's first candidate; a strategy
    that does not keep them makes the planner compute them itself: the decisions must be the same."""
    from greenci.scheduling.strategies import GreenciStrategy

    class Forgetful(GreenciStrategy):
        def place(self, jobs, ctx):  # type: ignore[no-untyped-def]
            return replace(super().place(jobs, ctx), now_g_per_kw=None)

    rng = np.random.default_rng(7)
    jobs = [_job(id=f"j{k}", submitted_at=AT + timedelta(seconds=int(s)), duration_estimate_s=float(d),
                 event=("push", "schedule", "pull_request")[k % 3], power_kw=float(p),
                 allowed_regions=(None, ("A", "B"), ("C",))[k % 3])
            for k, (s, d, p) in enumerate(zip(np.sort(rng.integers(0, 3599, 40)), rng.integers(300, 20000, 40),
                                              rng.uniform(0.1, 3.0, 40), strict=True))]
    kept = plan_batch(jobs, intensity=_perfect())
    computed = plan_batch(jobs, intensity=_perfect(), policy=replace(PlanPolicy(), strategy=Forgetful()))
    assert [d.to_dict() for d in kept] == [d.to_dict() for d in computed]
    assert any(d.wait_s > 0 for d in kept) and any(d.wait_s == 0 for d in kept), "both kinds are compared"
