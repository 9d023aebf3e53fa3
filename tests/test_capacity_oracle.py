"""The exact capacity oracle against exhaustive search, the unlimited Oracle, and hand-computed cases.

The brute force here shares nothing with the module: its own candidate list, its own slot-by-slot
integral and its own occupancy count ([floor(start), ceil(end)) per run), over every assignment.
"""

from __future__ import annotations

import numpy as np
import pytest

from greenci.errors import InputError
from greenci.grid import IntensityGrid
from greenci.jobs import JobTable
from greenci.scheduling import eligibility as el
from greenci.scheduling.capacity_oracle import CapacityOracle, capacity_vector, solve_capacity_oracle
from greenci.scheduling.context import Context
from greenci.scheduling.strategies import Oracle, RoundRobin, accounted_emissions_g

T0 = 1_665_532_800  # 2022-10-12T00:00Z
H = 3600


def _grid(values: np.ndarray) -> IntensityGrid:
    return IntensityGrid(regions=tuple(f"R{i}" for i in range(values.shape[0])), start=np.datetime64(T0, "s"),
                         step_s=H, values=values)


def _integral(row: np.ndarray, t0: float, t1: float) -> float:
    return sum(v * max(0.0, min(t1, i + 1) - max(t0, i)) for i, v in enumerate(row))


def _brute(values: np.ndarray, arrival: np.ndarray, dur: np.ndarray, power: np.ndarray, wait: float,
           caps: list[float], extra: float = 0.0) -> tuple[float, float] | None:
    """(minimum lateness, then minimum emissions) over every feasible assignment; None when none fits."""
    n_regions, n_slots = values.shape
    options = []  # per job: list of (cost, late, region, first, stop)
    for j in range(arrival.size):
        starts = [arrival[j]] + [float(b) for b in range(n_slots) if arrival[j] < b <= arrival[j] + wait + extra + 1e-9]
        opts = []
        for s in starts:
            if s + dur[j] > n_slots:
                continue
            for r in range(n_regions):
                late = max(0.0, s - arrival[j] - wait)
                opts.append((_integral(values[r], s, s + dur[j]) * power[j], late if late > 1e-9 else 0.0, r,
                             int(np.floor(s)), int(np.ceil(s + dur[j]))))
        options.append(opts)
    caps_arr = np.asarray(caps, dtype=float)
    held = np.zeros((n_regions, n_slots + 1), dtype=int)
    best: list[tuple[float, float]] = []

    def search(j: int, late: float, cost: float) -> None:  # depth first; a partial over capacity stops
        if j == len(options):
            key = (round(late, 9), cost)
            if not best or key[0] < best[0][0] - 1e-9 or (abs(key[0] - best[0][0]) < 1e-9 and key[1] < best[0][1]):
                best[:] = [key]
            return
        for c, lt, r, a, b in options[j]:
            held[r, a:b] += 1
            if held[r, a:b].max() <= caps_arr[r]:
                search(j + 1, late + lt, cost + c)
            held[r, a:b] -= 1

    search(0, 0.0, 0.0)
    return best[0] if best else None


def _held(region: np.ndarray, start_slot: np.ndarray, dur: np.ndarray, n_regions: int, n_slots: int) -> np.ndarray:
    held = np.zeros((n_regions, n_slots + 64), dtype=int)
    for r, s, d in zip(region, start_slot, dur, strict=True):
        held[r, int(np.floor(s)):int(np.ceil(s + d))] += 1
    return held


def _case(seed: int, n_jobs: int, n_slots: int = 12) -> tuple[np.ndarray, JobTable]:
    rng = np.random.default_rng(seed)
    values = rng.uniform(20, 600, (2, n_slots)).round(1)
    sub = T0 + np.sort(rng.integers(0, 3 * H, n_jobs))
    jobs = JobTable.build(submitted_s=sub, duration_s=rng.integers(600, int(2.5 * H), n_jobs).astype(float),
                          power_kw=rng.uniform(0.5, 2.0, n_jobs))
    return values, jobs


