"""Best-window search: greenci's IntensityGrid vs cats' WindowedForecast.

Run: ``python benchmarks/bench_window_search.py [--repeats N]``. Prints one table.

Job: 6 h, forecast: 72 h of 5-minute values (864 points). The series is real when ``../shared`` is
present (WattTime MOER for CAISO North, 5-minute steps, from its first point: the vessim file), else
SYNTHETIC (seeded diurnal shape + noise); the 16-region cases are always synthetic. The same series goes
to both tools. cats joins points with straight lines (trapezoid rule); greenci holds each value over its
slot (piecewise constant). The two rules can pick different windows, so the table also evaluates both
chosen windows under both rules.

Timing: every case is timed once per round, rounds interleaved, so that a slow spell of the machine
touches all cases alike; the ratio is of medians over rounds.
"""

from __future__ import annotations

import argparse
import statistics
import timeit
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import numpy as np

from greenci.grid import IntensityGrid, IntensitySeries
from greenci.timeutil import iso

STEP_S = 300
N_POINTS = 864  # 72 h of 5-minute values
JOB_S = 6 * 3600
N_REGIONS = 16
T0 = datetime(2024, 3, 1, tzinfo=UTC)


def synthetic_intensity(n_regions: int, n_points: int, seed: int = 20240301) -> np.ndarray:
    """Realistic-looking gCO2eq/kWh: per-region level, diurnal swing with a solar dip, AR(1) noise."""
    rng = np.random.default_rng(seed)
    hours = np.arange(n_points) * STEP_S / 3600.0
    out = np.empty((n_regions, n_points))
    for r in range(n_regions):
        level = rng.uniform(60.0, 450.0)
        swing = rng.uniform(0.15, 0.45) * level
        phase = rng.uniform(-2.0, 2.0)
        solar = rng.uniform(0.0, 0.3) * level
        diurnal = swing * np.cos(2 * np.pi * (hours - 19.0 - phase) / 24.0)
        midday = -solar * np.exp(-0.5 * (((hours % 24.0) - 13.0 - phase) / 2.5) ** 2)
        trend = rng.uniform(-0.1, 0.1) * level * hours / hours[-1]
        noise = np.zeros(n_points)
        eps = rng.normal(0.0, 0.04 * level, n_points)
        for i in range(1, n_points):
            noise[i] = 0.9 * noise[i - 1] + eps[i]
        out[r] = np.maximum(level + diurnal + midday + trend + noise, 5.0)
    return out


def real_series() -> tuple[np.ndarray | None, str]:
    """72 h of real 5-minute intensity (WattTime CAISO North, from ../shared), or None when it is absent."""
    from greenci.shared_data import find_shared_data

    found = find_shared_data()
    if found is None:
        return None, ""
    from greenci.sources import read_intensity

    [series] = read_intensity([found / "intensity" / "vessim" / "watttime_caiso_north_2023-06.csv"])
    values = series.values_g_per_kwh[:N_POINTS]
    if values.size < N_POINTS or not np.isfinite(values).all():
        return None, ""
    return values.copy(), (f"real: WattTime MOER CAISO North, 5-minute steps, {series.times[0]}Z + 72 h "
                           "(../shared vessim file)")


def auto_number(fn: Callable[[], object], target_s: float = 0.05) -> int:
    """Calls per timeit run so that one run lasts about ``target_s``."""
    n = 1
    while True:
        took = timeit.Timer(fn).timeit(number=n)
        if took >= target_s or n >= 1_000_000:
            return n
        n *= 2 if took <= 0 else max(2, min(10, int(target_s / took) + 1))


def trapezoid_mean(v: np.ndarray, i: int, n: int) -> float:
    """Mean intensity of points i..i+n joined by lines (cats' rule); needs v[i + n]."""
    return float((0.5 * v[i] + v[i + 1:i + n].sum() + 0.5 * v[i + n]) / n)


def constant_mean(v: np.ndarray, i: int, n: int) -> float:
    """Mean intensity of slots i..i+n-1, each value held over its slot (greenci's rule)."""
    return float(v[i:i + n].mean())


