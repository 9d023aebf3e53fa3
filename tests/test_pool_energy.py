"""Pool energy: a hand-computed case, and the vectorised split checked against a brute force."""

from __future__ import annotations

import numpy as np
import pytest

from greenci.errors import InputError
from greenci.grid import IntensityGrid
from greenci.scheduling.pool_energy import job_intervals, max_concurrent, pool_energy, slot_busy_s
from greenci.scheduling.pools import PoolSet, RunnerPool

T0 = 1_700_000_400 // 3600 * 3600  # an hour boundary


def _grid(values: list[list[float]], regions: tuple[str, ...] = ("GB", "FR")) -> IntensityGrid:
    """A synthetic grid with known hourly intensity (labelled synthetic)."""
    return IntensityGrid(regions=regions, start=np.datetime64(T0, "s"), step_s=3600,
                         values=np.array(values, dtype=float), synthetic=True)


def test_hand_computed_two_regions_three_jobs() -> None:
    # GB: 2 runners, idle 10 W, busy 30 W; FR: 1 runner, idle 5 W, busy 20 W. Hours 0..2 intensity below.
    grid = _grid([[100.0, 200.0, 300.0], [50.0, 50.0, 10.0]])
    pools = PoolSet((RunnerPool("GB", 2, 10.0, 30.0), RunnerPool("FR", 1, 5.0, 20.0)), "synthetic")
    # job 0: GB 00:30-01:30; job 1: GB 00:00-00:30; job 2: FR 01:00-03:00
    region = np.array([0, 0, 1])
    start = T0 + np.array([1800.0, 0.0, 3600.0])
    duration = np.array([3600.0, 1800.0, 7200.0])
    pe = pool_energy(region, start, duration, pools, grid)
    assert pe.regions == ("GB", "FR") and pe.first_slot == 0
    # busy node-seconds: GB hour 0: 1800 + 1800, hour 1: 1800, hour 2: 0; FR: 0, 3600, 3600
    np.testing.assert_allclose(pe.busy_node_s, [[3600, 1800, 0], [0, 3600, 3600]])
    np.testing.assert_allclose(pe.idle_node_s, [[3600, 5400, 7200], [3600, 0, 0]])
    # kWh: GB h0 (3600*30 + 3600*10)/3.6e6 = 0.04; h1 (1800*30 + 5400*10)/3.6e6 = 0.03; h2 7200*10/3.6e6 = 0.02
    #      FR h0 3600*5/3.6e6 = 0.005; h1 = h2 = 3600*20/3.6e6 = 0.02
    np.testing.assert_allclose(pe.energy_kwh, [[0.04, 0.03, 0.02], [0.005, 0.02, 0.02]])
    # g: GB 0.04*100 + 0.03*200 + 0.02*300 = 16; FR 0.005*50 + 0.02*50 + 0.02*10 = 1.45
    assert pe.total_g == pytest.approx(17.45)
    assert pe.total_kwh == pytest.approx(0.135)
    assert pe.busy_node_h == pytest.approx(3.5) and pe.idle_node_h == pytest.approx(5.5)  # 3 nodes x 3 h - 3.5
    assert pe.max_concurrent.tolist() == [1, 1]  # job 1 ends at 00:30 as job 0 starts: no overlap
    assert pe.overbooked == {"GB": False, "FR": False} and not pe.notes
    assert pe.by_region()["FR"]["emissions_g"] == pytest.approx(1.45)


def test_overbooking_counts_the_excess_busy_and_says_so() -> None:
    grid = _grid([[100.0, 100.0], [100.0, 100.0]])
    pools = PoolSet((RunnerPool("GB", 1, 10.0, 30.0),), "synthetic")
    # three jobs of an hour at once in GB's one-runner pool; one in FR (no pool: unlimited)
    pe = pool_energy(np.array([0, 0, 0, 1]), np.full(4, float(T0)), np.full(4, 3600.0), pools, grid,
                     span_s=(T0, T0 + 7200))
    np.testing.assert_allclose(pe.busy_node_s, [[3 * 3600, 0]])
    np.testing.assert_allclose(pe.idle_node_s, [[0, 3600]])  # never negative
    assert pe.overbooked_node_s.tolist() == [2 * 3600]
    assert pe.max_concurrent.tolist() == [3] and pe.overbooked == {"GB": True}
    text = " ".join(pe.notes)
    assert "overbooks the pool of GB (3 jobs at once, 1 runners)" in text and "(2.00 in all)" in text
    assert "FR ran without a pool" in text
    assert pe.total_kwh == pytest.approx((3 * 3600 * 30 + 3600 * 10) / 3.6e6)


