"""Autoscaling plans: a hand-computed case, a brute-force oracle, the rules on random cases, the load model."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from greenci.errors import InputError
from greenci.jobs import JobTable
from greenci.scheduling.autoscale import (
    HOUR_S,
    LoadForecast,
    WaitObjective,
    constant_load,
    fleet_cost,
    hour_of_week,
    load_from_history,
    plan_savings,
    plan_scaling,
)
from greenci.scheduling.pools import PoolSet, RunnerPool

T0 = 1665532800  # 2022-10-12T00:00Z, a Wednesday


def _hand_case() -> tuple[LoadForecast, np.ndarray, PoolSet]:
    """A: 2 runners, min 1; urgent 1 node every hour; 2 node-hours of deferrable work at hour 2; intensity 400
    until 06:00, 100 for 06-09, 300 after. B: 4 runners, min 0, starts take 30 min; urgent 2.5 at 10-12."""
    pools = PoolSet((RunnerPool("A", 2, 100, 200, min_runners=1),
                     RunnerPool("B", 4, 50, 150, start_s=1800, start_kwh=0.01)), "synthetic")
    ia = np.full(24, 300.0)
    ia[:6], ia[6:9] = 400.0, 100.0
    urgent, defer = np.zeros((2, 24)), np.zeros((2, 24))
    urgent[0] = 1.0
    urgent[1, 10:13] = 2.5
    defer[0, 2] = 2.0
    return LoadForecast(("A", "B"), T0, urgent, defer, "synthetic"), np.vstack([ia, np.full(24, 200.0)]), pools


def test_node_counts_match_the_hand_computed_case() -> None:
    load, intensity, pools = _hand_case()
    plan = plan_scaling(load, intensity, pools)
    # A: the deferrable 2 node-hours wait for the clean hours; one spare node fits 1 node-hour an hour, so
    # they run at 06:00 and 07:00 (the earliest clean hours), on 2 nodes; 1 node (min_runners) otherwise
    want_a = np.ones(24, dtype=np.int64)
    want_a[6:8] = 2
    # B: ceil(2.5) = 3 nodes for 10-12, none otherwise (min_runners 0)
    want_b = np.zeros(24, dtype=np.int64)
    want_b[10:13] = 3
    np.testing.assert_array_equal(plan.nodes, np.vstack([want_a, want_b]))
    assert plan.max_wait_h.tolist() == [5.0, 0.0]  # 1 node-hour from 02:00 to 07:00
    outs = [a for a in plan.actions if a.region == "B" and a.kind == "scale-out"]
    assert [(a.at_s - T0, a.ready_s - T0, a.nodes_after) for a in outs] == [(9 * HOUR_S + 1800, 10 * HOUR_S, 3)]
    ins = [a for a in plan.actions if a.region == "B" and a.kind == "scale-in"]
    assert [(a.at_s - T0, a.nodes_after) for a in ins] == [(13 * HOUR_S, 0)]


def test_savings_match_the_hand_computed_case() -> None:
    load, intensity, pools = _hand_case()
    plan = plan_scaling(load, intensity, pools)
    rows = {r.region: r for r in plan_savings(plan, load, pools)}
    a = rows["A"]
    # hours' intensity sum: 6 x 400 + 3 x 100 + 15 x 300 = 7200
    # plan: idle 0.1 kWh x (7200 + 2 x 100) + busy surplus 0.1 kWh x (7200 + 2 x 100) = 1480 g
    assert a.plan.emissions_g == pytest.approx(1480.0)
    # fixed fleet: idle 2 x 0.1 x 7200 + surplus 0.1 x 7200 + the deferrable on arrival 2 x 0.1 x 400 = 2240 g
    assert a.fixed.emissions_g == pytest.approx(2240.0)
    assert (a.fixed.node_h, a.plan.node_h) == (48.0, 26.0)
    assert a.max_wait_h <= a.wait_objective_h
    b = rows["B"]
    # 9 node-hours at 200: idle 9 x 0.05 x 200 = 90, surplus 7.5 x 0.1 x 200 = 150, 3 starts x 0.01 x 200 = 6
    assert b.plan.emissions_g == pytest.approx(246.0)
    total = rows["all"]
    assert total.saved_g == pytest.approx(a.saved_g + b.saved_g)
    assert total.plan.emissions_g <= total.following.emissions_g + 1e-9


def _brute_force(urgent: np.ndarray, defer: np.ndarray, intensity: np.ndarray, pool: RunnerPool, wait: int) -> float:
    """Every whole-node-hour placement of the deferrable work and every node count vector: the least gCO2eq."""
    n_h = urgent.size
    units = [a for a in range(n_h) for _ in range(int(defer[a]))]
    floor = np.maximum(pool.min_runners, np.ceil(urgent)).astype(int)
    best = np.inf
    for serve in itertools.product(*[range(a, min(a + wait, n_h - 1) + 1) for a in units]):
        busy = urgent + np.bincount(np.array(serve, dtype=int), minlength=n_h) if units else urgent.copy()
        low = np.maximum(floor, np.ceil(busy - 1e-9)).astype(int)
        if np.any(low > pool.runners):
            continue
        for nodes in itertools.product(*[range(lo, pool.runners + 1) for lo in low]):
            nodes_arr = np.array(nodes)
            starts = np.maximum(np.diff(nodes_arr, prepend=nodes_arr[0]), 0)
            best = min(best, fleet_cost(nodes_arr, busy, starts, intensity, pool).emissions_g)
    return best


@pytest.mark.parametrize("seed", range(12))
def test_the_plan_is_as_cheap_as_a_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_h, wait = 5, 2
    pool = RunnerPool("X", 3, float(rng.integers(0, 80)), 150.0, start_kwh=float(rng.choice([0.0, 0.02])),
                      min_runners=int(rng.integers(0, 2)))
    urgent = rng.integers(0, 2, n_h).astype(float)
    defer = rng.integers(0, 2, n_h).astype(float)
    intensity = rng.uniform(50, 500, n_h)
    load = LoadForecast(("X",), T0, urgent[None], defer[None], "synthetic")
    plan = plan_scaling(load, intensity[None], PoolSet((pool,), "synthetic"), WaitObjective(wait))
    got = fleet_cost(plan.nodes[0], plan.busy_node_h[0], plan.starts[0], intensity, pool).emissions_g
    assert got == pytest.approx(_brute_force(urgent, defer, intensity, pool, wait), rel=2e-2, abs=1e-6)


@pytest.mark.parametrize("seed", range(6))
def test_the_rules_hold_on_random_loads(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    pools = PoolSet((RunnerPool("A", 6, 60, 180, start_s=90, start_kwh=0.005, min_runners=1),
                     RunnerPool("B", 4, 40, 120, min_runners=0)), "synthetic")
    urgent = rng.uniform(0, 2.5, (2, 24))
    defer = rng.uniform(0, 1.5, (2, 24))
    intensity = rng.uniform(50, 500, (2, 24))
    objective = WaitObjective(max_wait_h=4, headroom=1.2)
    plan = plan_scaling(LoadForecast(("A", "B"), T0, urgent, defer, "synthetic"), intensity, pools, objective)
    lo = np.array([[1], [0]])
    hi = np.array([[6], [4]])
    assert np.all(plan.nodes >= lo) and np.all(plan.nodes <= hi)
    assert np.all(plan.nodes >= np.ceil(urgent * 1.2 - 1e-9))  # urgent work always has its nodes
    assert np.all(plan.busy_node_h <= plan.nodes + 1e-6)
    np.testing.assert_allclose(plan.busy_node_h.sum(axis=1), (urgent + defer).sum(axis=1))  # all work served
    assert np.all(plan.max_wait_h <= 4)
    # deferrable work served by hour h never exceeds what arrived up to h (no work runs before it arrives)
    assert np.all(np.cumsum(plan.busy_node_h - urgent, axis=1) <= np.cumsum(defer, axis=1) + 1e-6)


def test_urgent_load_over_the_pool_is_an_error_naming_the_pool() -> None:
    pools = PoolSet((RunnerPool("GB", 2, 60, 180),), "synthetic")
    load = LoadForecast(("GB",), T0, np.full((1, 4), 2.5), np.zeros((1, 4)), "synthetic")
    with pytest.raises(InputError, match=r"pools\.GB\.runners: 2 cannot carry") as err:
        plan_scaling(load, np.full((1, 4), 100.0), pools)
    assert err.value.field == "pools.GB.runners"


def test_deferrable_work_that_cannot_wait_long_enough_is_an_error() -> None:
    pools = PoolSet((RunnerPool("GB", 1, 60, 180),), "synthetic")
    load = LoadForecast(("GB",), T0, np.zeros((1, 4)), np.array([[3.0, 0, 0, 0]]), "synthetic")
    with pytest.raises(InputError, match="within max_wait_h 1 h"):
        plan_scaling(load, np.full((1, 4), 100.0), pools, WaitObjective(1))


def test_a_region_without_a_pool_is_an_error() -> None:
    pools = PoolSet((RunnerPool("GB", 2, 60, 180),), "synthetic")
    with pytest.raises(InputError, match="'FR' has no pool") as err:
        constant_load(pools, ["FR"], T0, 24, jobs_per_hour=1, job_duration_s=600, urgent_share=0.5)
    assert err.value.field == "regions"


def test_load_from_history_splits_urgent_and_deferrable_by_event() -> None:
    """Two weeks of runs at Wednesdays 10:00: a pull request (20 min) and a scheduled run (40 min) each time."""
    weds = [T0 + 10 * HOUR_S, T0 + 7 * 86400 + 10 * HOUR_S]
    jobs = JobTable.build(submitted_s=[weds[0], weds[0], weds[1], weds[1]], duration_s=[1200, 2400, 1200, 2400],
                          event=["pull_request", "schedule", "pull_request", "schedule"], synthetic=True)
    pools = PoolSet((RunnerPool("GB", 3, 60, 180), RunnerPool("DE-LU", 1, 60, 180)), "synthetic")
    load = load_from_history(jobs, pools, ["GB", "DE-LU"], T0, 24)
    assert load.synthetic
    # both Wednesdays 10:00 seen twice (two weeks): mean 20 min urgent, 40 min deferrable, shared 3:1
    np.testing.assert_allclose(load.urgent_node_h[:, 10], [0.75 / 3, 0.25 / 3])
    np.testing.assert_allclose(load.deferrable_node_h[:, 10], [0.75 * 2 / 3, 0.25 * 2 / 3])
    assert load.urgent_node_h[:, :10].sum() == 0 and load.deferrable_node_h[:, 11:].sum() == 0
    split = load_from_history(jobs, pools, ["GB"], T0, 24, urgent_share=1.0)
    np.testing.assert_allclose(split.urgent_node_h[0, 10], 1.0)  # GB alone takes it all


def test_hour_of_week_starts_on_monday() -> None:
    monday = T0 - 2 * 86400  # 2022-10-10 was a Monday
    assert hour_of_week(np.array([monday, monday + 3 * HOUR_S, T0])).tolist() == [0, 3, 48]


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"max_wait_h": -1}, "max_wait_h"), ({"max_wait_h": float("nan")}, "max_wait_h"), ({"headroom": 0.5}, "headroom"),
])
def test_bad_objectives_name_the_field(kwargs: dict, field: str) -> None:
    with pytest.raises(InputError) as err:
        WaitObjective(**kwargs)
    assert err.value.field == field


def test_a_fixed_fleet_costs_what_pool_energy_says() -> None:
    """The plan's cost model and the replay's pool energy agree on a fixed fleet running whole-hour jobs."""
    from greenci.grid import IntensityGrid
    from greenci.scheduling.pool_energy import pool_energy

    pool = RunnerPool("GB", 3, 60, 180)
    rng = np.random.default_rng(3)
    per_hour = rng.integers(0, 4, 24)
    intensity = rng.uniform(50, 400, 24)
    starts = T0 + np.repeat(np.arange(24), per_hour) * HOUR_S
    grid = IntensityGrid(("GB",), np.datetime64(T0, "s"), HOUR_S, intensity[None], synthetic=True)
    replay = pool_energy(np.zeros(starts.size, dtype=np.int64), starts, np.full(starts.size, float(HOUR_S)),
                         PoolSet((pool,), "synthetic"), grid, span_s=(T0, T0 + 24 * HOUR_S))
    mine = fleet_cost(np.full(24, 3), per_hour.astype(float), np.zeros(24), intensity, pool)
    assert mine.emissions_g == pytest.approx(replay.total_g)
    assert mine.energy_kwh == pytest.approx(replay.total_kwh)


def test_a_recorded_run_of_days_is_capped_not_planned_as_runner_load(tmp_path: Path) -> None:
    """Regression: a GitHub "run" of 30 days (queue time, re-runs) made the hour it started need 12 runners."""
    from greenci.usecases.scale_plan import ScalePlanRequest, scale_plan

    rows = ["repo,workflow,job,event,started_at,completed_at,conclusion"]
    day = np.datetime64("2024-01-01T10:00:00")
    for k in range(60):  # 60 ordinary 10-minute pushes, one a day at 10:00 UTC
        t = day + np.timedelta64(k, "D")
        rows.append(f"a/b,ci,test,push,{t}Z,{t + np.timedelta64(600, 's')}Z,success")
    rows.append(f"a/b,ci,test,push,{day}Z,{day + np.timedelta64(30, 'D')}Z,success")  # 30 days "long"
    history = tmp_path / "runs.csv"
    history.write_text("\n".join(rows) + "\n")
    pools = tmp_path / "pools.yaml"
    pools.write_text("pools:\n  GB: {runners: 2, idle_w: 10, busy_w: 20}\n")
    out = scale_plan(ScalePlanRequest(pools=pools, history=(history,), regions=("GB",), hours=24,
                                      start="2024-03-04T00:00:00Z"))
    busy = out.load.urgent_node_h + out.load.deferrable_node_h
    assert busy.max() < 1.0  # about one sixth of a runner at 10:00; the uncapped run alone was 12 runners
