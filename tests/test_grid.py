"""Oracle and property tests for :mod:`greenci.grid`.

Window sums are checked against a brute-force integral computed slot by slot in plain Python, with
the semantics of DESIGN.md: a value covers its whole slot ``[t, t + step)``, a partial last slot counts
pro rata, a window is NaN only when a slot it uses with non-zero weight is a gap, and a duration that
is an exact multiple of the step never touches the following slot.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from greenci.errors import GapError, InputError, SignalMismatchError
from greenci.grid import IntensityGrid, IntensitySeries
from greenci.timeutil import iso, to_datetime64

T0 = np.datetime64("2024-03-01T00:00:00", "s")
HOUR = np.timedelta64(3600, "s")
NAN = math.nan
PROPS = settings(max_examples=200, deadline=None)


def _series(region: str, start: str | np.datetime64, step_s: int, values: list[float],
            signal: str = "average", source: str = "") -> IntensitySeries:
    """A regular series of ``values`` from ``start`` every ``step_s`` seconds."""
    t0 = np.datetime64(start, "s")
    times = t0 + np.arange(len(values)) * np.timedelta64(step_s, "s")
    return IntensitySeries(region, times, np.array(values, dtype=float), signal=signal,  # type: ignore[arg-type]
                           source=source or f"{region}.csv")


def _grid(rows: list[list[float]], step_s: int = 3600, start: np.datetime64 = T0) -> IntensityGrid:
    regions = tuple(f"R{i}" for i in range(len(rows)))
    return IntensityGrid(regions=regions, start=start, step_s=step_s, values=np.array(rows, dtype=float))


# ------------------------------------------------------------------ brute-force oracles
def brute_window_g(row: list[float], step_s: int, start_slot: int, duration_s: float,
                   power_kw: float) -> float | None:
    """Integral of a piecewise-constant intensity x constant power over ``[start, start + d)``.

    Walks slot by slot. Returns None when the window does not end inside the grid, NaN when a slot
    used with non-zero weight is a gap.
    """
    remaining = float(duration_s)
    total = 0.0
    gap = False
    j = start_slot
    while remaining > 1e-9 * step_s:
        if j >= len(row):
            return None
        covered = min(float(step_s), remaining)
        value = row[j]
        if math.isnan(value):
            gap = True
        else:
            total += value * power_kw * covered / 3600.0
        remaining -= covered
        j += 1
    return NAN if gap else total


def brute_all_windows(rows: list[list[float]], step_s: int, duration_s: float,
                      power_kw: float) -> list[list[float]]:
    """Brute-force cost of every start that lets the window end inside the grid, per region."""
    out = []
    for row in rows:
        costs = []
        for i in range(len(row)):
            c = brute_window_g(row, step_s, i, duration_s, power_kw)
            if c is None:
                break
            costs.append(c)
        out.append(costs)
    return out


def _tol(rows: list[list[float]], duration_s: float, power_kw: float) -> float:
    """Relative 1e-9 of the magnitude of the largest possible window."""
    finite = [v for row in rows for v in row if not math.isnan(v)]
    biggest = max(finite, default=0.0)
    return 1e-9 * (1.0 + biggest * power_kw * duration_s / 3600.0)


# ------------------------------------------------------------------ strategies
STEPS = st.sampled_from([300, 900, 3600])


@dataclass
class GridCase:
    rows: list[list[float]]
    step_s: int
    duration_s: float


@st.composite
def grid_cases(draw: st.DrawFn) -> GridCase:
    """1-4 regions x 1-60 slots of intensity >= 0 with random NaN gaps, and a duration that fits."""
    n_regions = draw(st.integers(1, 4))
    n_slots = draw(st.integers(1, 60))
    step = draw(STEPS)
    gap_rate = draw(st.sampled_from([0, 0, 5, 20, 60]))  # percent
    value = st.one_of(st.just(0.0), st.floats(0.0, 2000.0, allow_nan=False, allow_infinity=False),
                      st.integers(0, 900).map(float))
    cell = st.tuples(value, st.integers(0, 99)).map(lambda vg: NAN if vg[1] < gap_rate else vg[0])
    rows = [draw(st.lists(cell, min_size=n_slots, max_size=n_slots)) for _ in range(n_regions)]
    whole = draw(st.integers(0, n_slots))
    frac = draw(st.one_of(st.just(0.0), st.floats(0.001, 0.999), st.sampled_from([0.5, 0.25, 1 / 3])))
    duration = (whole + frac) * step
    assume(duration > 0)
    return GridCase(rows, step, duration)


# ------------------------------------------------------------------ window_emissions_g
@PROPS
@given(case=grid_cases(), power_kw=st.sampled_from([1.0, 0.25, 3.7]))
def test_window_emissions_match_brute_force(case: GridCase, power_kw: float) -> None:
    grid = _grid(case.rows, case.step_s)
    expected = brute_all_windows(case.rows, case.step_s, case.duration_s, power_kw)
    if not expected[0]:
        with pytest.raises(InputError):
            grid.window_emissions_g(case.duration_s, power_kw)
        return
    got = grid.window_emissions_g(case.duration_s, power_kw)
    assert got.shape == (len(case.rows), len(expected[0]))
    tol = _tol(case.rows, case.duration_s, power_kw)
    for r, row in enumerate(expected):
        for i, want in enumerate(row):
            if math.isnan(want):
                assert math.isnan(got[r, i]), (r, i, got[r, i])
            else:
                assert abs(got[r, i] - want) <= tol, (r, i, got[r, i], want)


@PROPS
@given(case=grid_cases())
def test_window_mean_is_emissions_per_kwh(case: GridCase) -> None:
    grid = _grid(case.rows, case.step_s)
    assume(case.duration_s <= grid.n_slots * case.step_s)
    mean = grid.window_mean_g_per_kwh(case.duration_s)
    emissions = grid.window_emissions_g(case.duration_s)
    np.testing.assert_allclose(mean * case.duration_s / 3600.0, emissions, rtol=1e-12, equal_nan=True)


def test_exact_multiple_duration_does_not_touch_next_slot() -> None:
    grid = _grid([[100.0, 200.0, NAN, 50.0]])
    got = grid.window_emissions_g(2 * 3600)  # [0, 2h) uses slots 0 and 1 only
    assert got.shape == (1, 3)
    assert got[0, 0] == pytest.approx(300.0)
    assert math.isnan(got[0, 1]) and math.isnan(got[0, 2])


def test_partial_last_slot_counts_pro_rata() -> None:
    grid = _grid([[100.0, 200.0, 400.0]])
    got = grid.window_emissions_g(1.5 * 3600, power_kw=2.0)
    # start 0: (100 * 1h + 200 * 0.5h) * 2 kW = 400 g; start 1: (200 + 400 * 0.5) * 2 = 800 g
    np.testing.assert_allclose(got, [[400.0, 800.0]])
    # a partial slot that is a gap makes the window NaN
    gap = _grid([[100.0, NAN]]).window_emissions_g(1.25 * 3600)
    assert math.isnan(gap[0, 0])


def test_sub_slot_duration() -> None:
    grid = _grid([[120.0, 60.0]], step_s=900)
    np.testing.assert_allclose(grid.window_emissions_g(300), [[10.0, 5.0]])  # 5 min at 120 g/kWh, 1 kW


@pytest.mark.parametrize("duration", [0.0, -5.0, math.nan, math.inf])
def test_bad_durations_raise(duration: float) -> None:
    with pytest.raises(InputError):
        _grid([[1.0, 2.0]]).window_emissions_g(duration)


def test_duration_longer_than_grid_raises() -> None:
    with pytest.raises(InputError, match="longer than the grid"):
        _grid([[1.0, 2.0]]).window_emissions_g(2 * 3600 + 1)


# ------------------------------------------------------------------ best_window
@st.composite
def bound(draw: st.DrawFn, n_slots: int, step: int) -> np.datetime64 | None:
    """None, or a time near the grid: on a slot boundary or mid-slot, possibly outside the grid."""
    if draw(st.booleans()):
        return None
    offset_s = draw(st.integers(-2 * step, (n_slots + 2) * step))
    if draw(st.booleans()):
        offset_s -= offset_s % step
    return T0 + np.timedelta64(offset_s, "s")


@PROPS
@given(data=st.data(), case=grid_cases())
def test_best_window_matches_brute_force_argmin(data: st.DataObject, case: GridCase) -> None:
    grid = _grid(case.rows, case.step_s)
    n = grid.n_slots
    earliest = data.draw(bound(n, case.step_s), label="earliest")
    latest = data.draw(bound(n, case.step_s), label="latest_start")
    power_kw = 2.0
    costs = brute_all_windows(case.rows, case.step_s, case.duration_s, power_kw)
    if not costs[0]:
        with pytest.raises(InputError):
            grid.best_window(case.duration_s, earliest=earliest, latest_start=latest, power_kw=power_kw)
        return

    def start_of(i: int) -> np.datetime64:
        return T0 + np.timedelta64(i * case.step_s, "s")

    allowed = [i for i in range(len(costs[0]))
               if (earliest is None or start_of(i) >= earliest) and (latest is None or start_of(i) <= latest)]
    candidates = [(costs[r][i], r, i) for r in range(len(costs)) for i in allowed if not math.isnan(costs[r][i])]
    if not allowed:
        with pytest.raises(InputError):
            grid.best_window(case.duration_s, earliest=earliest, latest_start=latest, power_kw=power_kw)
        return
    if not candidates:
        with pytest.raises(GapError):
            grid.best_window(case.duration_s, earliest=earliest, latest_start=latest, power_kw=power_kw)
        return
    best = grid.best_window(case.duration_s, earliest=earliest, latest_start=latest, power_kw=power_kw)
    want = min(c for c, _, _ in candidates)
    tol = _tol(case.rows, case.duration_s, power_kw)
    r = grid.regions.index(best.region)
    i = int((best.start - T0).astype(np.int64)) // case.step_s
    assert i * case.step_s == int((best.start - T0).astype(np.int64)), "start is a slot boundary"
    assert i in allowed
    assert abs(costs[r][i] - want) <= tol, "the chosen window is a cheapest one"
    assert abs(best.emissions_g_per_kw * power_kw - want) <= tol
    assert best.mean_g_per_kwh == pytest.approx(want / power_kw / (case.duration_s / 3600.0), rel=1e-9, abs=1e-9)
    assert best.duration_s == case.duration_s


def test_best_window_hand_case() -> None:
    grid = IntensityGrid(("A", "B"), T0, 3600, np.array([[300.0, 100.0, 100.0, 500.0],
                                                         [200.0, 200.0, 50.0, 400.0]]))
    best = grid.best_window(2 * 3600)  # A@1h: 200, B@1h: 250, B@0: 400 ... -> A at 01:00
    assert (best.region, iso(best.start)) == ("A", "2024-03-01T01:00:00Z")
    assert best.mean_g_per_kwh == pytest.approx(100.0)
    assert best.emissions_g_per_kw == pytest.approx(200.0)
    # earliest mid-slot rounds up to the next boundary; latest_start mid-slot rounds down
    late = grid.best_window(3600, earliest="2024-03-01T00:30Z", latest_start="2024-03-01T02:59Z")
    assert (late.region, iso(late.start)) == ("B", "2024-03-01T02:00:00Z")
    early = grid.best_window(3600, latest_start="2024-03-01T00:59:59+00:00")
    assert (early.region, iso(early.start)) == ("B", "2024-03-01T00:00:00Z")
    with pytest.raises(InputError):
        grid.best_window(3600, earliest="2024-03-01T03:30Z")


def test_best_window_all_gaps_raises_gap_error() -> None:
    grid = _grid([[NAN, 10.0, NAN]])
    with pytest.raises(GapError, match="choose a start and deadline in a span without gaps"):
        grid.best_window(2 * 3600)


# ------------------------------------------------------------------ series and from_series
def test_series_validation() -> None:
    with pytest.raises(InputError, match="strictly increase"):
        IntensitySeries("A", np.array([T0, T0]), np.array([1.0, 2.0]))
    with pytest.raises(InputError, match="negative"):
        _series("A", T0, 3600, [1.0, -2.0])
    with pytest.raises(InputError, match="region"):
        _series("", T0, 3600, [1.0])
    with pytest.raises(InputError, match="no rows"):
        IntensitySeries("A", np.array([], dtype="datetime64[s]"), np.array([]))
    with pytest.raises(InputError, match="signal"):
        _series("A", T0, 3600, [1.0], signal="median")


def test_to_datetime64_parses_zones() -> None:
    assert to_datetime64("2024-03-01T02:00+02:00") == T0
    assert to_datetime64("2024-03-01T00:00Z") == T0
    with pytest.raises(InputError, match="ISO 8601"):
        to_datetime64("not a time")


def test_join_two_yearly_parts_of_one_region() -> None:
    p2022 = _series("DE", "2022-12-31T20:00", 3600, [310.0, 320.0, 330.0, 340.0], source="de-2022.csv")
    # the 2023 file repeats the last 2022 hour with the same value: the identical overlap is dropped
    p2023 = _series("DE", "2022-12-31T23:00", 3600, [340.0, 350.0, 360.0], source="de-2023.csv")
    grid = IntensityGrid.from_series([p2023, p2022])
    assert grid.regions == ("DE",)
    assert iso(grid.start) == "2022-12-31T20:00:00Z" and grid.step_s == 3600
    np.testing.assert_array_equal(grid.values, [[310.0, 320.0, 330.0, 340.0, 350.0, 360.0]])
    assert set(grid.sources) == {"de-2022.csv", "de-2023.csv"}


def test_join_with_a_hole_between_parts_leaves_a_gap() -> None:
    a = _series("DE", "2022-12-31T22:00", 3600, [1.0, 2.0])
    b = _series("DE", "2023-01-01T01:00", 3600, [4.0, 5.0])
    grid = IntensityGrid.from_series([a, b])
    np.testing.assert_array_equal(grid.values, [[1.0, 2.0, NAN, 4.0, 5.0]])


def test_join_refuses_another_source_for_one_region_naming_both() -> None:
    hourly = replace(_series("DE-LU", "2022-01-01T00:00", 3600, [100.0, 110.0], source="DE-LU_2022_hourly.csv"),
                     kind="electricitymaps_csv direct")
    quarter = replace(_series("DE-LU", "2020-01-01T00:00", 900, [90.0] * 8, source="de_ci.csv"),
                      kind="entsoe_csv carbon intensity")
    with pytest.raises(InputError) as err:
        IntensityGrid.from_series([hourly, quarter])
    msg = str(err.value)
    assert "region DE-LU is given twice" in msg and "DE-LU_2022_hourly.csv" in msg and "de_ci.csv" in msg
    assert "different sources" in msg and "give one of the two files" in msg
    lca = replace(hourly, kind="electricitymaps_csv lca", source="DE-LU_2023_hourly.csv",
                  times=hourly.times + np.timedelta64(365 * 86400, "s"))
    with pytest.raises(InputError, match="different sources"):  # direct and life-cycle intensity do not mix
        IntensityGrid.from_series([hourly, lca])


def test_join_refuses_another_step_for_one_region() -> None:
    hourly = _series("DE", "2022-01-01T00:00", 3600, [100.0, 110.0, 120.0], source="a.csv")
    quarter = _series("DE", "2020-01-01T00:00", 900, [90.0] * 8, source="b.csv")
    with pytest.raises(InputError, match=r"their steps differ \(1 h steps vs 15 min steps\)"):
        IntensityGrid.from_series([hourly, quarter])


def test_join_accepts_parts_of_one_kind_and_parts_of_unknown_kind() -> None:
    a = replace(_series("DE", "2022-12-31T22:00", 3600, [1.0, 2.0]), kind="electricitymaps_csv direct")
    b = replace(_series("DE", "2023-01-01T00:00", 3600, [3.0, 4.0]), kind="electricitymaps_csv direct")
    c = _series("DE", "2023-01-01T02:00", 3600, [5.0, 6.0])  # built in code: kind unknown
    grid = IntensityGrid.from_series([a, b, c])
    np.testing.assert_array_equal(grid.values, [[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]])


def test_join_conflicting_overlap_raises() -> None:
    a = _series("DE", "2022-12-31T22:00", 3600, [1.0, 2.0], source="a.csv")
    b = _series("DE", "2022-12-31T23:00", 3600, [9.0, 3.0], source="b.csv")
    with pytest.raises(InputError, match="disagree at 2022-12-31T23:00:00Z"):
        IntensityGrid.from_series([a, b])


def test_common_and_union_span() -> None:
    a = _series("A", "2024-03-01T00:00", 3600, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0])  # 00..06
    b = _series("B", "2024-03-01T02:00", 3600, [10.0, 20.0, 30.0, 40.0, 50.0, 60.0])  # 02..08
    common = IntensityGrid.from_series([a, b])
    assert iso(common.start) == "2024-03-01T02:00:00Z" and iso(common.end) == "2024-03-01T06:00:00Z"
    np.testing.assert_array_equal(common.values, [[3.0, 4.0, 5.0, 6.0], [10.0, 20.0, 30.0, 40.0]])
    union = IntensityGrid.from_series([a, b], span="union")
    assert iso(union.start) == "2024-03-01T00:00:00Z" and iso(union.end) == "2024-03-01T08:00:00Z"
    np.testing.assert_array_equal(union.values, [[1, 2, 3, 4, 5, 6, NAN, NAN],
                                                 [NAN, NAN, 10, 20, 30, 40, 50, 60]])
    with pytest.raises(InputError, match="span"):
        IntensityGrid.from_series([a, b], span="widest")  # type: ignore[arg-type]


def test_no_common_span_raises() -> None:
    a = _series("A", "2024-03-01T00:00", 3600, [1.0, 2.0])
    b = _series("B", "2024-03-02T00:00", 3600, [1.0, 2.0])
    with pytest.raises(InputError, match="no common span"):
        IntensityGrid.from_series([a, b])


def test_no_series_raises() -> None:
    with pytest.raises(InputError):
        IntensityGrid.from_series([])


def test_step_inference_and_a_missing_timestamp() -> None:
    times = T0 + np.array([0, 900, 1800, 3600, 4500]) * np.timedelta64(1, "s")  # 00:45 missing
    s = IntensitySeries("A", times, np.array([1.0, 2.0, 3.0, 5.0, 6.0]))
    assert s.step_s() == 900 and s.hold_s() == 900
    grid = IntensityGrid.from_series([s])
    assert grid.step_s == 900
    # a value lasts at most the usual spacing: the missing 00:45 is a gap, not a held 00:30 value
    np.testing.assert_array_equal(grid.values, [[1.0, 2.0, 3.0, NAN, 5.0, 6.0]])


def test_step_inference_when_the_step_changes() -> None:
    # six 30-minute values, then four 15-minute values: the grid takes the finer step and, 30 min being
    # the usual spacing, each 30-minute value is held over its own span; the last value is a 15-minute
    # value, so the grid ends 15 min after it (holding it for 30 min would invent data past the source)
    secs = [0, 1800, 3600, 5400, 7200, 9000, 10800, 11700, 12600, 13500]
    s = IntensitySeries("A", T0 + np.array(secs) * np.timedelta64(1, "s"), np.arange(1.0, 11.0))
    assert s.step_s() == 900 and s.hold_s() == 1800
    grid = IntensityGrid.from_series([s])
    assert grid.step_s == 900 and iso(grid.end) == "2024-03-01T04:00:00Z"
    np.testing.assert_array_equal(grid.values, [[1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 8, 9, 10]])


@PROPS
@given(step=STEPS, values=st.lists(st.floats(0, 1000), min_size=2, max_size=60), data=st.data())
def test_dropped_rows_become_gaps(step: int, values: list[float], data: st.DataObject) -> None:
    """A regular series with rows missing: every missing row is a gap, every present row keeps its value."""
    keep = data.draw(st.lists(st.booleans(), min_size=len(values), max_size=len(values)))
    keep[0] = keep[-1] = True
    idx = np.flatnonzero(keep)
    series = IntensitySeries("A", T0 + idx * np.timedelta64(step, "s"), np.array(values)[idx])
    assume(series.step_s() == step and series.hold_s() == step)
    grid = IntensityGrid.from_series([series])
    want = np.where(keep, values, np.nan)
    assert grid.step_s == step and grid.start == T0
    np.testing.assert_array_equal(grid.values[0], want)
    gaps = grid.gaps()[0]
    assert gaps.gap_slots == len(values) - idx.size


def test_timestamps_with_no_regular_step_raise() -> None:
    times = T0 + np.array([0, 900, 1800, 1830]) * np.timedelta64(1, "s")  # finest common spacing 30 s
    series = IntensitySeries("A", times, np.array([1.0, 2.0, 3.0, 4.0]))
    with pytest.raises(InputError, match="no regular step"):
        IntensityGrid.from_series([series])
    off = IntensitySeries("A", T0 + np.array([0, 900, 1800, 2000]) * np.timedelta64(1, "s"), np.arange(4.0))
    with pytest.raises(InputError, match="off the 900 s step"):
        off.regular(900)


def test_resample_hourly_to_15_min_holds() -> None:
    hourly = _series("H", T0, 3600, [100.0, 200.0])
    quarter = _series("Q", T0, 900, [float(i) for i in range(8)])
    grid = IntensityGrid.from_series([hourly, quarter])
    assert grid.step_s == 900 and grid.n_slots == 8
    np.testing.assert_array_equal(grid.values[0], [100.0] * 4 + [200.0] * 4)
    np.testing.assert_array_equal(grid.values[1], np.arange(8.0))


def test_resample_5_min_to_hourly_averages_and_keeps_gaps() -> None:
    values = [float(i) for i in range(24)] + [1.0] * 12
    values[30] = NAN  # third hour has a gap
    grid = IntensityGrid.from_series([_series("F", T0, 300, values)], step_s=3600)
    assert grid.step_s == 3600 and iso(grid.start) == "2024-03-01T00:00:00Z"
    assert grid.values.shape == (1, 3)
    assert grid.values[0, 0] == pytest.approx(np.mean(np.arange(12.0)))  # 5.5
    assert grid.values[0, 1] == pytest.approx(np.mean(np.arange(12.0, 24.0)))  # 17.5
    assert math.isnan(grid.values[0, 2])


def test_resample_drops_partial_leading_block() -> None:
    # 5-minute values from 00:30: the first full hour is 01:00..02:00
    values = [1.0] * 6 + [float(i) for i in range(12)]
    grid = IntensityGrid.from_series([_series("F", "2024-03-01T00:30", 300, values)], step_s=3600)
    assert iso(grid.start) == "2024-03-01T01:00:00Z"
    np.testing.assert_allclose(grid.values, [[5.5]])


def test_default_step_is_the_gcd_of_the_steps() -> None:
    a = _series("A", T0, 1200, [1.0, 2.0, 3.0])
    b = _series("B", T0, 1800, [10.0, 20.0])
    grid = IntensityGrid.from_series([a, b])
    assert grid.step_s == 600 and grid.n_slots == 6
    np.testing.assert_array_equal(grid.values, [[1, 1, 2, 2, 3, 3], [10, 10, 10, 20, 20, 20]])


def test_incompatible_explicit_steps_raise() -> None:
    with pytest.raises(InputError, match="cannot be resampled"):
        IntensityGrid.from_series([_series("C", T0, 300, [1.0] * 12)], step_s=700)
    with pytest.raises(InputError, match="cannot be resampled"):
        IntensityGrid.from_series([_series("A", T0, 1200, [1.0] * 9), _series("B", T0, 1800, [1.0] * 6)],
                                  step_s=1800)


def test_mixing_signals_raises() -> None:
    a = _series("A", T0, 3600, [1.0, 2.0], signal="average")
    b = _series("B", T0, 3600, [1.0, 2.0], signal="marginal")
    with pytest.raises(SignalMismatchError, match="average and marginal"):
        IntensityGrid.from_series([a, b])
    marginal = IntensityGrid.from_series([b])
    assert marginal.signal == "marginal"


def test_series_on_different_phases_are_not_silently_shifted() -> None:
    """Two hourly series, one on :00 and one on :30, must not be laid on one grid as if aligned.

    Either from_series refuses (InputError), or every grid slot holds the value the source gives
    for the instant the slot starts.
    """
    a = _series("A", "2024-03-01T00:00", 3600, [1.0, 2.0, 3.0, 4.0])
    b = _series("B", "2024-03-01T00:30", 3600, [10.0, 20.0, 30.0, 40.0])
    with pytest.raises(InputError, match="off the 3600 s step"):
        IntensityGrid.from_series([a, b], step_s=3600)
    for span in ("common", "union"):
        try:
            grid = IntensityGrid.from_series([a, b], span=span)  # type: ignore[arg-type]
        except InputError:
            continue
        assert grid.step_s == 1800
        for region, src in (("A", a), ("B", b)):
            row = grid.values[grid.region_index(region)]
            for t, v in zip(grid.times, row, strict=True):
                covering = np.flatnonzero((src.times <= t) & (t < src.times + HOUR))
                want = src.values_g_per_kwh[covering[0]] if covering.size else NAN
                assert v == want or (math.isnan(v) and math.isnan(want)), (span, region, iso(t), v, want)


def test_coarsening_a_series_off_the_epoch_phase_is_not_shifted() -> None:
    """5-minute values stamped at :02, :07, ... cannot be averaged into clock hours exactly."""
    s = _series("C", "2024-03-01T00:02", 300, [float(i) for i in range(36)])
    try:
        grid = IntensityGrid.from_series([s], step_s=3600)
    except InputError:
        return
    for t, v in zip(grid.times, grid.values[0], strict=True):
        inside = (s.times >= t) & (s.times + np.timedelta64(300, "s") <= t + HOUR)
        assert inside.sum() == 12, f"slot {iso(t)} is the mean of values not inside it"
        assert v == pytest.approx(float(s.values_g_per_kwh[inside].mean()))


def test_synthetic_flag_and_sources_travel() -> None:
    a = IntensitySeries("A", T0 + np.arange(2) * HOUR, np.array([1.0, 2.0]), source="gen", synthetic=True)
    grid = IntensityGrid.from_series([a])
    assert grid.synthetic and grid.sources == ("gen",)


# ------------------------------------------------------------------ grid constructor
def test_grid_constructor_validation() -> None:
    with pytest.raises(InputError, match="regions x slots"):
        IntensityGrid(("A", "B"), T0, 3600, np.zeros((1, 3)))
    with pytest.raises(InputError, match="repeat"):
        IntensityGrid(("A", "A"), T0, 3600, np.zeros((2, 3)))
    with pytest.raises(InputError, match="step_s"):
        IntensityGrid(("A",), T0, 0, np.zeros((1, 3)))
    with pytest.raises(InputError, match="signal"):
        IntensityGrid(("A",), T0, 3600, np.zeros((1, 3)), signal="both")  # type: ignore[arg-type]


def test_times_end_and_slot_at() -> None:
    grid = _grid([[1.0, 2.0, 3.0]])
    assert [iso(t) for t in grid.times] == ["2024-03-01T00:00:00Z", "2024-03-01T01:00:00Z",
                                            "2024-03-01T02:00:00Z"]
    assert iso(grid.end) == "2024-03-01T03:00:00Z"
    assert grid.slot_at("2024-03-01T01:59:59Z") == 1
    assert grid.slot_at("2024-02-29T23:30Z") == -1
    assert grid.slot_at("2024-03-01T05:00Z") == 5


# ------------------------------------------------------------------ gaps and fill
def test_gaps_report() -> None:
    grid = IntensityGrid(("A", "B", "C"), T0, 3600, np.array([
        [1.0, NAN, NAN, 4.0, NAN, 6.0, NAN, NAN, NAN],
        [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0],
        [NAN] * 9,
    ]))
    a, b, c = grid.gaps()
    assert (a.region, a.slots, a.gap_slots, a.longest_gap_slots, a.first_gap) == \
        ("A", 9, 6, 3, "2024-03-01T01:00:00Z")
    assert a.gap_share == pytest.approx(6 / 9)
    assert (b.gap_slots, b.longest_gap_slots, b.first_gap, b.gap_share) == (0, 0, None, 0.0)
    assert (c.gap_slots, c.longest_gap_slots, c.first_gap) == (9, 9, "2024-03-01T00:00:00Z")
    assert grid.has_gaps()
    assert not grid.select(["B"]).has_gaps()


def test_fill_hold_and_linear_by_hand() -> None:
    grid = _grid([[NAN, 2.0, NAN, NAN, 8.0, NAN],
                  [1.0, 1.0, 1.0, 1.0, 1.0, 1.0]])
    held = grid.fill("hold")
    # leading gap takes the first value, inner gaps hold the last value, trailing gap holds too
    np.testing.assert_array_equal(held.values, [[2.0, 2.0, 2.0, 2.0, 8.0, 8.0], [1.0] * 6])
    assert held.filled == "hold"
    linear = grid.fill("linear")
    # 2 -> 8 over three steps: 4, 6; edges take the nearest value
    np.testing.assert_allclose(linear.values, [[2.0, 2.0, 4.0, 6.0, 8.0, 8.0], [1.0] * 6])
    assert linear.filled == "linear"
    assert np.isnan(grid.values[0, 0]) and grid.filled is None, "fill returns a new grid"
    # the filled grid's window sums see the filled values, not a stale cache
    grid.window_emissions_g(3600)
    np.testing.assert_allclose(held.window_emissions_g(3600), held.values)


def test_fill_all_nan_region_raises_gap_error() -> None:
    with pytest.raises(GapError, match="R1"):
        _grid([[1.0, NAN], [NAN, NAN]]).fill("hold")


def test_fill_unknown_policy_raises() -> None:
    with pytest.raises(InputError, match="hold"):
        _grid([[1.0, NAN]]).fill("mean")  # type: ignore[arg-type]


# ------------------------------------------------------------------ select, between, resample
def test_select_reorders_and_refuses_unknown_regions() -> None:
    grid = IntensityGrid(("A", "B", "C"), T0, 3600, np.array([[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]]))
    sub = grid.select(["C", "A"])
    assert sub.regions == ("C", "A")
    np.testing.assert_array_equal(sub.values, [[3.0, 3.0], [1.0, 1.0]])
    grid.window_emissions_g(3600)  # fill the parent's cache first
    np.testing.assert_allclose(sub.window_emissions_g(3600), [[3.0, 3.0], [1.0, 1.0]])
    with pytest.raises(InputError, match="choose one of A, B, C"):
        grid.select(["D"])


def test_between_on_boundaries() -> None:
    grid = _grid([[0.0, 1.0, 2.0, 3.0, 4.0, 5.0]])
    sub = grid.between("2024-03-01T01:00Z", "2024-03-01T04:00Z")
    assert iso(sub.start) == "2024-03-01T01:00:00Z"
    np.testing.assert_array_equal(sub.values, [[1.0, 2.0, 3.0]])
    # an end inside a slot keeps that slot (its start lies before the end)
    np.testing.assert_array_equal(grid.between(end="2024-03-01T02:30Z").values, [[0.0, 1.0, 2.0]])
    # bounds beyond the grid are clipped
    np.testing.assert_array_equal(grid.between("2024-02-01T00:00Z", "2024-04-01T00:00Z").values, grid.values)
    with pytest.raises(InputError, match="holds no slot"):
        grid.between("2024-03-01T03:00Z", "2024-03-01T03:00Z")
    with pytest.raises(InputError, match="holds no slot"):
        grid.between("2024-03-02T00:00Z")


def test_between_start_inside_a_slot_excludes_that_slot() -> None:
    """The docstring: 'the slots whose start lies in [start, end)'. 00:00 is not in [00:30, ...)."""
    grid = _grid([[0.0, 1.0, 2.0, 3.0]])
    sub = grid.between("2024-03-01T00:30Z")
    assert iso(sub.start) == "2024-03-01T01:00:00Z"
    np.testing.assert_array_equal(sub.values, [[1.0, 2.0, 3.0]])


def test_grid_resample_method() -> None:
    grid = _grid([[100.0, 200.0]])
    fine = grid.resample(1800)
    np.testing.assert_array_equal(fine.values, [[100.0, 100.0, 200.0, 200.0]])
    assert fine.step_s == 1800
    coarse = _grid([[1.0, 3.0, 5.0, NAN]], step_s=1800).resample(3600)
    np.testing.assert_array_equal(coarse.values, [[2.0, NAN]])


# ------------------------------------------------------------------ summary
def test_summary_greenest_hours() -> None:
    # two days, hourly; every hour's value is 100 + 10 * hour, except 13h (10), 3h (20) and 4h (30);
    # day two adds 1 everywhere so every hour's mean is its day-one value + 0.5
    day = [100.0 + 10.0 * h for h in range(24)]
    day[13], day[3], day[4] = 10.0, 20.0, 30.0
    values = day + [v + 1.0 for v in day]
    values[5] = NAN  # a gap does not move the ranking: hour 5 still has day two
    grid = IntensityGrid(("GB",), T0, 3600, np.array([values]), synthetic=True)
    (s,) = grid.summary()
    assert s.greenest_hours_utc == (13, 3, 4)
    assert (s.region, s.step_s, s.slots, s.signal, s.synthetic) == ("GB", 3600, 48, "average", True)
    assert (s.start, s.end) == ("2024-03-01T00:00:00Z", "2024-03-03T00:00:00Z")
    finite = [v for v in values if not math.isnan(v)]
    assert s.mean_g_per_kwh == pytest.approx(sum(finite) / len(finite))
    assert (s.min_g_per_kwh, s.max_g_per_kwh) == (10.0, 331.0)
    assert s.gap_share == pytest.approx(1 / 48)
    assert grid.summary(greenest=1)[0].greenest_hours_utc == (13,)


def test_summary_on_15_minute_slots_groups_by_clock_hour() -> None:
    values = [50.0] * 4 + [500.0] * 4 + [5.0] * 4  # 00h, 01h, 02h
    grid = IntensityGrid(("X",), T0, 900, np.array([values]))
    assert grid.summary(greenest=2)[0].greenest_hours_utc == (2, 0)


def test_summary_of_an_empty_region() -> None:
    grid = _grid([[NAN, NAN], [1.0, 2.0]])
    empty, full = grid.summary()
    assert empty.greenest_hours_utc == () and math.isnan(empty.mean_g_per_kwh) and empty.gap_share == 1.0
    assert full.greenest_hours_utc == (0, 1)


def test_replace_values_never_reads_stale_prefix_sums() -> None:
    """Regression: the prefix-sum cache was an init field, so ``replace(grid, values=new)`` kept the old sums."""
    from dataclasses import fields, replace

    grid = _grid([[100.0, 100.0, 100.0]])
    assert grid.best_window(3600).mean_g_per_kwh == pytest.approx(100.0)  # builds the cache
    cleaner = replace(grid, values=np.array([[100.0, 10.0, 100.0]]))
    best = cleaner.best_window(3600)
    assert best.mean_g_per_kwh == pytest.approx(10.0)
    assert iso(best.start) == iso(T0 + np.timedelta64(3600, "s"))
    np.testing.assert_allclose(cleaner.window_emissions_g(3600), [[100.0, 10.0, 100.0]])
    assert all(not f.name.startswith("_") for f in fields(IntensityGrid)), "no cache among the init fields"


def test_best_window_ties_go_to_the_earliest_start_like_the_kernel() -> None:
    grid = IntensityGrid(("A", "B"), T0, 3600, np.array([[50.0, 10.0, 10.0], [10.0, 50.0, 10.0]]))
    best = grid.best_window(3600)
    assert (best.region, iso(best.start)) == ("B", iso(T0))
