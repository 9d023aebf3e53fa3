"""Capacity-aware placement: the shared greedy against a plain Python reference, and every strategy's limits.

All fixtures are synthetic (generated here); intensity values are random, not real.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from greenci.errors import InputError
from greenci.grid import IntensityGrid
from greenci.jobs import DurationEstimates, JobTable
from greenci.scheduling import eligibility as el
from greenci.scheduling.capacity import (
    FIRST_CHOICE,
    NEXT_CHOICE,
    QUEUED,
    capacity_per_region,
    occupancy,
    place_with_capacity,
)
from greenci.scheduling.context import Context
from greenci.scheduling.kernel import ActualSurface, candidate_starts
from greenci.scheduling.strategies import GreenciStrategy, accounted_emissions_g, make_strategy

T0 = 1_665_532_800  # 2022-10-12T00:00Z
STEP = 3600


def _grid(values: np.ndarray) -> IntensityGrid:
    return IntensityGrid(regions=tuple(f"R{i}" for i in range(values.shape[0])), start=np.datetime64(T0, "s"),
                         step_s=STEP, values=values, synthetic=True)


def _exact(jobs: JobTable, grid: IntensityGrid) -> Context:
    """A context deciding on actual intensity with true durations as estimates (perfect information)."""
    est = DurationEstimates(jobs.duration_s.astype(float), np.zeros(len(jobs), np.int64),
                            jobs.duration_s.astype(float), np.zeros(len(jobs)))
    return replace(Context.build(jobs, grid), estimates=est)


def _reference(surface: ActualSurface, arrival: np.ndarray, dur: np.ndarray | None, hold: np.ndarray,
               wait: np.ndarray, allowed: np.ndarray, pref: np.ndarray, caps: np.ndarray,
               price: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The documented greedy, one job and one candidate at a time, each cost from its own integral."""
    n_regions = caps.size
    occ = np.zeros((n_regions, 1000), dtype=int)
    region, start, how = np.zeros(arrival.size, int), np.zeros(arrival.size), np.zeros(arrival.size, int)

    def free(r: int, s: float, d: float) -> bool:
        a, b = int(np.floor(s)), int(np.ceil(s + d))
        return caps[r] > 0 and all(occ[r, t] < caps[r] for t in range(a, b))

    def take(j: int, r: int, s: float, d: float, kind: int) -> None:
        occ[r, int(np.floor(s)):int(np.ceil(s + d))] += 1
        region[j], start[j], how[j] = r, s, kind

    for j in range(arrival.size):
        cands = [float(c) for c in candidate_starts(arrival[j:j + 1], wait[j:j + 1])[0] if np.isfinite(c)]
        ranked = []
        if dur is not None and np.isfinite(dur[j]):
            for w, s in enumerate(cands):
                for r in range(n_regions):
                    if not allowed[j, r]:
                        continue
                    g = float(surface.integral(None, np.array(r), np.array(s), np.array(s + dur[j])))
                    if np.isfinite(g):
                        ranked.append((g + price * (s - arrival[j]), w, r, s))
        ranked.sort()
        placed = False
        for rank, (_, _, r, s) in enumerate(ranked):
            if free(r, s, hold[j]):
                take(j, r, s, hold[j], FIRST_CHOICE if rank == 0 else NEXT_CHOICE)
                placed = True
                break
        if not placed and not ranked:
            for o in range(n_regions):
                r = (pref[j] + o) % n_regions
                if allowed[j, r] and free(r, arrival[j], hold[j]):
                    take(j, r, arrival[j], hold[j], FIRST_CHOICE if o == 0 else NEXT_CHOICE)
                    placed = True
                    break
        s = int(np.ceil((max(cands) if ranked else arrival[j]) + 1e-9))
        while not placed:
            for o in range(n_regions):
                r = (pref[j] + o) % n_regions
                if allowed[j, r] and free(r, s, hold[j]):
                    take(j, r, float(s), hold[j], QUEUED)
                    placed = True
                    break
            s += 1
    return region, start, how


