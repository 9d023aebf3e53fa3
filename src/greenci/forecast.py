"""Carbon-intensity forecasts from history, and how wrong they are on real data.

A scheduler decides on what is known at decision time, so every forecast here is made from the past
only, and the rule for "the past" is structural, not a promise:

* **Known slots.** At issue time ``T`` a slot is known when its *end* is at or before ``T``: slots
  ``0 .. n_known - 1`` with ``n_known = floor((T - grid.start) / step)`` (clamped to the grid).
  :meth:`forecast` copies exactly those columns and hands the copy to the model's ``predict``; the model
  never holds a reference to the rest of the grid.
* **Forecast slots.** The forecast grid starts at the first slot boundary at or after ``T`` and holds
  ``ceil(horizon_s / step)`` slots. When ``T`` falls inside a slot, that slot is neither known nor
  forecast.
* **Lead.** A target slot's lead ``k`` is its index minus ``n_known``: lead 0 is the first unknown slot.
* **Horizon.** A horizon of ``h`` hours (in :func:`evaluate`) is the slot that *ends* ``h`` hours after the
  issue time, i.e. starts at ``T + h - step``: the last slot of ``forecast(grid, T, h * 3600)`` for a
  slot-aligned ``T``. On an hourly grid horizon 1 h is lead 0 and horizon 24 h is lead 23.
* **Gaps.** Before a model reads the history, gaps are held forward (last known value). Holding is causal
  (it only looks back), so it cannot leak the future; leading gaps stay NaN and give NaN forecasts.

Models (all vectorised over regions):

* :class:`Persistence` - the same slot of the latest fully known day: ``t - 24 h * ceil(lead / 24 h)``
  (for leads up to a day this is "the same slot yesterday").
* :class:`SeasonalNaive` - the same, a week back: ``t - 168 h * ceil(lead / 168 h)``.
* :class:`RidgeLags` - a ridge regression per region and lead band on recent lags and calendar one-hots,
  fitted on every (issue point, target) pair whose target is known at issue time (an expanding window),
  refitted at every call; negative predictions are clipped to 0; too little history falls back to
  persistence.

:func:`evaluate` replays the models over a grid without calling :meth:`forecast` once per issue: lags are
index arithmetic on the (causally held) full array, and ridge refits at *every* issue time (daily by
default) from cumulative ``X^T X`` / ``X^T y`` sums, exact for an expanding window: one batched matmul and
one batched 39 x 39 solve per issue, region and band. Its cost grows with the number of issues
(``issue_every_h=1`` costs about 24 times the daily default). A test checks that both paths agree and
that corrupting the future changes neither.
"""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, ClassVar, Protocol, runtime_checkable

import numpy as np

from greenci.errors import InputError
from greenci.grid import IntensityGrid
from greenci.timeutil import iso, to_datetime64

if TYPE_CHECKING:
    from greenci.scheduling.kernel import ForecastSurface

HOUR_S = 3600
DAY_S = 24 * HOUR_S
WEEK_S = 7 * DAY_S
DEFAULT_HORIZONS_H: tuple[int, ...] = (1, 6, 12, 24, 48)
DEFAULT_WARMUP_S = 28 * DAY_S
MIN_WARMUP_S = WEEK_S

Progress = Callable[[int, int], None]


@runtime_checkable
class Forecaster(Protocol):
    """What every model offers: a pure prediction from a history array, and a grid-level forecast."""

    name: str

    def predict(self, history: np.ndarray, start: np.datetime64, step_s: int, leads: np.ndarray) -> np.ndarray:
        """Values (regions x leads) of slots ``history.shape[1] + leads`` from the known ``history`` only."""
        ...

    def forecast(self, grid: IntensityGrid, issued_at: object, horizon_s: int) -> IntensityGrid:
        """A grid of forecasts from the slot boundary at/after ``issued_at``, made from known slots only."""
        ...


@dataclass(frozen=True)
class ForecastScore:
    """Error of one model at one horizon in one region, over all issue times of an evaluation."""

    region: str
    model: str
    horizon_h: int
    mae_g_per_kwh: float
    mape_pct: float
    n: int


# --------------------------------------------------------------------------------------- helpers
def _slots_per(span_s: int, step_s: int, what: str) -> int:
    """Whole slots in ``span_s``; seasonal lags need a step that divides the span."""
    if span_s % step_s:
        raise InputError(f"{what} ({span_s} s) is not a whole number of {step_s} s slots: use a step that divides it")
    return span_s // step_s


def hold_forward(values: np.ndarray) -> np.ndarray:
    """Each gap replaced by the last earlier value (row-wise); leading gaps stay NaN.

    Causal: column ``i`` of the result depends only on columns ``<= i``, so it is safe to compute once
    on a full grid and index into, which is what makes :func:`evaluate` fast without peeking.
    """
    values = np.atleast_2d(np.asarray(values, dtype=np.float64))
    ok = ~np.isnan(values)
    if ok.all():
        return values.copy()
    idx = np.where(ok, np.arange(values.shape[1]), -1)
    np.maximum.accumulate(idx, axis=1, out=idx)
    out = np.take_along_axis(values, np.maximum(idx, 0), axis=1)
    out[idx < 0] = np.nan
    return out


