"""Forecasts: no model can see the future, the naive models are exact where they must be, and the
vectorised backtest equals a brute-force loop over ``forecast``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from greenci.errors import InputError
from greenci.forecast import (
    FORECASTERS,
    Forecaster,
    ForecastScore,
    Persistence,
    RidgeLags,
    SeasonalNaive,
    evaluate,
    hold_forward,
    issue_slots,
    make_forecaster,
    mean_scores,
    predictions_at_issues,
)
from greenci.grid import IntensityGrid, IntensitySeries

START = np.datetime64("2023-01-02T00:00", "s")  # a Monday
H = 3600


def make_grid(values: np.ndarray, step_s: int = H, start: np.datetime64 = START) -> IntensityGrid:
    values = np.atleast_2d(np.asarray(values, dtype=float))
    return IntensityGrid(regions=tuple(f"R{i}" for i in range(values.shape[0])), start=start, step_s=step_s,
                         values=values)


def noisy_values(n_regions: int = 3, days: int = 42, seed: int = 0) -> np.ndarray:
    """Daily and weekly cycles, a random walk and noise: hard enough that every model errs."""
    rng = np.random.default_rng(seed)
    t = np.arange(days * 24)
    daily = 80 * np.sin(2 * np.pi * t / 24)[None] * rng.uniform(0.5, 1.5, (n_regions, 1))
    weekly = 30 * np.sin(2 * np.pi * t / 168)[None]
    walk = np.cumsum(rng.normal(0, 3, (n_regions, t.size)), axis=1)
    return np.clip(300 + daily + weekly + walk + rng.normal(0, 10, (n_regions, t.size)), 1, None)


def at(slot: int, minutes: int = 0) -> np.datetime64:
    return START + np.timedelta64(slot * H + minutes * 60, "s")


ALL_MODELS = [make_forecaster(name) for name in FORECASTERS]


# ------------------------------------------------------------------------------------- registry
def test_registry_names_and_protocol() -> None:
    assert FORECASTERS == ("persistence", "seasonal-naive", "ridge")
    for name in FORECASTERS:
        model = make_forecaster(name)
        assert model.name == name
        assert isinstance(model, Forecaster)


def test_unknown_forecaster_lists_the_names() -> None:
    with pytest.raises(InputError, match="persistence, seasonal-naive, ridge"):
        make_forecaster("arima")


# ------------------------------------------------------------------------------------- no peeking
ISSUES = [at(24 * 20), at(24 * 20 + 7), at(24 * 20 + 7, 30), at(24 * 29 + 23), at(24 * 35, 1)]


@pytest.mark.parametrize("model", ALL_MODELS, ids=FORECASTERS)
@pytest.mark.parametrize("issued_at", ISSUES, ids=[str(t) for t in ISSUES])
@pytest.mark.parametrize("poison", [1e9, np.nan], ids=["huge", "nan"])
def test_forecast_never_reads_unknown_slots(model: Forecaster, issued_at: np.datetime64, poison: float) -> None:
    values = noisy_values()
    values[1, 24 * 10: 24 * 10 + 5] = np.nan  # a gap in the history
    grid = make_grid(values)
    known = grid.slot_at(issued_at)  # slots that end at or before issued_at
    corrupt = values.copy()
    corrupt[:, known:] = poison
    for horizon_h in (1, 6, 24, 48):
        clean = model.forecast(grid, issued_at, horizon_h * H)
        dirty = model.forecast(make_grid(corrupt), issued_at, horizon_h * H)
        np.testing.assert_array_equal(clean.values, dirty.values)
        assert np.isfinite(clean.values).all()
        assert clean.start == dirty.start


def test_forecast_hands_the_model_a_copy_of_the_known_slots_only() -> None:
    seen: list[np.ndarray] = []

    class Spy(Persistence):
        def predict(self, history: np.ndarray, start: np.datetime64, step_s: int,
                    leads: np.ndarray) -> np.ndarray:
            seen.append(history)
            return super().predict(history, start, step_s, leads)

    grid = make_grid(noisy_values())
    Spy().forecast(grid, at(500, 20), 3 * H)
    assert seen[0].shape == (3, 500)
    assert not np.shares_memory(seen[0], grid.values)


@pytest.mark.parametrize("poison", [1e9, np.nan], ids=["huge", "nan"])
def test_vectorised_backtest_never_reads_unknown_slots(poison: float) -> None:
    values = noisy_values()
    grid = make_grid(values)
    horizons = (1, 6, 12, 24, 48)
    issues = issue_slots(grid, 24, max_horizon_h=48)
    cut = 4
    corrupt = values.copy()
    corrupt[:, issues[cut]:] = poison
    clean = predictions_at_issues(grid, FORECASTERS, horizons, issues)
    dirty = predictions_at_issues(make_grid(corrupt), FORECASTERS, horizons, issues)
    for name in FORECASTERS:
        np.testing.assert_allclose(dirty[name][:, :cut + 1], clean[name][:, :cut + 1], rtol=1e-10)
        assert np.isfinite(clean[name]).all()


def test_vectorised_backtest_equals_forecast_at_every_issue() -> None:
    values = noisy_values(n_regions=2)
    values[0, 24 * 30 + 3] = np.nan
    grid = make_grid(values)
    horizons = (1, 2, 5, 6, 13, 24, 30, 48)
    issues = issue_slots(grid, 12, max_horizon_h=48)
    fast = predictions_at_issues(grid, FORECASTERS, horizons, issues)
    leads = np.array(horizons) - 1
    for model in ALL_MODELS:
        for i, slot in enumerate(issues):
            slow = model.forecast(grid, at(int(slot)), 48 * H).values[:, leads]
            np.testing.assert_allclose(fast[model.name][:, i], slow, rtol=1e-7, err_msg=f"{model.name} {slot}")
    assert all((p >= 0).all() for p in fast.values())


def test_hold_forward_is_causal() -> None:
    values = noisy_values(days=3)
    values[0, :5] = np.nan
    values[1, 10:20] = np.nan
    values[2, -4:] = np.nan
    held = hold_forward(values)
    assert np.isnan(held[0, :5]).all() and not np.isnan(held[:, 5:]).any()
    np.testing.assert_array_equal(held[1, 10:20], values[1, 9])
    for cut in (1, 7, 15, 40, values.shape[1]):
        np.testing.assert_array_equal(hold_forward(values[:, :cut]), held[:, :cut])


# ------------------------------------------------------------------------------------- oracles
def test_persistence_is_exact_on_a_daily_periodic_series() -> None:
    rng = np.random.default_rng(1)
    profile = rng.uniform(50, 500, (2, 24))
    values = np.tile(profile, 30)
    grid = make_grid(values)
    for issued_at in (at(24 * 10), at(24 * 10 + 5, 45), at(24 * 30 + 30)):  # the last is past the grid's end
        fc = Persistence().forecast(grid, issued_at, 72 * H)
        hours = ((fc.times - START).astype("timedelta64[h]").astype(int)) % 24
        np.testing.assert_array_equal(fc.values, profile[:, hours])


def test_seasonal_naive_is_exact_on_a_weekly_periodic_series_and_persistence_is_not() -> None:
    rng = np.random.default_rng(2)
    profile = rng.uniform(50, 500, (2, 168))
    grid = make_grid(np.tile(profile, 6))
    issued_at = at(24 * 20 + 3)
    truth = profile[:, (24 * 20 + 3 + np.arange(200)) % 168]
    np.testing.assert_array_equal(SeasonalNaive().forecast(grid, issued_at, 200 * H).values, truth)
    assert np.abs(Persistence().forecast(grid, issued_at, 200 * H).values - truth).max() > 10


def test_ridge_recovers_a_series_linear_in_its_lags() -> None:
    # daily profile + trend: x[t+k] = x[t+k-24] + (x[t-1] - x[t-25]) for every lead k < 24, exactly
    profile = np.random.default_rng(5).uniform(100, 300, (2, 24))
    t = np.arange(24 * 40)
    grid = make_grid(profile[:, t % 24] + np.array([[0.5], [-0.1]]) * t + 50)
    for slot in (24 * 30, 24 * 30 + 7, 24 * 35 + 13):
        fc = RidgeLags().forecast(grid, at(slot), 24 * H)
        np.testing.assert_allclose(fc.values, grid.values[:, slot:slot + 24], rtol=1e-4)
        naive = Persistence().forecast(grid, at(slot), 24 * H)
        assert np.abs(naive.values - grid.values[:, slot:slot + 24]).max() > 1


def test_ridge_recovers_a_series_linear_in_its_calendar_features() -> None:
    rng = np.random.default_rng(3)
    hour, weekday = rng.uniform(-100, 100, 24), rng.uniform(-50, 50, 7)
    t = np.arange(24 * 49)
    values = 300 + hour[t % 24] + weekday[(t // 24) % 7]  # START is a Monday: weekday 0
    grid = make_grid(np.vstack([values, 0.5 * values]))
    slot = 24 * 40 + 6
    fc = RidgeLags(alpha=1e-6).forecast(grid, at(slot), 48 * H)
    truth = grid.values[:, slot:slot + 48]
    # exact at the leads each band is trained at; in between a band's model is borrowed, so nearly exact
    edges = np.array([1, 2, 3, 6, 12, 18, 24, 36, 48]) - 1
    np.testing.assert_allclose(fc.values[:, edges], truth[:, edges], rtol=1e-5)
    np.testing.assert_allclose(fc.values, truth, atol=1.0)
    assert np.abs(Persistence().forecast(grid, at(slot), 48 * H).values - truth).max() > 10


def test_ridge_falls_back_to_persistence_without_enough_history() -> None:
    grid = make_grid(noisy_values(days=9))
    issued_at = at(24 * 8)
    np.testing.assert_array_equal(RidgeLags().forecast(grid, issued_at, 24 * H).values,
                                  Persistence().forecast(grid, issued_at, 24 * H).values)


def test_ridge_beats_persistence_on_noisy_synthetic_data() -> None:
    scores = mean_scores(evaluate(make_grid(noisy_values(days=70)), ("persistence", "ridge"), (1, 24)))
    mae = {(s.model, s.horizon_h): s.mae_g_per_kwh for s in scores}
    assert mae["ridge", 1] < 0.7 * mae["persistence", 1]
    assert mae["ridge", 24] < mae["persistence", 24]


# ------------------------------------------------------------------------------------- forecast grid
def test_forecast_grid_starts_at_the_boundary_at_or_after_the_issue_time() -> None:
    grid = make_grid(noisy_values(days=10))
    fc = Persistence().forecast(grid, at(200, 1), 5400)
    assert fc.start == at(201) and fc.n_slots == 2 and fc.step_s == H
    assert fc.regions == grid.regions and fc.sources[0] == "forecast:persistence"
    aligned = Persistence().forecast(grid, at(200), 5400)
    assert aligned.start == at(200)
    # the slot containing a mid-slot issue time is unknown, so the lag source is the same as at the boundary
    np.testing.assert_array_equal(fc.values[:, 0], grid.values[:, 201 - 24])
    np.testing.assert_array_equal(aligned.values[:, 0], grid.values[:, 200 - 24])


def test_half_hourly_grid_uses_a_48_slot_day() -> None:
    profile = np.random.default_rng(4).uniform(10, 90, 48)
    grid = make_grid(np.tile(profile, 10), step_s=1800)
    fc = Persistence().forecast(grid, START + np.timedelta64(3 * 86400 + 1800 * 7, "s"), 86400)
    np.testing.assert_array_equal(fc.values[0], profile[(7 + np.arange(48)) % 48])


def test_bad_forecast_inputs_are_refused() -> None:
    grid = make_grid(noisy_values(days=10))
    with pytest.raises(InputError, match="known slot"):
        Persistence().forecast(grid, START, H)
    with pytest.raises(InputError, match="positive"):
        Persistence().forecast(grid, at(100), 0)
    odd = make_grid(noisy_values(days=10)[:, ::7], step_s=7 * H)
    with pytest.raises(InputError, match="whole number"):
        Persistence().forecast(odd, START + np.timedelta64(20 * 7 * H, "s"), 7 * H)


# ------------------------------------------------------------------------------------- evaluate
def brute_force(grid: IntensityGrid, names: tuple[str, ...], horizons: tuple[int, ...],
                every_h: int) -> list[ForecastScore]:
    issues = issue_slots(grid, every_h, max_horizon_h=max(horizons))
    rows = []
    for r, region in enumerate(grid.regions):
        for name in names:
            model = make_forecaster(name)
            for h in horizons:
                errs, pcts = [], []
                for slot in issues:
                    pred = model.forecast(grid, grid.times[slot], h * H).values[r, -1]
                    actual = grid.values[r, slot + h - 1]
                    if np.isnan(actual):
                        continue
                    errs.append(abs(pred - actual))
                    if actual != 0:
                        pcts.append(abs(pred - actual) / actual * 100)
                rows.append(ForecastScore(region, name, h, float(np.mean(errs)), float(np.mean(pcts)), len(errs)))
    return rows


def test_evaluate_matches_a_brute_force_loop() -> None:
    values = noisy_values(n_regions=2, days=45)
    grid0 = make_grid(values)
    issues = issue_slots(grid0, 24, max_horizon_h=30)
    values[0, issues[2]] = 0.0  # a zero actual at horizon 1: MAE counts it, MAPE skips it
    values[1, issues[3] + 4] = np.nan  # a missing actual at horizon 5: skipped
    grid = make_grid(values)
    horizons = (1, 5, 24, 30)
    got = evaluate(grid, FORECASTERS, horizons, issue_every_h=24)
    want = brute_force(grid, FORECASTERS, horizons, 24)
    assert [(s.region, s.model, s.horizon_h, s.n) for s in got] == [(s.region, s.model, s.horizon_h, s.n) for s in want]
    for g, w in zip(got, want, strict=True):
        assert g.mae_g_per_kwh == pytest.approx(w.mae_g_per_kwh, rel=1e-7)
        assert g.mape_pct == pytest.approx(w.mape_pct, rel=1e-7)
    n = {(s.region, s.horizon_h): s.n for s in got if s.model == "ridge"}
    assert n["R0", 1] == n["R0", 5] == issues.size and n["R1", 5] == issues.size - 1


def test_evaluate_rows_order_and_progress() -> None:
    grid = make_grid(noisy_values(n_regions=3, days=40))
    calls: list[tuple[int, int]] = []
    scores = evaluate(grid, ("ridge", "persistence"), (1, 12), progress=lambda d, t: calls.append((d, t)))
    assert [(s.region, s.model, s.horizon_h) for s in scores] == [
        (r, m, h) for r in grid.regions for m in ("ridge", "persistence") for h in (1, 12)]
    assert calls[-1] == (6, 6) and [d for d, _ in calls] == sorted(d for d, _ in calls)
    means = mean_scores(scores)
    assert [(s.region, s.model, s.horizon_h) for s in means] == [
        ("mean", m, h) for m in ("ridge", "persistence") for h in (1, 12)]


def test_issue_slots_default_warm_up_and_start() -> None:
    grid = make_grid(noisy_values(days=40))
    issues = issue_slots(grid, 24, max_horizon_h=48)
    assert issues[0] == 28 * 24 and np.all(np.diff(issues) == 24) and issues[-1] + 47 < grid.n_slots
    assert issue_slots(grid, 6, start=at(24 * 7 + 1, 30), max_horizon_h=1)[0] == 24 * 7 + 2


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"horizons_h": (0,)}, "positive whole"),
    ({"horizons_h": (1.5,)}, "positive whole"),
    ({"horizons_h": ()}, "no horizon"),
    ({"issue_every_h": 0}, "issue_every_h"),
    ({"start": "2023-01-05"}, "7 days"),
    ({"horizons_h": (24 * 30,)}, "too short"),
    ({"model_names": ("persistence", "prophet")}, "unknown"),
])
def test_evaluate_refuses_bad_arguments(kwargs: dict, match: str) -> None:
    with pytest.raises(InputError, match=match):
        evaluate(make_grid(noisy_values(days=40)), **kwargs)


# ------------------------------------------------------------------------------------- real data
ZONES = ("DE-LU", "GB", "US-CAL-CISO")


def read_zone(shared: Path, zone: str) -> list[IntensitySeries]:
    files = [shared / "intensity" / "electricitymaps-hourly" / zone / f"{zone}_{year}_hourly.csv"
             for year in (2022, 2023)]
    try:
        from greenci.sources import read_intensity
    except ImportError:
        import pandas as pd

        out = []
        for f in files:
            frame = pd.read_csv(f)
            out.append(IntensitySeries(zone, pd.to_datetime(frame["Datetime (UTC)"]).to_numpy(),
                                       frame["Carbon Intensity gCO₂eq/kWh (direct)"].to_numpy(float), source=str(f)))
        return out
    return [IntensitySeries(zone, s.times, s.values_g_per_kwh, s.signal, s.source) for s in read_intensity(files)]


def test_real_data_backtest(shared_data: Path) -> None:
    grid = IntensityGrid.from_series([s for zone in ZONES for s in read_zone(shared_data, zone)])
    assert grid.n_slots == 17520 and not grid.has_gaps()
    scores = evaluate(grid)
    assert len(scores) == len(ZONES) * 3 * 5
    issues = issue_slots(grid, 24)
    for s in scores:
        assert s.n == issues.size
        assert 0 < s.mae_g_per_kwh < 200 and 0 < s.mape_pct < 100
    mae = {(s.region, s.model, s.horizon_h): s.mae_g_per_kwh for s in scores}
    for zone in grid.regions:  # one hour ahead the learned model is far better everywhere
        assert mae[zone, "ridge", 1] < 0.6 * mae[zone, "persistence", 1]
    means = {(s.model, s.horizon_h): s.mae_g_per_kwh for s in mean_scores(scores)}
    for h in (1, 6, 12, 24, 48):
        assert means["ridge", h] < means["persistence", h]
        assert means["persistence", h] < means["seasonal-naive", h]