@pytest.mark.parametrize("seed", range(24))
def test_total_equals_the_exhaustive_minimum_and_capacity_holds(seed: int) -> None:
    rng = np.random.default_rng(1000 + seed)
    n_jobs = int(rng.integers(2, 7))
    values, jobs = _case(seed, n_jobs)
    caps = [int(rng.integers(1, 3)), int(rng.integers(1, 3))]
    wait_h = float(rng.choice([0.0, 1.0, 2.0]))
    ctx = Context.build(jobs, _grid(values))
    arrival = (jobs.submitted_s - T0) / H
    dur = jobs.duration_s / H
    want = _brute(values, arrival, dur, jobs.power_kw, wait_h, caps)
    while want is None:  # nothing fits inside the windows (the queueing test covers that): one more runner
        caps = [c + 1 for c in caps]
        want = _brute(values, arrival, dur, jobs.power_kw, wait_h, caps)
    sol = solve_capacity_oracle(jobs, ctx, capacity={"R0": caps[0], "R1": caps[1]}, buffer_s=wait_h * H)
    assert sol.solve.proven_optimal
    assert sol.cost_g.sum() == pytest.approx(want[1], rel=1e-6)
    assert sol.solve.objective_g == pytest.approx(want[1], rel=1e-6)
    assert sol.solve.lower_bound_g <= sol.solve.objective_g * (1 + 1e-6)
    assert sol.solve.uncapacitated_g <= sol.solve.objective_g * (1 + 1e-9)
    assert np.all(_held(sol.region, sol.start_slot, dur, 2, 12) <= np.array(caps)[:, None])
    assert np.all(sol.start_slot >= arrival - 1e-9) and np.all(sol.start_slot <= arrival + wait_h + 1e-9)
    assert np.all(sol.late_slots == 0)
    # the cost the oracle reports is what the replay accounts
    placement = CapacityOracle(wait_h * H, capacity={"R0": caps[0], "R1": caps[1]}).place(jobs, ctx)
    np.testing.assert_allclose(accounted_emissions_g(placement, jobs, _grid(values)), placement.expected_g, rtol=1e-9)


@pytest.mark.parametrize("seed", range(8))
def test_too_little_capacity_queues_with_least_lateness_then_least_emissions(seed: int) -> None:
    rng = np.random.default_rng(2000 + seed)
    values, jobs = _case(50 + seed, int(rng.integers(4, 7)), n_slots=14)
    caps = [1, int(rng.integers(0, 2))]
    ctx = Context.build(jobs, _grid(values))
    arrival = (jobs.submitted_s - T0) / H
    dur = jobs.duration_s / H
    want = _brute(values, arrival, dur, jobs.power_kw, 0.0, caps, extra=4.0)
    if want is None:  # even 4 h of queueing is not enough: the oracle says so
        with pytest.raises(InputError, match="even with 4 h of queueing"):
            solve_capacity_oracle(jobs, ctx, capacity={"R0": caps[0], "R1": caps[1]}, buffer_s=0.0, max_queue_h=4.0)
        return
    sol = solve_capacity_oracle(jobs, ctx, capacity={"R0": caps[0], "R1": caps[1]}, buffer_s=0.0, max_queue_h=4.0)
    assert sol.solve.late_slots == pytest.approx(want[0], abs=1e-6)
    assert sol.cost_g.sum() == pytest.approx(want[1], rel=1e-6)
    assert np.all(_held(sol.region, sol.start_slot, dur, 2, 14) <= np.array(caps)[:, None])
    if want[0] > 0:
        assert sol.solve.late_jobs >= 1 and "queueing" in sol.solve.status


def test_unlimited_capacity_gives_the_uncapacitated_oracle_total() -> None:
    rng = np.random.default_rng(5)
    grid = _grid(rng.uniform(20, 600, (4, 24 * 4)))
    sub = T0 + np.sort(rng.integers(0, 48 * H, 400))
    jobs = JobTable.build(submitted_s=sub, duration_s=rng.uniform(60, 3 * H, 400))
    ctx = Context.build(jobs, grid)
    want = accounted_emissions_g(Oracle(6 * H).place(jobs, ctx), jobs, grid).sum()
    for capacity in (None, 10_000, {"R0": None, "R2": 400}):
        strategy = CapacityOracle(6 * H, capacity=capacity)
        got = accounted_emissions_g(strategy.place(jobs, ctx), jobs, grid).sum()
        assert got == pytest.approx(want, rel=1e-9)
        assert strategy.last is not None
        assert strategy.last.solve.lp_integral and strategy.last.solve.n_variables == 0
        assert strategy.last.solve.fixed_jobs == 400


def test_binding_capacity_costs_more_than_unlimited_and_beats_round_robin() -> None:
    rng = np.random.default_rng(9)
    grid = _grid(np.vstack([np.full(72, 50.0), rng.uniform(200, 600, (3, 72))]))  # R0 always cleanest
    sub = T0 + np.sort(rng.integers(0, 36 * H, 300))
    jobs = JobTable.build(submitted_s=sub, duration_s=rng.uniform(600, 2 * H, 300))
    ctx = Context.build(jobs, grid)
    strategy = CapacityOracle(3 * H, capacity={"R0": 2})
    p = strategy.place(jobs, ctx)
    sol = strategy.last
    assert sol is not None and sol.solve.proven_optimal
    held = _held(p.region, (p.start_s - T0) / H, jobs.duration_s / H, 4, 72)
    assert held[0].max() <= 2
    assert sol.solve.objective_g > sol.solve.uncapacitated_g
    assert np.any(p.reason == el.CAPACITY)
    rr = accounted_emissions_g(RoundRobin().place(jobs, ctx), jobs, grid).sum()
    assert sol.solve.objective_g < rr