def _case(seed: int, n: int, n_regions: int) -> dict:
    rng = np.random.default_rng(seed)
    values = rng.integers(1, 6, (n_regions, 200)).astype(float) * 100  # few levels: many exact ties
    arrival = np.sort(np.round(rng.uniform(0, 8, n) * 4) / 4)  # some on boundaries, some mid-slot
    dur = rng.choice([0.25, 0.5, 1.0, 1.5, 2.0, 3.0], n)
    wait = rng.choice([0.0, 0.5, 1.0, 2.0, 4.0], n)
    allowed = rng.random((n, n_regions)) < 0.8
    allowed[np.arange(n), rng.integers(0, n_regions, n)] = True
    caps = rng.integers(1, 3, n_regions).astype(float)
    pref = np.arange(n) % n_regions
    return dict(surface=ActualSurface(_grid(values)), arrival=arrival, dur=dur, wait=wait, allowed=allowed,
                caps=caps, pref=pref)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 100_000), st.integers(1, 40), st.integers(1, 4), st.booleans(), st.sampled_from([0.0, 30.0]))
def test_greedy_equals_the_plain_python_reference(seed: int, n: int, n_regions: int, priced: bool,
                                                  price: float) -> None:
    c = _case(seed, n, n_regions)
    dur = c["dur"] if priced else None
    want = _reference(c["surface"], c["arrival"], dur, c["dur"], c["wait"], c["allowed"], c["pref"], c["caps"], price)
    for compiled in (True, False):
        got = place_with_capacity(c["surface"], arrival=c["arrival"], cost_duration=dur, hold_duration=c["dur"],
                                  max_wait=c["wait"], allowed=c["allowed"], preferred=c["pref"], capacity=c["caps"],
                                  wait_price_per_slot=price, compiled=compiled)
        np.testing.assert_array_equal(got.region, want[0])
        np.testing.assert_allclose(got.start_slot, want[1])
        np.testing.assert_array_equal(got.how, want[2])


def test_a_queued_run_past_the_tracked_slots_widens_them() -> None:
    """One runner, 30 one-hour jobs at the same time: the queue runs far past the first tracked slots."""
    surface = ActualSurface(_grid(np.full((1, 100), 100.0)))
    n = 30
    res = place_with_capacity(surface, arrival=np.zeros(n), cost_duration=np.ones(n), hold_duration=np.ones(n),
                              max_wait=np.zeros(n), allowed=None, preferred=np.zeros(n, int), capacity=np.array([1.0]))
    np.testing.assert_array_equal(np.sort(res.start_slot), np.arange(n))
    assert occupancy(res.region, res.start_slot, np.ones(n), 1).max() == 1


def _table(rng: np.random.Generator, n: int, n_regions: int, deadlines: bool) -> JobTable:
    sub = T0 + np.sort(rng.integers(0, 10 * 3600, n))
    dur = rng.uniform(300, 3 * 3600, n)
    cols: dict = dict(event=rng.choice(["push", "schedule", "pull_request"], n))
    if deadlines:
        cols["deadline_s"] = np.where(rng.random(n) < 0.5, sub + dur + rng.uniform(0, 8 * 3600, n), np.nan)
    allowed = [None if rng.random() < 0.7 else tuple(f"R{i}" for i in sorted(set(rng.integers(0, n_regions, 2))))
               for _ in range(n)]
    return JobTable.build(submitted_s=sub, duration_s=dur, repo=rng.choice(["a/x", "b/y"], n),
                          workflow=rng.choice(["ci", "nightly"], n), allowed_regions=allowed, **cols)


