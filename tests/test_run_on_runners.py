"""Placements as the runners run them: actual durations, first come first served per region, never overbooked."""

from __future__ import annotations

import numpy as np
import pytest

from greenci.errors import InputError
from greenci.scheduling.capacity import _queue, run_on_runners


def test_a_run_longer_than_planned_makes_the_next_job_wait() -> None:
    # one runner in region 0: planned at 0, 600 and 1200 s, the first runs 900 s (its estimate said 600)
    ran = run_on_runners(np.array([0, 0, 0]), np.array([0.0, 600.0, 1200.0]), np.array([900.0, 600.0, 60.0]),
                         np.array([1.0, np.inf]))
    assert ran.start_s.tolist() == [0.0, 900.0, 1500.0]
    assert ran.queued.tolist() == [False, True, True] and not ran.moved.any()
    assert ran.region.tolist() == [0, 0, 0]


def test_unlimited_regions_and_free_runners_change_nothing() -> None:
    region, start, dur = np.array([1, 1, 0]), np.array([0.0, 0.0, 5.0]), np.array([100.0, 100.0, 1.0])
    ran = run_on_runners(region, start, dur, np.array([2.0, np.inf]))
    assert ran.start_s.tolist() == start.tolist() and not ran.queued.any()


def test_a_job_that_would_miss_its_deadline_runs_where_a_runner_is_free_the_cleanest_such_region() -> None:
    # region 0 busy until 1000 s; job 1 must end by 700 s: regions 1 and 2 are free, 2 is cleaner at 0-3600 s
    intensity = np.array([[100.0, 100.0], [300.0, 300.0], [200.0, 200.0]])
    ran = run_on_runners(np.array([0, 0]), np.array([0.0, 100.0]), np.array([1000.0, 600.0]),
                         np.array([1.0, 1.0, 1.0]), deadline_s=np.array([np.inf, 700.0]), intensity=intensity)
    assert ran.region.tolist() == [0, 2] and ran.start_s.tolist() == [0.0, 100.0]
    assert ran.moved.tolist() == [False, True] and not ran.queued.any()
    # not allowed there: it waits (and misses), it is never sent where the job may not run
    allowed = np.array([[True, True, True], [True, True, False]])
    ran = run_on_runners(np.array([0, 0]), np.array([0.0, 100.0]), np.array([1000.0, 600.0]),
                         np.array([1.0, 1.0, 1.0]), deadline_s=np.array([np.inf, 700.0]), intensity=intensity,
                         allowed=allowed)
    assert ran.region.tolist() == [0, 1]
    # a job with time to spare waits for its own region
    ran = run_on_runners(np.array([0, 0]), np.array([0.0, 100.0]), np.array([1000.0, 600.0]),
                         np.array([1.0, 1.0, 1.0]), deadline_s=np.array([np.inf, 5000.0]), intensity=intensity)
    assert ran.region.tolist() == [0, 0] and ran.start_s.tolist() == [0.0, 1000.0]


@pytest.mark.parametrize("seed", range(12))
def test_no_region_ever_runs_more_jobs_than_runners_and_compiled_equals_plain(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, n_regions = 300, 3
    region = rng.integers(0, n_regions, n)
    start = np.sort(rng.uniform(0, 20_000, n))
    dur = rng.exponential(900, n)
    runners = np.array([2.0, 3.0, np.inf])
    deadline = np.where(rng.random(n) < 0.3, start + dur + rng.uniform(0, 600, n), np.inf)
    ran = run_on_runners(region, start, dur, runners, deadline_s=deadline)
    assert np.all(ran.start_s >= start)
    for r in range(n_regions):
        if not np.isfinite(runners[r]):
            continue
        mine = ran.region == r
        t = np.r_[ran.start_s[mine], ran.start_s[mine] + dur[mine]]
        step = np.r_[np.ones(mine.sum()), -np.ones(mine.sum())]
        order = np.lexsort((step, t))  # an end and a start at the same instant: the end first
        assert np.cumsum(step[order]).max() <= runners[r]
    # the compiled walk and the plain Python one agree
    out_s, out_r = start.copy(), region.copy()
    q, m = np.zeros(n, bool), np.zeros(n, bool)
    order = np.lexsort((np.arange(n), start))
    _queue(region[order], start[order], dur[order], deadline[order], np.ones((n, n_regions), bool),
           np.zeros((n_regions, 1)), 0.0, 3600.0, np.where(np.isfinite(runners), runners, 0).astype(np.int64),
           np.isfinite(runners), out_s, out_r, q, m, order)
    assert np.array_equal(out_s, ran.start_s) and np.array_equal(out_r, ran.region)


def test_runners_that_are_not_whole_numbers_are_refused() -> None:
    with pytest.raises(InputError, match="whole number"):
        run_on_runners(np.array([0]), np.array([0.0]), np.array([1.0]), np.array([1.5]))