def fmt_t(seconds: float) -> str:
    if seconds >= 1e-3:
        return f"{seconds * 1e3:9.3f} ms"
    return f"{seconds * 1e6:9.1f} us"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9, help="timeit repeats (median is reported)")
    args = parser.parse_args()

    from cats.forecast import PointEstimate, WindowedForecast

    values16 = synthetic_intensity(N_REGIONS, N_POINTS)
    v, source = real_series()
    if v is None:
        v, source = values16[0], "SYNTHETIC (seeded NumPy: diurnal cycle + solar dip + AR(1) noise)"
    times64 = np.datetime64(T0.replace(tzinfo=None), "s") + np.arange(N_POINTS) * np.timedelta64(STEP_S, "s")
    regions16 = tuple(f"SYN-{r:02d}" for r in range(N_REGIONS))
    # cats' input: the same values as a list of point estimates (built outside the timed region,
    # as a caller would already hold its parsed forecast)
    cats_data = [PointEstimate(value=float(x), datetime=T0 + timedelta(seconds=STEP_S * i)) for i, x in enumerate(v)]
    job_min = JOB_S // 60
    n = JOB_S // STEP_S

    # ---------------------------------------------------------------- the calls being timed
    def cats_best() -> object:
        return min(WindowedForecast(cats_data, job_min, T0))

    def greenci_1() -> object:
        grid = IntensityGrid(regions=("SYN-00",), start=times64[0], step_s=STEP_S, values=v[None, :])
        return grid.best_window(JOB_S)

    def greenci_1_series() -> object:
        grid = IntensityGrid.from_series([IntensitySeries("SYN-00", times64, v, synthetic=True)])
        return grid.best_window(JOB_S)

    def greenci_16() -> object:
        grid = IntensityGrid(regions=regions16, start=times64[0], step_s=STEP_S, values=values16)
        return grid.best_window(JOB_S)

    grid1 = IntensityGrid(regions=("SYN-00",), start=times64[0], step_s=STEP_S, values=v[None, :])
    grid16 = IntensityGrid(regions=regions16, start=times64[0], step_s=STEP_S, values=values16)

    def greenci_1_reused() -> object:
        return grid1.best_window(JOB_S)

    def greenci_16_reused() -> object:
        return grid16.best_window(JOB_S)

    cases: list[tuple[str, Callable[[], object]]] = [
        ("cats WindowedForecast + min(), 1 region", cats_best),
        ("greenci IntensityGrid(arrays) + best_window, 1 region", greenci_1),
        ("greenci from_series(IntensitySeries) + best_window, 1 region", greenci_1_series),
        ("greenci IntensityGrid(arrays) + best_window, 16 regions", greenci_16),
        ("greenci grid built once, best_window only, 1 region", greenci_1_reused),
        ("greenci grid built once, best_window only, 16 regions", greenci_16_reused),
    ]
    numbers = {name: auto_number(fn) for name, fn in cases}
    for _, fn in cases:
        fn()  # warm up (imports, caches of the library itself, not of our inputs)
    rounds: dict[str, list[float]] = {name: [] for name, _ in cases}
    for _ in range(args.repeats):  # interleaved: each round times every case once
        for name, fn in cases:
            rounds[name].append(timeit.Timer(fn).timeit(number=numbers[name]) / numbers[name])
    timings = {name: statistics.median(r) for name, r in rounds.items()}
    fastest = {name: min(r) for name, r in rounds.items()}

    # ---------------------------------------------------------------- answers
    cats_win = cats_best()
    g1 = greenci_1()
    g16 = greenci_16()
    i_cats = int((cats_win.start - T0).total_seconds()) // STEP_S  # type: ignore[attr-defined]
    i_green = int((g1.start - times64[0]).astype(np.int64)) // STEP_S  # type: ignore[attr-defined]

    # ---------------------------------------------------------------- table
    name_w = max(len(k) for k in timings)
    print("Best-window search: 6 h job over a 72 h forecast at 5-minute steps (864 points)")
    print(f"Intensity (1 region): {source}; the same series for both tools")
    print(f"16-region cases: {N_REGIONS} SYNTHETIC regions x {N_POINTS} slots. "
          f"Times: median of {args.repeats} interleaved rounds, per call.")
    print()
    print(f"{'case':<{name_w}}  {'median/call':>12}  {'min/call':>12}  {'calls/run':>9}  {'cats / this':>11}")
    print("-" * (name_w + 54))
    cats_t = timings[cases[0][0]]
    for name, _ in cases:
        t = timings[name]
        print(f"{name:<{name_w}}  {fmt_t(t):>12}  {fmt_t(fastest[name]):>12}  {numbers[name]:>9}  "
              f"{cats_t / t:>10.0f}x")
    print("(cats / this: ratio of medians)")
    print()
    r1 = cats_t / timings[cases[1][0]]
    r16 = cats_t / timings[cases[3][0]]
    print(f"ratio cats(1 region) / greenci(1 region, incl. construction)   = {r1:8.0f}x   target >= 1000x: "
          f"{'met' if r1 >= 1000 else 'NOT met'}")
    print(f"ratio cats(1 region) / greenci(16 regions, incl. construction) = {r16:8.0f}x   target >=  100x: "
          f"{'met' if r16 >= 100 else 'NOT met'}")
    print(f"ratio cats(1 region) / greenci(1 region, grid reused)          = "
          f"{cats_t / timings[cases[4][0]]:8.0f}x")
    print(f"ratio cats(1 region) / greenci(16 regions, grid reused)        = "
          f"{cats_t / timings[cases[5][0]]:8.0f}x")
    print()
    print("Answers (SYN-00; cats scores windows by the trapezoid rule, greenci by piecewise-constant slots;")
    print(f"cats has {N_POINTS - n} candidate starts, the last window ending on the last point; greenci has "
          f"{N_POINTS - n + 1}, the last slot covering the 5 min after the last point)")
    print(f"  cats    start {cats_win.start.strftime('%Y-%m-%dT%H:%M:%SZ')}  "  # type: ignore[attr-defined]
          f"own-rule mean {cats_win.value:8.3f} g/kWh")  # type: ignore[attr-defined]
    print(f"  greenci start {iso(g1.start)}  own-rule mean {g1.mean_g_per_kwh:8.3f} g/kWh")  # type: ignore[attr-defined]
    rows = []
    for rule, fn in (("trapezoid (cats)", trapezoid_mean), ("piecewise-constant (greenci)", constant_mean)):
        c = fn(v, i_cats, n)
        g = fn(v, i_green, n) if (fn is constant_mean or i_green + n < N_POINTS) else float("nan")
        rows.append((rule, c, g))
    print(f"  {'evaluated with':<30} {'cats window':>12} {'greenci window':>15} {'greenci - cats':>15}")
    for rule, c, g in rows:
        print(f"  {rule:<30} {c:>12.3f} {g:>15.3f} {g - c:>+15.3f}  ({(g - c) / c * 100:+.3f} %)")
    same = "the same start" if i_cats == i_green else f"starts {abs(i_green - i_cats) * STEP_S // 60} min apart"
    print(f"  -> {same}")
    print(f"  (1 region: {'real' if source.startswith('real') else 'SYNTHETIC'} data)")
    print(f"  16 regions: greenci picks {g16.region} at {iso(g16.start)}, "  # type: ignore[attr-defined]
          f"mean {g16.mean_g_per_kwh:.3f} g/kWh (synthetic)")  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()