def _held(name: str, p, jobs: JobTable) -> np.ndarray:  # noqa: ANN001 - a Placement
    """The duration (s) each strategy holds a runner for (see the strategies' docstring)."""
    if name == "round-robin" or name.startswith("oracle"):
        return jobs.duration_s.astype(float)
    return np.where(np.isfinite(p.estimate_s), p.estimate_s, jobs.duration_s)


NAMES = ("round-robin", "location", "lts-2", "oracle-3", "greenci-4", "greenci")


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 100_000), st.integers(1, 60), st.integers(1, 4), st.booleans(), st.booleans())
def test_no_pool_is_ever_over_capacity_and_every_job_is_placed(seed: int, n: int, n_regions: int, by_name: bool,
                                                              deadlines: bool) -> None:
    rng = np.random.default_rng(seed)
    grid = _grid(rng.uniform(20, 600, (n_regions, 24 * 4)))
    jobs = _table(rng, n, n_regions, deadlines)
    ctx = Context.build(jobs, grid)
    capacity = ({f"R{i}": int(rng.integers(1, 3)) for i in range(n_regions) if rng.random() < 0.7}
                if by_name else int(rng.integers(1, 3)))
    caps = capacity_per_region(capacity, grid.regions)
    arrival = ctx.arrival_slots(jobs)
    allowed = ctx.allowed_mask(jobs)
    for name in NAMES:
        p = make_strategy(name, capacity=capacity).place(jobs, ctx)
        slots = (p.start_s - ctx.start_s) / STEP
        held = _held(name, p, jobs) / STEP
        assert np.all(np.isfinite(slots)) and np.all(slots >= arrival - 1e-9), name
        assert allowed is None or np.all(allowed[np.arange(n), p.region]), name
        occ = occupancy(p.region, slots, held, n_regions)
        assert np.all(occ <= caps[:, None]), (name, occ.max(axis=1), caps)
        if name.startswith("greenci"):
            # a job ends past its window only when every start in it was full when it was decided
            late = slots > arrival + p.max_wait_s / STEP + 1e-9
            for j in np.flatnonzero(late):
                before = occupancy(p.region[:j], slots[:j], held[:j], n_regions, 400)
                for s in candidate_starts(arrival[j:j + 1], p.max_wait_s[j:j + 1] / STEP)[0]:
                    if not np.isfinite(s):
                        continue
                    for r in range(n_regions):
                        if allowed is not None and not allowed[j, r]:
                            continue
                        a, b = int(np.floor(s)), int(np.ceil(s + held[j]))
                        assert (before[r, a:b] >= caps[r]).any(), (name, j, r, s)
            assert np.all(p.reason[late] != el.SHIFTED)


@pytest.mark.parametrize("name", NAMES)
def test_ample_capacity_changes_nothing(name: str) -> None:
    """With more runners than jobs the greedy is every job's first choice: the unlimited placement."""
    rng = np.random.default_rng(7)
    grid = _grid(rng.uniform(20, 600, (3, 24 * 4)))
    jobs = _table(rng, 80, 3, deadlines=True)
    ctx = Context.build(jobs, grid)
    free = make_strategy(name).place(jobs, ctx)
    ample = make_strategy(name, capacity=1000).place(jobs, ctx)
    np.testing.assert_array_equal(ample.region, free.region)
    np.testing.assert_allclose(ample.start_s, free.start_s)
    np.testing.assert_array_equal(ample.reason, free.reason)


def test_deadline_feasible_jobs_meet_their_deadlines() -> None:
    """Two runners, jobs whose deadlines leave room: with the window wide enough for all, nobody is late."""
    rng = np.random.default_rng(3)
    grid = _grid(rng.uniform(20, 600, (2, 24 * 4)))
    n = 12
    sub = T0 + np.arange(n) * 600
    dur = np.full(n, 3600.0)
    jobs = JobTable.build(submitted_s=sub, duration_s=dur, user_estimate_s=dur, event=np.full(n, "schedule"),
                          deadline_s=sub + dur + 8 * 3600)
    p = GreenciStrategy(capacity=1).place(jobs, _exact(jobs, grid))
    assert np.all(p.start_s + dur <= jobs.deadline_s + 1e-6)
    assert np.sum(p.reason == el.CAPACITY) > 0


