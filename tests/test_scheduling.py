"""Oracle tests of the scheduling kernel and strategies against brute-force search."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from greenci.grid import IntensityGrid
from greenci.jobs import DurationEstimates, JobTable
from greenci.scheduling import eligibility as el
from greenci.scheduling.kernel import ActualSurface, ForecastSurface, candidate_starts, choose
from greenci.scheduling.strategies import (
    Context,
    GreenciStrategy,
    LocationShifting,
    LocationTimeShifting,
    Oracle,
    RoundRobin,
    accounted_emissions_g,
)

T0 = 1_665_532_800  # 2022-10-12T00:00Z


def _grid(values: np.ndarray, step: int = 3600) -> IntensityGrid:
    return IntensityGrid(regions=tuple(f"R{i}" for i in range(values.shape[0])),
                         start=np.datetime64(T0, "s"), step_s=step, values=values)


def _brute_integral(row: np.ndarray, t0: float, t1: float) -> float:
    """Piecewise-constant integral in slot units, slot by slot."""
    total = 0.0
    for i, v in enumerate(row):
        overlap = max(0.0, min(t1, i + 1) - max(t0, i))
        if overlap > 0:
            if np.isnan(v):
                return float("nan")
            total += v * overlap
    return total


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 3), st.integers(2, 30), st.data())
def test_actual_integral_equals_brute_force(n_regions: int, n_slots: int, data: st.DataObject) -> None:
    rng = np.random.default_rng(data.draw(st.integers(0, 10_000)))
    values = rng.uniform(0, 500, (n_regions, n_slots))
    values[rng.random(values.shape) < 0.1] = np.nan
    surface = ActualSurface(_grid(values))
    t0 = data.draw(st.floats(0, n_slots - 0.01))
    t1 = data.draw(st.floats(t0 + 0.001, float(n_slots)))
    for r in range(n_regions):
        got = surface.integral(None, np.array(r), np.array(t0), np.array(t1))
        want = _brute_integral(values[r], t0, t1)
        if np.isnan(want):
            assert np.isnan(got)
        else:
            assert got == pytest.approx(want, rel=1e-9, abs=1e-7)


def test_forecast_surface_reads_the_issue_row_and_holds_past_horizon() -> None:
    cube = np.zeros((1, 5, 3))
    cube[0, 2] = [10.0, 20.0, 30.0]  # issued at slot 2 for slots 2, 3, 4
    s = ForecastSurface(cube, 3600)
    # [2.5, 4.5) = 0.5*10 + 1*20 + 0.5*30
    assert s.integral(np.array(2), np.array(0), np.array(2.5), np.array(4.5)) == pytest.approx(40.0)
    # beyond the horizon (slot 5, 6) the last value 30 is held
    assert s.integral(np.array(2), np.array(0), np.array(4.0), np.array(7.0)) == pytest.approx(90.0)


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_all_regions_equals_integral_region_by_region(data: st.DataObject) -> None:
    """The kernel's fast path (every region as one row) gives integral's numbers bit for bit."""
    rng = np.random.default_rng(data.draw(st.integers(0, 10_000)))
    n_regions, n_slots, horizon = int(rng.integers(1, 4)), int(rng.integers(4, 30)), int(rng.integers(1, 6))
    values = rng.uniform(0, 500, (n_regions, n_slots))
    values[rng.random(values.shape) < 0.1] = np.nan
    cube = rng.uniform(0, 500, (n_regions, n_slots, horizon))
    cube[rng.random(cube.shape) < 0.1] = np.nan
    t0 = rng.uniform(-1, n_slots, (5, 3))
    t1 = t0 + rng.uniform(0.01, 8, (5, 3))
    issue = np.floor(np.clip(t0[:, :1], 0, n_slots - 1)).astype(np.int64)
    regions = np.arange(n_regions)
    for surface, iss in ((ActualSurface(_grid(values)), None), (ForecastSurface(cube, 3600), issue)):
        fast = surface.all_regions(iss, t0, t1)
        slow = surface.integral(None if iss is None else iss[..., None], regions, t0[..., None], t1[..., None])
        np.testing.assert_array_equal(fast, slow)


def test_candidate_starts_are_arrival_then_boundaries() -> None:
    c = candidate_starts(np.array([2.5, 3.0]), np.array([2.0, 1.0]))
    np.testing.assert_allclose(c[0], [2.5, 3.0, 4.0])
    np.testing.assert_allclose(c[1][:2], [3.0, 4.0])
    assert np.isnan(c[1][2])


@settings(max_examples=80, deadline=None)
@given(st.data())
def test_choose_equals_brute_force(data: st.DataObject) -> None:
    rng = np.random.default_rng(data.draw(st.integers(0, 10_000)))
    n_regions, n_slots, n_jobs = rng.integers(1, 4), rng.integers(12, 40), rng.integers(1, 12)
    values = rng.uniform(10, 500, (n_regions, n_slots))
    surface = ActualSurface(_grid(values))
    arrival = rng.uniform(0, n_slots / 3, n_jobs)
    duration = rng.uniform(0.1, 4, n_jobs)
    wait = rng.uniform(0, 5, n_jobs)
    allowed = rng.random((n_jobs, n_regions)) < 0.8
    allowed[np.arange(n_jobs), rng.integers(0, n_regions, n_jobs)] = True
    c = choose(surface, arrival=arrival, duration=duration, max_wait=wait, allowed=allowed,
               n_regions=int(n_regions), fallback_region=np.zeros(n_jobs, np.int64))
    for j in range(n_jobs):
        starts = [arrival[j]] + [b for b in range(int(np.ceil(arrival[j])), n_slots) if arrival[j] < b
                                 <= arrival[j] + wait[j] + 1e-9]
        best = min((_brute_integral(values[r], s, s + duration[j]), s, r)
                   for s in starts for r in range(n_regions) if allowed[j, r])
        assert c.expected_g_per_kw[j] == pytest.approx(best[0], rel=1e-9)
        assert c.start_slot[j] == pytest.approx(best[1])
        assert c.region[j] == best[2]


def _jobs(rng: np.random.Generator, n: int, span_h: float = 48, **cols: object) -> JobTable:
    sub = T0 + np.sort(rng.integers(0, int(span_h * 3600), n))
    return JobTable.build(submitted_s=sub, duration_s=rng.uniform(60, 3 * 3600, n),
                          repo=rng.choice(["a/x", "b/y"], n), workflow=rng.choice(["ci", "nightly"], n), **cols)


def _context(jobs: JobTable, grid: IntensityGrid, exact: bool = False) -> Context:
    ctx = Context.build(jobs, grid)
    if exact:
        est = DurationEstimates(jobs.duration_s.astype(float), np.zeros(len(jobs), np.int64),
                                jobs.duration_s.astype(float), np.zeros(len(jobs)))
        ctx = replace(ctx, estimates=est)
    return ctx


@pytest.mark.parametrize("buffer_h", [0, 1, 3, 6])
def test_lts_with_perfect_information_equals_the_oracle(buffer_h: int) -> None:
    rng = np.random.default_rng(buffer_h)
    grid = _grid(rng.uniform(20, 600, (4, 24 * 4)))
    jobs = _jobs(rng, 300)
    ctx = _context(jobs, grid, exact=True)
    lts = LocationTimeShifting(buffer_h * 3600.0).place(jobs, ctx)
    oracle = Oracle(buffer_h * 3600.0).place(jobs, ctx)
    np.testing.assert_array_equal(lts.region, oracle.region)
    np.testing.assert_allclose(lts.start_s, oracle.start_s)
    np.testing.assert_allclose(accounted_emissions_g(lts, jobs, grid), accounted_emissions_g(oracle, jobs, grid))


def test_oracle_is_a_lower_bound_and_more_buffer_never_hurts_the_oracle() -> None:
    rng = np.random.default_rng(7)
    grid = _grid(rng.uniform(20, 600, (5, 24 * 4)))
    jobs = _jobs(rng, 400)
    ctx = _context(jobs, grid)
    totals = {}
    for strat in (RoundRobin(), LocationShifting(), LocationTimeShifting(3 * 3600.0), Oracle(0.0),
                  Oracle(3 * 3600.0), Oracle(6 * 3600.0), GreenciStrategy(3 * 3600.0)):
        totals[strat.name] = accounted_emissions_g(strat.place(jobs, ctx), jobs, grid).sum()
    assert totals["oracle-6"] <= totals["oracle-3"] <= totals["oracle"] + 1e-9
    assert totals["oracle-3"] <= totals["lts-3"] + 1e-9
    assert totals["oracle-3"] <= totals["greenci-3"] + 1e-9
    assert totals["location"] < totals["round-robin"]


def test_deadline_respecting_strategies_never_miss() -> None:
    rng = np.random.default_rng(3)
    grid = _grid(rng.uniform(20, 600, (3, 24 * 5)))
    jobs = _jobs(rng, 300)
    deadlines = jobs.submitted_s + jobs.duration_s * 1.0 + rng.uniform(0, 8 * 3600, len(jobs))
    jobs = replace(jobs, deadline_s=deadlines, user_estimate_s=jobs.duration_s.astype(float))
    ctx = _context(jobs, grid, exact=True)
    for strat in (LocationShifting(), LocationTimeShifting(3600.0), LocationTimeShifting(6 * 3600.0),
                  Oracle(6 * 3600.0)):
        p = strat.place(jobs, ctx)
        assert np.all(p.start_s + jobs.duration_s <= p.deadline_s + 1e-6), strat.name
    p = GreenciStrategy(6 * 3600.0).place(jobs, ctx)
    assert np.all(p.start_s + jobs.duration_s <= jobs.deadline_s + 1e-6)


def test_round_robin_is_deterministic_and_cycles() -> None:
    rng = np.random.default_rng(1)
    grid = _grid(rng.uniform(20, 600, (3, 48)))
    jobs = _jobs(rng, 10, span_h=20)
    a = RoundRobin().place(jobs, _context(jobs, grid))
    b = RoundRobin().place(jobs, _context(jobs, grid))
    np.testing.assert_array_equal(a.region, [0, 1, 2, 0, 1, 2, 0, 1, 2, 0])
    np.testing.assert_array_equal(a.region, b.region)
    np.testing.assert_array_equal(a.start_s, jobs.submitted_s)


def test_cold_start_jobs_take_round_robin_in_location_shifting() -> None:
    rng = np.random.default_rng(2)
    grid = _grid(rng.uniform(20, 600, (3, 48)))
    jobs = _jobs(rng, 30, span_h=20)
    p = LocationShifting().place(jobs, _context(jobs, grid))
    first = np.unique(jobs.keys(), return_index=True)[1]
    assert np.all(p.reason[first] == el.STUDY_COLD_START)
    assert np.all(p.region[first] == (first % 3))


def test_capacity_is_never_exceeded_and_bumped_jobs_say_why() -> None:
    values = np.array([[10.0] * 24, [500.0] * 24])  # region 0 always cleanest
    grid = _grid(values)
    sub = T0 + np.arange(6) * 60  # six jobs in six minutes, one hour each
    jobs = JobTable.build(submitted_s=sub, duration_s=np.full(6, 3600.0), user_estimate_s=np.full(6, 3600.0))
    ctx = _context(jobs, grid, exact=True)
    p = GreenciStrategy(buffer_s=3600.0, capacity=2).place(jobs, ctx)
    slots = [(int(r), int(np.floor((s - T0) / 3600)), int(np.ceil((s - T0 + 3600) / 3600)))
             for r, s in zip(p.region, p.start_s, strict=True)]
    for region in (0, 1):
        for hour in range(24):
            assert sum(1 for r, a, b in slots if r == region and a <= hour < b) <= 2
    assert np.sum(p.region == 0) >= 2
    assert np.sum(p.reason == el.CAPACITY) >= 2
    assert "capacity" in p.reasons_in_words()[-1]
    unlimited = GreenciStrategy(buffer_s=0.0).place(jobs, ctx)
    assert np.all(unlimited.region == 0)


def test_wait_price_trades_carbon_for_waiting() -> None:
    values = np.array([[300.0, 300.0, 290.0, 290.0, 290.0, 290.0] * 4])  # waiting 2 h saves a little
    grid = _grid(values)
    jobs = JobTable.build(submitted_s=[T0], duration_s=[3600.0], user_estimate_s=[3600.0])
    ctx = _context(jobs, grid, exact=True)
    free = GreenciStrategy(buffer_s=3 * 3600.0).place(jobs, ctx)
    priced = GreenciStrategy(buffer_s=3 * 3600.0, wait_price_g_per_kwh_h=50.0).place(jobs, ctx)
    assert free.start_s[0] == T0 + 2 * 3600
    assert priced.start_s[0] == T0


def test_interruptible_job_runs_in_the_cleanest_slots() -> None:
    values = np.array([[100.0, 500.0, 50.0, 500.0, 60.0, 500.0] + [500.0] * 18])
    grid = _grid(values)
    jobs = JobTable.build(submitted_s=[T0], duration_s=[3 * 3600.0], user_estimate_s=[3 * 3600.0],
                          interruptible=[True])
    ctx = _context(jobs, grid, exact=True)
    p = GreenciStrategy(buffer_s=3 * 3600.0).place(jobs, ctx)
    np.testing.assert_array_equal(p.segments[0], T0 + np.array([0, 2, 4]) * 3600)
    assert accounted_emissions_g(p, jobs, grid)[0] == pytest.approx(210.0)


def test_opted_out_jobs_run_now_in_the_cleanest_region() -> None:
    values = np.array([[400.0] * 24, [100.0] * 24])
    grid = _grid(values)
    jobs = JobTable.build(submitted_s=[T0, T0 + 10], duration_s=[600.0, 600.0], user_estimate_s=[600.0, 600.0],
                          carbon_aware=[False, True])
    p = GreenciStrategy(buffer_s=6 * 3600.0).place(jobs, _context(jobs, grid, exact=True))
    assert p.reason[0] == el.OPT_OUT and p.start_s[0] == T0 and p.region[0] == 1
    assert "carbon-aware: no" in p.reasons_in_words()[0]
