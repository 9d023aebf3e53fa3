"""Duration estimates (no peeking, formula), deadline inference and the job table."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from greenci.errors import InputError
from greenci.jobs import (
    DurationModel,
    Job,
    JobTable,
    estimate_durations,
    history_quantiles,
    infer_nightly_deadlines,
)


def _epoch(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp())


def test_history_quantile_equals_brute_force_on_earlier_runs_only() -> None:
    rng = np.random.default_rng(0)
    keys = rng.integers(0, 4, 400)
    durations = rng.lognormal(5, 1, 400)
    q, runs = history_quantiles(keys, durations, quantile=0.9, window=20)
    for i in range(400):
        earlier = durations[:i][keys[:i] == keys[i]]
        assert runs[i] == earlier.size
        if earlier.size == 0:
            assert np.isnan(q[i])
            continue
        last = np.sort(earlier[-20:])
        assert q[i] == last[int(np.ceil(0.9 * (last.size - 1)))]


def test_a_runs_own_duration_never_leaks_into_its_estimate() -> None:
    rng = np.random.default_rng(1)
    n = 200
    sub = 1_665_532_800 + np.arange(n) * 600
    dur = rng.uniform(100, 1000, n)
    base = JobTable.build(submitted_s=sub, duration_s=dur, repo=["r"] * n, workflow=["w"] * n)
    est = estimate_durations(base).estimate_s
    for i in (0, 5, 50, 199):
        changed = dur.copy()
        changed[i:] = 1e6  # this run and every later one become huge
        other = JobTable.build(submitted_s=sub, duration_s=changed, repo=["r"] * n, workflow=["w"] * n)
        np.testing.assert_array_equal(estimate_durations(other).estimate_s[: i + 1], est[: i + 1])


def test_estimate_formula_blends_user_estimate_and_shrinks_the_buffer() -> None:
    n = 12
    sub = 1_665_532_800 + np.arange(n) * 600
    dur = np.full(n, 600.0)
    user = np.full(n, 1200.0)
    jobs = JobTable.build(submitted_s=sub, duration_s=dur, user_estimate_s=user)
    e = estimate_durations(jobs, DurationModel(user_weight_k=5.0, buffer0=0.5))
    # first run: no history, user estimate plus 50 %
    assert e.estimate_s[0] == pytest.approx(1200 * 1.5)
    # run 10 (n=10 earlier runs): w = 5/15, base = 1/3*1200 + 2/3*600 = 800, buffer = 0.5/sqrt(11)
    assert e.estimate_s[10] == pytest.approx(800 * (1 + 0.5 / np.sqrt(11)))
    assert np.all(np.diff(e.buffer_share) < 0)


def test_cold_start_without_user_estimate_is_unknown() -> None:
    jobs = JobTable.build(submitted_s=[0, 10], duration_s=[60.0, 60.0], workflow=["a", "b"])
    e = estimate_durations(jobs)
    assert not e.known.any()


def test_nightly_deadline_is_next_morning_in_the_repository_time_zone() -> None:
    # 23:00 in Berlin (CEST, UTC+2) on Wed 2022-10-12 = 21:00Z, ends 22:00Z -> deadline 08:00 CEST = 06:00Z
    sub = np.array([_epoch("2022-10-12T21:00:00"), _epoch("2022-10-12T10:00:00"), _epoch("2022-10-13T04:00:00")])
    end = sub + np.array([3600, 3600, 6 * 3600])
    d = infer_nightly_deadlines(sub, end, time_zone="Europe/Berlin")
    assert d[0] == _epoch("2022-10-13T06:00:00")
    assert np.isnan(d[1])  # office hours: not nightly
    assert np.isnan(d[2])  # 06:00 CEST start but ends after 08:00: not nightly


def test_nightly_deadline_follows_daylight_saving() -> None:
    # Sat 2022-10-29 22:00Z = midnight CEST; the clocks go back on the 30th: 08:00 CET = 07:00Z
    sub = np.array([_epoch("2022-10-29T22:00:00")])
    d = infer_nightly_deadlines(sub, sub + 3600, time_zone="Europe/Berlin")
    assert d[0] == _epoch("2022-10-30T07:00:00")


def test_unknown_time_zone_is_named() -> None:
    with pytest.raises(InputError, match="Mars/Olympus"):
        infer_nightly_deadlines(np.array([0]), np.array([1]), time_zone="Mars/Olympus")


def test_job_validation_names_the_job() -> None:
    with pytest.raises(InputError, match="job j1"):
        Job(id="j1", repo="r", workflow="w", submitted_at=datetime(2022, 10, 12, tzinfo=UTC), duration_estimate_s=-1)
    with pytest.raises(InputError, match="time zone"):
        Job(id="j2", repo="r", workflow="w", submitted_at=datetime(2022, 10, 12))
    with pytest.raises(InputError, match="duration"):
        JobTable.build(submitted_s=[0], duration_s=[0.0])


def test_run_history_estimate_equals_the_vectorised_replay() -> None:
    from greenci.jobs import RunHistory

    rng = np.random.default_rng(5)
    n = 120
    sub = 1_665_532_800 + np.arange(n) * 900
    jobs = JobTable.build(submitted_s=sub, duration_s=rng.lognormal(6, 0.5, n),
                          repo=rng.choice(["a", "b"], n), workflow=["ci"] * n,
                          user_estimate_s=np.where(rng.random(n) < 0.5, 900.0, np.nan))
    replay = estimate_durations(jobs).estimate_s
    histories = RunHistory.from_table(jobs)
    for i in (0, 1, 7, 60, 119):
        key = (str(jobs.repo[i]), "ci", "")
        past = histories[key].before(int(jobs.submitted_s[i]))
        user = None if np.isnan(jobs.user_estimate_s[i]) else float(jobs.user_estimate_s[i])
        got = past.estimate(user)
        if np.isnan(replay[i]):
            assert np.isnan(got)
        else:
            assert got == pytest.approx(replay[i])
    grown = histories[("a", "ci", "")].add(int(sub[-1]) + 60, 1234.0)
    assert len(grown) == len(histories[("a", "ci", "")]) + 1