def test_hand_computed_two_jobs_one_clean_runner() -> None:
    """R0 10 g/kWh with one runner, R1 100 g/kWh: two 1 h jobs at 00:00, no wait -> 10 + 100 g."""
    grid = _grid(np.array([[10.0] * 6, [100.0] * 6]))
    jobs = JobTable.build(submitted_s=[T0, T0], duration_s=[H, H])
    sol = solve_capacity_oracle(jobs, Context.build(jobs, grid), capacity={"R0": 1}, buffer_s=0.0)
    assert sorted(sol.cost_g) == pytest.approx([10.0, 100.0])
    # with a 1 h wait the second job runs on the clean runner after the first: 10 + 10 g
    sol = solve_capacity_oracle(jobs, Context.build(jobs, grid), capacity={"R0": 1}, buffer_s=H)
    assert sol.cost_g.sum() == pytest.approx(20.0)
    assert sorted(sol.start_slot) == pytest.approx([0.0, 1.0])


def test_a_run_holds_every_slot_it_touches() -> None:
    """A 30 min run from 00:45 holds slots 0 and 1: a second job cannot use the runner at 01:00."""
    grid = _grid(np.array([[10.0] * 6, [100.0] * 6]))
    jobs = JobTable.build(submitted_s=[T0 + 2700, T0 + 3600], duration_s=[1800.0, 1800.0])
    sol = solve_capacity_oracle(jobs, Context.build(jobs, grid), capacity={"R0": 1}, buffer_s=0.0)
    assert sorted(sol.region.tolist()) == [0, 1]


def test_deadlines_set_the_window() -> None:
    grid = _grid(np.array([[500.0, 500.0, 500.0, 10.0, 10.0, 10.0, 10.0, 10.0]]))
    jobs = JobTable.build(submitted_s=[T0], duration_s=[H], deadline_s=[T0 + 3 * H])  # must start by 02:00
    sol = solve_capacity_oracle(jobs, Context.build(jobs, grid), capacity=1, buffer_s=6 * H)
    assert sol.wait_s[0] == 2 * H
    assert sol.start_slot[0] <= 2.0


def test_capacity_that_cannot_fit_raises_with_the_count_when_asked() -> None:
    grid = _grid(np.array([[10.0] * 8]))
    jobs = JobTable.build(submitted_s=[T0] * 3, duration_s=[H] * 3)  # 3 one-hour jobs, one runner, 1 h wait
    with pytest.raises(InputError, match="at least 1 job") as err:
        solve_capacity_oracle(jobs, Context.build(jobs, grid), capacity=1, buffer_s=H, overflow="raise")
    assert err.value.field == "capacity"
    sol = solve_capacity_oracle(jobs, Context.build(jobs, grid), capacity=1, buffer_s=H)
    assert sol.solve.late_jobs == 1 and sol.solve.late_slots == pytest.approx(1.0)
    assert sorted(sol.start_slot) == pytest.approx([0.0, 1.0, 2.0])
    with pytest.raises(InputError, match="cannot take all 3 jobs") as err:
        solve_capacity_oracle(jobs, Context.build(jobs, grid), capacity=0, buffer_s=H)
    assert err.value.field == "capacity"


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"capacity": -1}, "capacity"),
    ({"capacity": {"XX": 2}}, "capacity"),
    ({"capacity": 1.5}, "capacity"),
    ({"capacity": 1, "overflow": "drop"}, "overflow"),
    ({"capacity": 1, "time_limit_s": 0}, "time_limit_s"),
    ({"capacity": 1, "buffer_s": -5.0}, "buffer_s"),
])
def test_bad_options_name_the_field(kwargs: dict[str, object], field: str) -> None:
    grid = _grid(np.array([[10.0] * 8]))
    jobs = JobTable.build(submitted_s=[T0], duration_s=[H])
    with pytest.raises(InputError) as err:
        solve_capacity_oracle(jobs, Context.build(jobs, grid), **kwargs)  # type: ignore[arg-type]
    assert err.value.field == field


def test_capacity_vector_reads_ints_and_mappings() -> None:
    regions = ("A", "B", "C")
    np.testing.assert_array_equal(capacity_vector(3, regions), [3, 3, 3])
    np.testing.assert_array_equal(capacity_vector({"B": 2}, regions), [np.inf, 2, np.inf])
    np.testing.assert_array_equal(capacity_vector(None, regions), [np.inf] * 3)


def test_jobs_past_the_intensity_data_are_refused_with_the_fix() -> None:
    grid = _grid(np.array([[10.0] * 2]))
    jobs = JobTable.build(submitted_s=[T0 + 3 * H], duration_s=[H])
    with pytest.raises(InputError, match="intensity covering"):
        solve_capacity_oracle(jobs, Context.build(jobs, grid), capacity=1, buffer_s=0.0)