def test_round_robin_moves_to_a_free_region_rather_than_queue() -> None:
    grid = _grid(np.full((2, 48), 100.0))
    sub = T0 + np.array([0, 60, 120, 180])
    jobs = JobTable.build(submitted_s=sub, duration_s=np.full(4, 3600.0))
    p = make_strategy("round-robin", capacity=1).place(jobs, Context.build(jobs, grid))
    np.testing.assert_array_equal(p.region, [0, 1, 0, 1])
    np.testing.assert_array_equal(p.start_s - T0, [0, 60, 3600, 7200])  # held [0, 2) slots by the 2nd job
    np.testing.assert_array_equal(p.reason, [el.ROUND_ROBIN, el.ROUND_ROBIN, el.CAPACITY, el.CAPACITY])


def test_a_region_not_named_is_unlimited() -> None:
    grid = _grid(np.array([[10.0] * 48, [500.0] * 48]))
    n = 5
    jobs = JobTable.build(submitted_s=np.full(n, T0), duration_s=np.full(n, 3600.0))
    ctx = _exact(jobs, grid)
    p = make_strategy("location", capacity={"R1": 1}).place(jobs, ctx)
    assert np.all(p.region == 0)
    q = make_strategy("location", capacity={"R0": 2}).place(jobs, ctx)
    np.testing.assert_array_equal(np.sort(q.region), [0, 0, 1, 1, 1])
    assert np.sum(q.reason == el.CAPACITY) == 3


@pytest.mark.parametrize("capacity", [0, -1, 1.5, True, {"R0": -1}, {"R0": 1.5}, {"nowhere": 2}])
def test_bad_capacity_names_the_value_and_the_fix(capacity: object) -> None:
    grid = _grid(np.full((2, 24), 100.0))
    jobs = JobTable.build(submitted_s=[T0], duration_s=[600.0])
    with pytest.raises(InputError) as info:
        make_strategy("greenci", capacity=capacity).place(jobs, Context.build(jobs, grid))  # type: ignore[arg-type]
    assert info.value.field == "capacity"
    assert "capacity" in str(info.value)


def test_only_regions_without_runners_are_refused() -> None:
    grid = _grid(np.full((2, 24), 100.0))
    jobs = JobTable.build(submitted_s=[T0], duration_s=[600.0], allowed_regions=[("R0",)])
    with pytest.raises(InputError, match="0 runners"):
        make_strategy("lts-1", capacity={"R0": 0}).place(jobs, Context.build(jobs, grid))


def test_the_exact_oracle_is_never_worse_than_the_greedy() -> None:
    """Same knowledge (actual intensity, true durations, same windows): the MILP's total is a lower bound."""
    oracle = pytest.importorskip("greenci.scheduling.capacity_oracle")
    rng = np.random.default_rng(11)
    grid = _grid(rng.uniform(20, 600, (3, 24 * 3)))
    n = 40
    sub = T0 + np.sort(rng.integers(0, 12 * 3600, n))
    jobs = JobTable.build(submitted_s=sub, duration_s=rng.uniform(600, 2 * 3600, n))
    ctx = _exact(jobs, grid)
    greedy = make_strategy("oracle-3", capacity=3).place(jobs, ctx)
    sol = oracle.solve_capacity_oracle(jobs, ctx, capacity=3, buffer_s=3 * 3600.0)
    greedy_g = float(accounted_emissions_g(greedy, jobs, grid).sum())
    assert sol.solve.late_jobs == 0 and np.sum(greedy.reason == el.CAPACITY) > 0  # capacity binds, all fit
    assert float(sol.cost_g.sum()) <= greedy_g * (1 + 1e-9)