def _seasonal_source(n_known: np.ndarray | int, leads: np.ndarray, period: int) -> np.ndarray:
    """Index of the latest known slot at a whole number of periods before each target slot.

    Target ``n_known + k`` minus ``period * ceil((k + 1) / period)`` is always ``<= n_known - 1``.
    """
    leads = np.asarray(leads, dtype=np.int64)
    return np.asarray(n_known, dtype=np.int64) + leads - period * ((leads + period) // period)


def _take(held: np.ndarray, src: np.ndarray) -> np.ndarray:
    """``held[:, src]`` with NaN where ``src`` is before the first slot."""
    out = held[:, np.maximum(src, 0)]
    out[:, src < 0] = np.nan
    return out


def _check_leads(leads: np.ndarray) -> np.ndarray:
    leads = np.asarray(leads, dtype=np.int64).ravel()
    if leads.size and leads.min() < 0:
        raise InputError(f"lead {int(leads.min())} is negative: leads count slots after the last known one")
    return leads


class _GridForecast(ABC):
    """The structural no-peeking rule, shared by every model: slice, copy, then predict."""

    name: ClassVar[str]

    @abstractmethod
    def predict(self, history: np.ndarray, start: np.datetime64, step_s: int, leads: np.ndarray) -> np.ndarray:
        """Values for slots ``n + leads`` from the known ``history`` (regions x n) alone."""

    def forecast(self, grid: IntensityGrid, issued_at: object, horizon_s: int) -> IntensityGrid:
        """Forecast ``ceil(horizon_s / step)`` slots from the boundary at/after ``issued_at``.

        Only ``grid.values[:, :n_known]`` (slots that end at or before ``issued_at``) is copied and passed
        on; ``issued_at`` may lie after the grid's end (a forecast for "now" from a stale history).
        """
        if not np.isfinite(horizon_s) or horizon_s <= 0:
            raise InputError(f"horizon {horizon_s} s must be a positive number of seconds")
        step = grid.step_s
        offset_s = int(to_datetime64(issued_at).astype(np.int64) - grid.start.astype(np.int64))
        n_known = min(max(offset_s // step, 0), grid.n_slots)
        if n_known == 0:
            raise InputError(
                f"issued_at {issued_at} is not after the first slot of the grid ({iso(grid.start)}): "
                "a forecast needs at least one known slot; issue it later or give a longer history"
            )
        first = -(-offset_s // step)
        n_out = -(-int(horizon_s) // step)
        leads = first - n_known + np.arange(n_out)
        history = grid.values[:, :n_known].copy()
        values = np.asarray(self.predict(history, grid.start, step, leads), dtype=np.float64)
        return IntensityGrid(
            regions=grid.regions,
            start=grid.start + np.timedelta64(first * step, "s"),
            step_s=step,
            values=values,
            signal=grid.signal,
            synthetic=grid.synthetic,
            sources=(f"forecast:{self.name}", *grid.sources),
        )


# --------------------------------------------------------------------------------------- naive models
@dataclass(frozen=True)
class _SeasonalLag(_GridForecast):
    """The same slot one (or more) whole periods back, the latest such slot that is known."""

    period_s: int

    def predict(self, history: np.ndarray, start: np.datetime64, step_s: int, leads: np.ndarray) -> np.ndarray:
        history = np.atleast_2d(np.asarray(history, dtype=np.float64))
        leads = _check_leads(leads)
        period = _slots_per(self.period_s, step_s, f"{self.name} period")
        return _take(hold_forward(history), _seasonal_source(history.shape[1], leads, period))

    def _at_issues(self, held: np.ndarray, values: np.ndarray, start_s: int, step_s: int,
                   issues: np.ndarray, leads: np.ndarray) -> np.ndarray:
        """Predictions (regions x issues x leads) for many issue slots at once from the held full grid."""
        period = _slots_per(self.period_s, step_s, f"{self.name} period")
        src = _seasonal_source(issues[:, None], leads[None, :], period)
        return _take(held, src.ravel()).reshape(held.shape[0], *src.shape)


@dataclass(frozen=True)
class Persistence(_SeasonalLag):
    """The same slot on the latest fully known day: "tomorrow looks like today"."""

    name: ClassVar[str] = "persistence"
    period_s: int = DAY_S


@dataclass(frozen=True)
class SeasonalNaive(_SeasonalLag):
    """The same slot in the latest fully known week: keeps the weekday rhythm persistence misses."""

    name: ClassVar[str] = "seasonal-naive"
    period_s: int = WEEK_S


# --------------------------------------------------------------------------------------- ridge
# Lead bands. A lead is served by the model of the smallest band edge at or above it, trained at the
# largest lead within that edge: short leads lean on the last value, long ones on the seasonal lags.
# The last slot of each whole day ahead (lead = d days) is a band of its own: there "the same slot on
# the latest known day" *is* the last value, so a model trained there cannot tell their weights apart and
# must not be borrowed by other leads. Edges: 1, 2, 3, 6, 12, 18 h, then d days - 1 step, d days,
# d days + 12 h for d = 1, 2, ... (the default evaluation horizons 1, 6, 12, 24, 48 h are trained exactly).
_SHORT_EDGES_S: tuple[int, ...] = tuple(h * HOUR_S for h in (1, 2, 3, 6, 12, 18))


def _band_lead(lead: int, step_s: int) -> int:
    """The lead (in slots, 0-based) that the model serving ``lead`` is trained at."""
    lead_s = (int(lead) + 1) * step_s
    if lead_s % DAY_S == 0:
        return int(lead)
    day = lead_s // DAY_S
    if day == 0:
        edges = [e for e in _SHORT_EDGES_S if e < DAY_S - step_s] + [DAY_S - step_s]
    else:
        edges = [day * DAY_S + 12 * HOUR_S, (day + 1) * DAY_S - step_s]
    edge = next(e for e in edges if e >= lead_s)
    return max(edge // step_s - 1, int(lead))


_N_LAGS = 7
_ISSUE_CHUNK = 256  # issues whose normal equations are stacked at once in the backtest
_N_FEATURES = 1 + _N_LAGS + 24 + 7
_CAL = 1 + _N_LAGS  # first calendar column


@dataclass(frozen=True)
class _Lagged:
    """One region's held series with prefix sums, so features of any issue point are O(1) lookups."""

    held: np.ndarray
    sums: np.ndarray
    counts: np.ndarray
    start_s: int
    step_s: int
    day: int
    week: int

    @classmethod
    def of(cls, held: np.ndarray, start_s: int, step_s: int) -> _Lagged:
        ok = np.isfinite(held)
        zero = np.zeros(1)
        return cls(held, np.concatenate([zero, np.cumsum(np.where(ok, held, 0.0))]),
                   np.concatenate([zero, np.cumsum(ok)]), start_s, step_s,
                   _slots_per(DAY_S, step_s, "a day"), _slots_per(WEEK_S, step_s, "a week"))

    def design(self, rows: np.ndarray, lead: np.ndarray | int) -> np.ndarray:
        """Features (len(rows) x F) for issue points ``rows`` (number of known slots) at ``lead``.

        Row ``r`` reads ``held[:r]`` only: last value, the value a day and a week before it, the same
        slot on the latest known day and week, the means of the last day and week, then one-hots of
        the target slot's UTC hour and weekday. Rows without a full week of history are NaN.
        """
        rows, lead = np.broadcast_arrays(np.asarray(rows, np.int64), np.asarray(lead, np.int64))
        x = np.full((rows.size, _N_FEATURES), np.nan)
        n, day, week = self.held.size, self.day, self.week
        ok = (rows > week) & (rows <= n)
        if not ok.any():
            return x
        r, k = rows[ok], lead[ok]
        j = r + k
        h = self.held
        f = np.empty((r.size, _N_FEATURES))
        f[:, 0] = 1.0
        f[:, 1] = h[r - 1]
        f[:, 2] = h[r - 1 - day]
        f[:, 3] = h[r - 1 - week]
        f[:, 4] = h[_seasonal_source(r, k, day)]
        f[:, 5] = h[_seasonal_source(r, k, week)]
        for col, span in ((6, day), (7, week)):
            full = (self.counts[r] - self.counts[r - span]) == span
            f[:, col] = np.where(full, (self.sums[r] - self.sums[r - span]) / span, np.nan)
        t = self.start_s + j * self.step_s
        f[:, _CAL:_CAL + 24] = ((t // HOUR_S) % 24)[:, None] == np.arange(24)
        f[:, _CAL + 24:] = ((t // DAY_S + 3) % 7)[:, None] == np.arange(7)  # 1970-01-01 was a Thursday
        x[ok] = f
        return x


@dataclass(frozen=True)
class RidgeLags(_GridForecast):
    """Ridge regression on recent lags and calendar one-hots, one model per region and lead band.

    Fitted in closed form (normal equations) on all (issue point, target) pairs whose target is known,
    an expanding window. ``alpha`` penalises the calendar one-hots (in row equivalents; it also makes the
    collinear one-hots + intercept solvable); lag weights get only a tiny relative penalty for numerical
    safety. With fewer than ``min_rows`` usable training rows, or no full week of history, a lead falls
    back to :class:`Persistence`.
    """

    name: ClassVar[str] = "ridge"
    alpha: float = 10.0
    min_rows: int = 168
    lag_penalty: float = 1e-6

    def _penalty(self, gram_diag: np.ndarray) -> np.ndarray:
        pen = np.full(gram_diag.shape, float(self.alpha))
        pen[..., 0] = 0.0
        pen[..., 1:_CAL] = self.lag_penalty * gram_diag[..., 1:_CAL]
        return pen + 1e-9

    def _solve(self, gram: np.ndarray, rhs: np.ndarray, count: np.ndarray) -> np.ndarray:
        """Weights for a stack of normal equations; NaN where too few rows were seen."""
        w = np.full(rhs.shape, np.nan)
        use = count >= self.min_rows
        if use.any():
            g = gram[use].copy()
            i = np.arange(g.shape[-1])
            g[:, i, i] += self._penalty(g[:, i, i])
            # Jacobi scaling: intensities (~1e2) and one-hots (~1) differ in scale; the solution is unchanged
            d = 1.0 / np.sqrt(g[:, i, i])
            g *= d[:, :, None] * d[:, None, :]
            b = rhs[use] * d
            try:
                v = np.linalg.solve(g, b[..., None])[..., 0]
            except np.linalg.LinAlgError:
                v = np.stack([np.linalg.lstsq(a, c, rcond=None)[0] for a, c in zip(g, b, strict=True)])
            w[use] = v * d
        return w

    def predict(self, history: np.ndarray, start: np.datetime64, step_s: int, leads: np.ndarray) -> np.ndarray:
        history = np.atleast_2d(np.asarray(history, dtype=np.float64))
        leads = _check_leads(leads)
        n = history.shape[1]
        held = hold_forward(history)
        start_s = int(np.datetime64(start, "s").astype(np.int64))
        out = Persistence().predict(history, start, step_s, leads)
        bands = np.array([_band_lead(k, step_s) for k in leads], dtype=np.int64)
        for r in range(history.shape[0]):
            lag = _Lagged.of(held[r], start_s, step_s)
            for band in np.unique(bands):
                rows = np.arange(max(n - band, 0))
                x = lag.design(rows, band)
                y = history[r, rows + band]
                ok = np.isfinite(x).all(axis=1) & np.isfinite(y)
                xo = x[ok]
                w = self._solve((xo.T @ xo)[None], (xo.T @ y[ok])[None], np.array([xo.shape[0]]))[0]
                sel = bands == band
                pred = np.maximum(lag.design(np.full(int(sel.sum()), n), leads[sel]) @ w, 0.0)
                out[r, sel] = np.where(np.isfinite(pred), pred, out[r, sel])
        return out

    def _at_issues(self, held: np.ndarray, values: np.ndarray, start_s: int, step_s: int,
                   issues: np.ndarray, leads: np.ndarray,
                   on_region: Callable[[], None] | None = None, refit_every: int = 1) -> np.ndarray:
        """Predictions (regions x issues x leads), refitting from cumulative sums.

        Issues must be evenly spaced. Training rows are grouped by target slot into the intervals between
        issue times, each interval's ``X^T X`` is one batched matmul, and a cumulative sum gives the
        expanding-window normal equations at every issue: the same fit :meth:`predict` makes. With
        ``refit_every = k > 1`` the weights are refitted at every k-th issue and the others use the latest
        earlier fit (still only past data: the fit saw only targets before its own, earlier, issue time).
        """
        n_regions, n = values.shape
        fallback = Persistence()._at_issues(held, values, start_s, step_s, issues, leads)
        out = fallback.copy()
        spacing = np.unique(np.diff(issues))
        if spacing.size > 1:
            raise InputError("issue times must be evenly spaced for the cumulative ridge fit")
        every = int(spacing[0]) if spacing.size else 1
        bands = np.array([_band_lead(k, step_s) for k in leads], dtype=np.int64)
        refit_every = max(1, int(refit_every))
        fit_issues = issues[::refit_every]
        which = np.arange(issues.size) // refit_every
        for r in range(n_regions):
            lag = _Lagged.of(held[r], start_s, step_s)
            for band in np.unique(bands):
                w = self._weights_at_issues(lag, values[r], fit_issues, int(band), every * refit_every)[which]
                for li in np.flatnonzero(bands == band):
                    pred = np.maximum(np.einsum("if,if->i", lag.design(issues, leads[li]), w), 0.0)
                    out[r, :, li] = np.where(np.isfinite(pred), pred, fallback[r, :, li])
            if on_region is not None:
                on_region()
        return out

    def _weights_at_issues(self, lag: _Lagged, actual: np.ndarray, issues: np.ndarray, band: int,
                           every: int) -> np.ndarray:
        """Ridge weights (issues x F) fitted on rows whose target ``row + band`` is before each issue."""
        base = int(issues[0]) - band  # rows < base have targets before the first issue

        def summed(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            x = lag.design(rows, band)  # NaN for rows without a full week of history (incl. rows < 0)
            y = actual[np.clip(rows + band, 0, actual.size - 1)]
            ok = np.isfinite(x).all(axis=1) & np.isfinite(y)
            return np.where(ok[:, None], x, 0.0), np.where(ok, y, 0.0), ok

        z, yz, ok = summed(np.arange(max(base, 0)))
        gram, rhs, count = (z.T @ z)[None], (z.T @ yz)[None], np.array([ok.sum()], dtype=np.float64)
        weights = np.empty((issues.size, _N_FEATURES))
        weights[:1] = self._solve(gram, rhs, count)
        # rows whose target lies between issue i-1 and issue i form block i; chunks bound the memory
        for lo in range(1, issues.size, _ISSUE_CHUNK):
            hi = min(lo + _ISSUE_CHUNK, issues.size)
            z, yz, ok = summed(np.arange(base + (lo - 1) * every, base + (hi - 1) * every))
            zb = z.reshape(hi - lo, every, _N_FEATURES)
            gram = gram[-1] + np.cumsum(np.einsum("bef,beg->bfg", zb, zb, optimize=True), axis=0)
            rhs = rhs[-1] + np.cumsum(np.einsum("bef,be->bf", zb, yz.reshape(hi - lo, every)), axis=0)
            count = count[-1] + np.cumsum(ok.reshape(hi - lo, every).sum(axis=1))
            weights[lo:hi] = self._solve(gram, rhs, count)
        return weights


# --------------------------------------------------------------------------------------- registry
#: The registry of forecast models: adding one is one class (a ``_GridForecast``) and one line here.
_MODELS: dict[str, type[_GridForecast]] = {"persistence": Persistence, "seasonal-naive": SeasonalNaive,
                                           "ridge": RidgeLags}
FORECASTERS: tuple[str, ...] = tuple(_MODELS)


def make_forecaster(name: str) -> Forecaster:
    """The model called ``name`` (one of :data:`FORECASTERS`) with its default settings."""
    try:
        return _MODELS[name]()  # type: ignore[return-value]
    except KeyError:
        raise InputError(f"forecaster {name!r} is unknown: choose one of {', '.join(FORECASTERS)}") from None


# --------------------------------------------------------------------------------------- evaluation
def _horizon_leads(horizons_h: Sequence[int], step_s: int) -> np.ndarray:
    leads = []
    for h in horizons_h:
        if int(h) != h or h <= 0:
            raise InputError(f"horizon {h} h must be a positive whole number of hours")
        leads.append(_slots_per(int(h) * HOUR_S, step_s, f"horizon {h} h") - 1)
    if not leads:
        raise InputError("no horizon given: pass at least one, e.g. horizons_h=(1, 24)")
    return np.array(leads, dtype=np.int64)


def issue_slots(grid: IntensityGrid, issue_every_h: int = 24, start: object = None,
                max_horizon_h: int = max(DEFAULT_HORIZONS_H)) -> np.ndarray:
    """Slot indices at which :func:`evaluate` issues forecasts.

    From ``start`` (default: 28 days after the grid's start, a week of lags plus three weeks of ridge
    training rows; at least 7 days) every ``issue_every_h`` hours, while the longest horizon's target
    still lies inside the grid, so every horizon is scored on the same issue times.
    """
    step = grid.step_s
    if int(issue_every_h) != issue_every_h or issue_every_h <= 0:
        raise InputError(f"issue_every_h {issue_every_h} must be a positive whole number of hours")
    every = _slots_per(int(issue_every_h) * HOUR_S, step, f"issue_every_h {issue_every_h}")
    warm = _slots_per(MIN_WARMUP_S, step, "the warm-up")
    if start is None:
        first = -(-DEFAULT_WARMUP_S // step)
    else:
        first = -(-int(to_datetime64(start).astype(np.int64) - grid.start.astype(np.int64)) // step)
        if first < warm:
            raise InputError(
                f"start {start} leaves less than 7 days of history before the first forecast "
                f"(grid starts {iso(grid.start)}): start on or after "
                f"{iso(grid.start + np.timedelta64(MIN_WARMUP_S, 's'))}"
            )
    last_lead = _horizon_leads([max_horizon_h], step)[0]
    issues = np.arange(first, grid.n_slots - last_lead, every, dtype=np.int64)
    if issues.size == 0:
        need_h = (first + last_lead + 1) * step / HOUR_S
        raise InputError(
            f"the intensity series ({iso(grid.start)}..{iso(grid.end)}, {grid.n_slots * step / DAY_S:.1f} days) is "
            f"too short to evaluate forecasts: the first forecast comes after {first * step / DAY_S:g} days of "
            f"history and must still be scored {max_horizon_h} h ahead, so at least {need_h / 24:.1f} days are "
            "needed; give a longer intensity series (e.g. a whole year)"
        )
    return issues


def predictions_at_issues(grid: IntensityGrid, model_names: Sequence[str], horizons_h: Sequence[int],
                          issues: np.ndarray, progress: Progress | None = None) -> dict[str, np.ndarray]:
    """Each model's predictions (regions x issues x horizons) at the given issue slots, vectorised.

    Equal to calling ``forecast`` at every issue time (tests check it), but one pass per model.
    """
    leads = _horizon_leads(horizons_h, grid.step_s)
    issues = np.asarray(issues, dtype=np.int64)
    models = [make_forecaster(name) for name in model_names]
    held = hold_forward(grid.values)
    start_s = int(grid.start.astype(np.int64))
    n_regions = len(grid.regions)
    total, done = len(models) * n_regions, 0
    out: dict[str, np.ndarray] = {}

    def tick(k: int = 1) -> None:
        nonlocal done
        done += k
        if progress is not None:
            progress(done, total)

    for model in models:
        if isinstance(model, RidgeLags):
            out[model.name] = model._at_issues(held, grid.values, start_s, grid.step_s, issues, leads, tick)
        else:
            out[model.name] = model._at_issues(held, grid.values, start_s, grid.step_s, issues, leads)  # type: ignore[attr-defined]
            tick(n_regions)
    return out


def evaluate(grid: IntensityGrid, model_names: Sequence[str] = FORECASTERS,
             horizons_h: Sequence[int] = DEFAULT_HORIZONS_H, issue_every_h: int = 24, start: object = None,
             progress: Progress | None = None) -> list[ForecastScore]:
    """Backtest: issue forecasts every ``issue_every_h`` hours and score each horizon against actuals.

    Rows come region by region, then model, then horizon. MAE skips NaN actuals (and NaN forecasts, which
    only leading gaps produce); MAPE also skips actuals of 0. ``progress(done, total)`` is called as
    (model, region) units finish.
    """
    names = list(dict.fromkeys(model_names))
    if not names:
        raise InputError(f"no model given: choose from {', '.join(FORECASTERS)}")
    for name in names:
        make_forecaster(name)
    leads = _horizon_leads(horizons_h, grid.step_s)
    horizons = [int(h) for h in horizons_h]
    issues = issue_slots(grid, issue_every_h, start, max(horizons))
    preds = predictions_at_issues(grid, names, horizons, issues, progress)
    actual = grid.values[:, issues[:, None] + leads[None, :]]  # regions x issues x horizons
    _check_scorable(grid, actual, horizons, issues)
    scores = []
    for ri, region in enumerate(grid.regions):
        for name in names:
            for hi, h in enumerate(horizons):
                a, p = actual[ri, :, hi], preds[name][ri, :, hi]
                ok = np.isfinite(a) & np.isfinite(p)
                err = np.abs(p[ok] - a[ok])
                nz = a[ok] != 0
                scores.append(ForecastScore(
                    region=region, model=name, horizon_h=h,
                    mae_g_per_kwh=float(err.mean()) if err.size else float("nan"),
                    mape_pct=float(100.0 * np.mean(err[nz] / np.abs(a[ok][nz]))) if nz.any() else float("nan"),
                    n=int(ok.sum()),
                ))
    return scores


def _check_scorable(grid: IntensityGrid, actual: np.ndarray, horizons: Sequence[int], issues: np.ndarray) -> None:
    """Refuse an evaluation in which some horizon has no known actual value at all (nothing to score).

    Such a series is long enough on paper but mostly gaps (e.g. a few days of values and one stray row
    weeks later); every score would be empty, which is no result.
    """
    known = np.isfinite(actual).sum(axis=(0, 1))
    empty = [h for h, k in zip(horizons, known, strict=True) if k == 0]
    if not empty:
        return
    gaps = int(np.isnan(grid.values).sum())
    total = int(grid.values.size)
    raise InputError(
        f"the intensity series ({iso(grid.start)}..{iso(grid.end)}) has no known value at any target of the "
        f"{', '.join(f'{h} h' for h in empty)} horizon(s) (first forecast {iso(grid.times[int(issues[0])])}; "
        f"{gaps:,} of {total:,} slots are gaps), so nothing can be scored: give a longer series without long "
        "gaps (e.g. a whole year of hourly values)"
    )


def mean_scores(scores: Sequence[ForecastScore]) -> list[ForecastScore]:
    """Per (model, horizon), the unweighted mean over regions (region ``"mean"``; ``n`` is the total)."""
    groups: dict[tuple[str, int], list[ForecastScore]] = {}
    for s in scores:
        groups.setdefault((s.model, s.horizon_h), []).append(s)
    return [ForecastScore("mean", model, h, _finite_mean([s.mae_g_per_kwh for s in g]),
                          _finite_mean([s.mape_pct for s in g]), sum(s.n for s in g))
            for (model, h), g in groups.items()]


def _finite_mean(values: Sequence[float]) -> float:
    finite = [v for v in values if np.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")


def forecast_cube(grid: IntensityGrid, model_name: str, horizon_slots: int,
                  issues: np.ndarray | None = None, refit_every_h: float = 168.0) -> np.ndarray:
    """Forecasts issued at slot boundaries ``issues`` for the next ``horizon_slots`` slots.

    Returns ``regions x issues x horizon_slots``: ``cube[r, k, h]`` is the forecast issued at boundary
    ``issues[k]`` (knowing slots ``< issues[k]``) for slot ``issues[k] + h``. ``"perfect"`` gives the
    actual values (an oracle: label results made from it so). Issues default to every slot. The ridge
    model refits every ``refit_every_h`` hours (weights from the latest earlier fit in between): on an
    expanding window of months the weights barely move, and on the shared GitHub Actions trace a weekly
    and a daily refit give the same reductions to 0.01 %, at less than half the cost.
    """
    if horizon_slots < 1:
        raise InputError(f"horizon_slots {horizon_slots} must be at least 1")
    issues = np.arange(grid.n_slots, dtype=np.int64) if issues is None else np.asarray(issues, dtype=np.int64)
    if model_name == "perfect":
        src = issues[:, None] + np.arange(horizon_slots)[None, :]
        padded = np.concatenate([grid.values, np.full((len(grid.regions), 1), np.nan)], axis=1)
        return padded[:, np.minimum(src, grid.n_slots)]
    model = make_forecaster(model_name)
    held = hold_forward(grid.values)
    leads = np.arange(horizon_slots, dtype=np.int64)
    start_s = int(grid.start.astype(np.int64))
    if isinstance(model, RidgeLags):
        refit = max(1, int(refit_every_h * 3600 // grid.step_s))
        return model._at_issues(held, grid.values, start_s, grid.step_s, issues, leads, refit_every=refit)
    return model._at_issues(held, grid.values, start_s, grid.step_s, issues, leads)  # type: ignore[attr-defined]


# --------------------------------------------------------------------------------------- issued forecasts
@dataclass(frozen=True, eq=False)
class IssuedForecast:
    """What a decider may know at one instant: forecasts per region from the slot boundary at or before it.

    ``grid`` starts at that boundary (the slot in progress is part of the forecast: a job may start in
    it), its values are forecasts (or, for ``perfect``, the actuals: ``oracle`` says so). ``method`` says
    in words what produced it; ``fallback`` names the fallback step used (None: the source answered).
    """

    grid: IntensityGrid
    issued_at_s: int
    method: str
    fallback: str | None = None
    oracle: bool = False
    note: str = ""

    @functools.cached_property
    def surface(self) -> ForecastSurface:
        """The kernel's view of it: one issue (index 0) at ``grid.start``, the last value held beyond."""
        from greenci.scheduling.kernel import ForecastSurface

        return ForecastSurface(self.grid.values[:, None, :], self.grid.step_s, first_issue=0)

    def select(self, regions: Sequence[str]) -> IssuedForecast:
        """The same forecast for ``regions`` only (in that order)."""
        if tuple(regions) == self.grid.regions:
            return self
        return replace(self, grid=self.grid.select(list(regions)))


@runtime_checkable
class ForecastProvider(Protocol):
    """Where decisions get intensity: a forecast issued at an instant, and what actually happened.

    Implementations: :class:`GridForecasts` (a history grid and a model, fitted once per issue time),
    :class:`greenci.sources.providers.ClientForecasts` (an API), and the fallback chain
    (:class:`greenci.sources.fallback.FallbackChain`) around either.
    """

    name: str

    @property
    def regions(self) -> tuple[str, ...]:
        """Regions this provider can forecast (empty: any the API knows)."""
        ...

    def forecast(self, regions: Sequence[str], issued_at_s: int, horizon_s: float) -> IssuedForecast:
        """Forecasts for ``regions`` known at ``issued_at_s``, at least ``horizon_s`` long where possible."""
        ...


class GridForecasts:
    """Forecasts made from a history grid by a model, fitted once per issue time and kept (LRU).

    Why a cache: a CI fleet asks many times within one slot (a push starts a dozen jobs); the first
    question fits the model on what was known at that slot boundary, the others reuse the fit. Keys are
    (issue slot, regions, horizon); a horizon shorter than one cached for the same issue reuses it.
    ``forecast_many`` fills the cache for many issue times in one vectorised pass (batches, replays).
    Forecasts never see a slot that had not ended at their issue time; ``perfect`` returns the actuals,
    labelled oracle.
    """

    def __init__(self, grid: IntensityGrid, model: str = "ridge", *, label: str = "", capacity: int = 256,
                 min_horizon_s: float = 48 * HOUR_S) -> None:
        if model != "perfect":
            make_forecaster(model)
        self.grid = grid
        self.model = model
        self.name = f"{model} forecast on {label or ', '.join(grid.sources[:2]) or 'the history grid'}"
        self._capacity = int(capacity)
        self._min_horizon_slots = max(1, int(np.ceil(min_horizon_s / grid.step_s)))
        self._cache: dict[tuple[int, int], IssuedForecast] = {}  # (issue slot, horizon slots) -> all regions

    @property
    def regions(self) -> tuple[str, ...]:
        return self.grid.regions

    def _issue_slot(self, issued_at_s: int) -> int:
        slot = (int(issued_at_s) - self.grid.start_s) // self.grid.step_s
        if slot < 1:
            raise InputError(
                f"a forecast issued at {iso(np.datetime64(int(issued_at_s), 's'))} needs intensity before it: the "
                f"data starts {iso(self.grid.start)}; give intensity covering the weeks before the decision")
        if slot >= self.grid.n_slots:
            raise InputError(
                f"a forecast issued at {iso(np.datetime64(int(issued_at_s), 's'))} is after the intensity data "
                f"ends ({iso(self.grid.end)}): give intensity up to the decision time, or an API source")
        return int(slot)

    def horizon_slots(self, horizon_s: float) -> int:
        """Slots of a forecast covering ``horizon_s`` (at least the provider's minimum, 48 h by default)."""
        need = int(np.ceil(max(float(horizon_s), 1.0) / self.grid.step_s))
        return max(need, self._min_horizon_slots)

    def forecast(self, regions: Sequence[str], issued_at_s: int, horizon_s: float) -> IssuedForecast:
        slot = self._issue_slot(issued_at_s)
        need = self.horizon_slots(horizon_s)
        hit = next((f for (s, h), f in self._cache.items() if s == slot and h >= need), None)
        if hit is None:
            self.forecast_many(np.array([slot]), need)
            hit = self._cache[(slot, need)]
        else:
            self._cache[(slot, hit.grid.n_slots)] = self._cache.pop((slot, hit.grid.n_slots))  # most recent last
        return hit.select(regions)  # the same object (and its kernel surface) for every job of the slot

    def forecast_many(self, slots: np.ndarray, horizon_slots: int) -> None:
        """Fit and keep the forecasts issued at ``slots`` (slot indices of the grid), vectorised."""
        slots = np.unique(np.asarray(slots, dtype=np.int64))
        todo = np.array([s for s in slots if (int(s), horizon_slots) not in self._cache], dtype=np.int64)
        if todo.size:
            cube = forecast_cube(self.grid, self.model, horizon_slots, todo)
            for k, s in enumerate(todo):
                start = self.grid.start + np.timedelta64(int(s) * self.grid.step_s, "s")
                grid = IntensityGrid(self.grid.regions, start, self.grid.step_s, cube[:, k, :], self.grid.signal,
                                     self.grid.synthetic, (f"forecast:{self.model}", *self.grid.sources))
                self._cache[(int(s), horizon_slots)] = IssuedForecast(
                    grid, int(start.astype(np.int64)), self.name, oracle=self.model == "perfect")
        while len(self._cache) > max(self._capacity, slots.size):
            self._cache.pop(next(iter(self._cache)))

    def intensity_over(self, region: str, start_s: int, end_s: int) -> IntensityGrid:
        """One region's values (the whole history grid: the caller checks it covers ``[start_s, end_s)``)."""
        del start_s, end_s
        return self.grid.select([region])


def profile_forecast(times_s: np.ndarray, values: np.ndarray, issued_at_s: int, horizon_s: float,
                     step_s: int = HOUR_S) -> tuple[np.ndarray, str]:
    """A region's historical profile as a forecast: the mean of each UTC hour of the week over past weeks.

    Only values before ``issued_at_s`` are read. Hours of the week never seen take the mean of their hour
    of the day, then the overall mean; no past value at all gives NaN. Returns the values of the slots of
    ``step_s`` from the boundary at or before ``issued_at_s`` covering ``horizon_s``, and how it was made.
    """
    t = np.asarray(times_s, dtype=np.int64)
    v = np.asarray(values, dtype=np.float64)
    past = (t < issued_at_s) & np.isfinite(v)
    t, v = t[past], v[past]
    start = int(issued_at_s) // step_s * step_s
    n = max(1, int(np.ceil((issued_at_s - start + float(horizon_s)) / step_s)))
    slots = start + np.arange(n, dtype=np.int64) * step_s
    if not t.size:
        return np.full(n, np.nan), "no past value"
    how = (t // HOUR_S + 72) % 168  # hour of the week, Monday 00:00 UTC = 0 (1970-01-01 was a Thursday)
    week_sum = np.bincount(how, weights=v, minlength=168)
    week_n = np.bincount(how, minlength=168)
    day_sum = np.bincount(how % 24, weights=v, minlength=24)
    day_n = np.bincount(how % 24, minlength=24)
    target = (slots // HOUR_S + 72) % 168
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(week_n[target] > 0, week_sum[target] / week_n[target],
                       np.where(day_n[target % 24] > 0, day_sum[target % 24] / day_n[target % 24], v.mean()))
    weeks = (int(t[-1]) - int(t[0])) / WEEK_S
    return out, f"hour-of-week mean over {weeks:.1f} weeks of past values"