def _brute_busy(row, b, e, n_rows, t0, step, n_slots):
    out = np.zeros((n_rows, n_slots))
    for r, lo, hi in zip(row, b, e, strict=True):
        for k in range(n_slots):
            s0, s1 = t0 + k * step, t0 + (k + 1) * step
            out[r, k] += max(0.0, min(hi, s1) - max(lo, s0))
    return out


def _brute_peak(row, b, e, n_rows):
    out = np.zeros(n_rows, dtype=np.int64)
    for r in range(n_rows):
        mine = [(lo, hi) for rr, lo, hi in zip(row, b, e, strict=True) if rr == r and hi > lo]
        for lo, _ in mine:  # the most open at some start instant
            out[r] = max(out[r], sum(1 for a, z in mine if a <= lo < z))
    return out


@pytest.mark.parametrize("seed", range(8))
def test_slot_split_and_peak_match_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, rows, step, slots = 60, 3, 900, 24
    t0 = 1000.0 * step
    row = rng.integers(0, rows, n)
    b = t0 + rng.integers(0, slots * step // 60, n) * 60.0  # minute grid: ties between ends and starts happen
    e = np.minimum(b + rng.integers(0, 6 * step // 60, n) * 60.0, t0 + slots * step)
    np.testing.assert_allclose(slot_busy_s(row, b, e, rows, t0, step, slots), _brute_busy(row, b, e, rows, t0,
                                                                                            step, slots), atol=1e-6)
    assert max_concurrent(row, b, e, rows).tolist() == _brute_peak(row, b, e, rows).tolist()


def test_interruptible_segments_become_stretches() -> None:
    # 2.5 h in slots 0, 2 and 3 (3 slots hold it: last pro rata); a 4.5 h job in slots 1, 2 runs on after slot 2
    region, start, dur = np.array([0, 1, 1]), np.array([0.0, 3600.0, 0.0]), np.array([9000.0, 16200.0, 60.0])
    r, b, e = job_intervals(region, start, dur, 3600, {0: np.array([0.0, 7200.0, 10800.0]),
                                                       1: np.array([3600.0, 7200.0])})
    got = sorted(zip(r.tolist(), b.tolist(), e.tolist(), strict=True))
    assert got == [(0, 0.0, 3600.0), (0, 7200.0, 10800.0), (0, 10800.0, 12600.0), (1, 0.0, 60.0),
                   (1, 3600.0, 7200.0), (1, 7200.0, 10800.0), (1, 10800.0, 19800.0)]


def test_bad_placements_are_refused() -> None:
    grid = _grid([[100.0], [100.0]])
    pools = PoolSet((RunnerPool("GB", 1, 1.0, 2.0),), "synthetic")
    with pytest.raises(InputError, match="index the grid"):
        pool_energy(np.array([2]), np.array([float(T0)]), np.array([60.0]), pools, grid)
    with pytest.raises(InputError, match="outside the intensity data"):
        pool_energy(np.array([0]), np.array([float(T0 + 7200)]), np.array([60.0]), pools, grid)
    with pytest.raises(InputError, match="durations >= 0"):
        pool_energy(np.array([0]), np.array([float(T0)]), np.array([-1.0]), pools, grid)


def test_runs_past_the_data_are_cut_and_said() -> None:
    grid = _grid([[100.0], [100.0]])
    pools = PoolSet((RunnerPool("GB", 1, 0.0, 36.0),), "synthetic")
    pe = pool_energy(np.array([0]), np.array([float(T0 + 1800)]), np.array([7200.0]), pools, grid)
    np.testing.assert_allclose(pe.busy_node_s, [[1800.0]])
    assert "1.50 node-hours of runs outside the intensity data" in pe.notes[0]
    assert pe.total_g == pytest.approx(1800 * 36 / 3.6e6 * 100)
