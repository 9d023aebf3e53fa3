"""Scheduling strategies: one class each, one interface (``place(jobs, context) -> Placement``), one kernel.

- :class:`RoundRobin`: the study's baseline; region ``j mod R`` in arrival order, start at arrival.
- :class:`LocationShifting`: start at arrival in the region the forecast says is cleanest over the
  estimated duration; jobs without history fall back to round-robin (as in the study).
- :class:`LocationTimeShifting` (LTS-b): also any slot boundary up to ``b`` after arrival; the job's
  deadline is its duration plus ``b``, so waiting at most ``b`` never misses it.
- :class:`Oracle`: LTS with perfect knowledge (actual intensity, true durations): the upper bound.
- :class:`GreenciStrategy`: greenci's own: decides on forecasts, cold-start jobs get a repository-level
  estimate instead of round-robin, honours deadlines (given or inferred nightly windows), the
  preprocessor's rules, an optional price on waiting (carbon saved per hour of delay, GAIA-style),
  per-region runner capacity, and runs interruptible jobs in the cleanest slots of their window.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import numpy as np

from greenci.errors import InputError
from greenci.grid import IntensityGrid
from greenci.jobs import DurationEstimates, DurationModel, JobTable, estimate_durations, history_quantiles
from greenci.scheduling import eligibility as el
from greenci.scheduling.kernel import ActualSurface, ForecastSurface, account, choose


@dataclass(frozen=True, eq=False)
class Context:
    """What strategies share in one simulation: the grid, what deciders see, and duration estimates."""

    grid: IntensityGrid
    actual: ActualSurface
    forecast: ActualSurface | ForecastSurface
    estimates: DurationEstimates
    forecast_name: str = "perfect"

    @classmethod
    def build(cls, jobs: JobTable, grid: IntensityGrid, *, forecast: ForecastSurface | None = None,
              forecast_name: str = "perfect", duration_model: DurationModel | None = None) -> Context:
        actual = ActualSurface(grid)
        return cls(grid=grid, actual=actual, forecast=forecast if forecast is not None else actual,
                   estimates=estimate_durations(jobs, duration_model), forecast_name=forecast_name)

    def arrival_slots(self, jobs: JobTable) -> np.ndarray:
        return (jobs.submitted_s - self.grid.start.astype(np.int64)) / self.grid.step_s

    def allowed_mask(self, jobs: JobTable) -> np.ndarray | None:
        """(J, R) mask of allowed regions, or None when every job may run anywhere."""
        if jobs.allowed_regions is None or all(a is None for a in jobs.allowed_regions):
            return None
        index = {r: i for i, r in enumerate(self.grid.regions)}
        mask = np.ones((len(jobs), len(self.grid.regions)), dtype=bool)
        for j, allowed in enumerate(jobs.allowed_regions):
            if allowed is None:
                continue
            if len(allowed) == 0:
                raise InputError(f"job {jobs.ids[j]}: allowed-regions is empty: list at least one region or drop "
                                 "the key to allow any")
            unknown = [r for r in allowed if r not in index]
            if unknown:
                raise InputError(f"job {jobs.ids[j]}: allowed region(s) {', '.join(unknown)} are not in the "
                                 f"intensity data ({', '.join(self.grid.regions)})")
            mask[j] = False
            mask[j, [index[r] for r in allowed]] = True
        return mask


@dataclass(frozen=True, eq=False)
class Placement:
    """Where and when each job runs, what the decider expected, and why (reason codes into REASONS)."""

    strategy: str
    region: np.ndarray
    start_s: np.ndarray
    expected_g: np.ndarray
    reason: np.ndarray
    max_wait_s: np.ndarray
    deadline_s: np.ndarray
    segments: dict[int, np.ndarray] = field(default_factory=dict)  # interruptible: job -> slot starts (s)

    def reasons_in_words(self) -> list[str]:
        return [el.REASONS[c] for c in self.reason]


class Strategy(ABC):
    """Base of all strategies: a ``name`` and ``place``; ``uses_forecast`` says whether decisions read forecasts."""

    name: str = "strategy"
    uses_forecast: bool = True

    @abstractmethod
    def place(self, jobs: JobTable, ctx: Context) -> Placement:
        """Region, start and reason for every job, in arrival order."""


def _round_robin_regions(n: int, n_regions: int, allowed: np.ndarray | None) -> np.ndarray:
    region = np.arange(n) % n_regions
    if allowed is not None:
        ok = allowed[np.arange(n), region]
        region = np.where(ok, region, np.argmax(allowed, axis=1))
    return region


def _seconds(ctx: Context, slots: np.ndarray) -> np.ndarray:
    return ctx.grid.start.astype(np.int64) + slots * ctx.grid.step_s


class RoundRobin(Strategy):
    """Region ``j mod R`` in arrival order, start at arrival: the study's baseline."""

    name = "round-robin"
    uses_forecast = False

    def place(self, jobs: JobTable, ctx: Context) -> Placement:
        n = len(jobs)
        region = _round_robin_regions(n, len(ctx.grid.regions), ctx.allowed_mask(jobs))
        return Placement(self.name, region, jobs.submitted_s.astype(np.float64), np.full(n, np.nan),
                         np.full(n, el.ROUND_ROBIN), np.zeros(n), jobs.submitted_s + jobs.duration_s)


@dataclass
class LocationTimeShifting(Strategy):
    """Cleanest (region, start) within ``buffer_s`` of arrival, on forecasts; cold-start jobs round-robin."""

    buffer_s: float = 0.0
    name: str = ""

    def __post_init__(self) -> None:
        if self.buffer_s < 0:
            raise InputError(f"buffer {self.buffer_s} s must be >= 0")
        if not self.name:
            self.name = "location" if self.buffer_s == 0 else f"lts-{self.buffer_s / 3600:g}"

    def _durations(self, jobs: JobTable, ctx: Context) -> np.ndarray:
        return ctx.estimates.estimate_s

    def _surface(self, ctx: Context) -> ActualSurface | ForecastSurface:
        return ctx.forecast

    def place(self, jobs: JobTable, ctx: Context) -> Placement:
        n = len(jobs)
        step = ctx.grid.step_s
        est = self._durations(jobs, ctx)
        known = np.isfinite(est)
        allowed = ctx.allowed_mask(jobs)
        rr = _round_robin_regions(n, len(ctx.grid.regions), allowed)
        max_wait = np.full(n, self.buffer_s)
        arrival = ctx.arrival_slots(jobs)
        region = rr.copy()
        start = arrival.copy()
        expected = np.full(n, np.nan)
        idx = np.flatnonzero(known)
        if idx.size:
            c = choose(self._surface(ctx), arrival=arrival[idx], duration=est[idx] / step,
                       max_wait=max_wait[idx] / step, allowed=None if allowed is None else allowed[idx],
                       n_regions=len(ctx.grid.regions), fallback_region=rr[idx])
            region[idx], start[idx], expected[idx] = c.region, c.start_slot, c.expected_g_per_kw * jobs.power_kw[idx]
        reason = np.where(known, el.SHIFTED, el.COLD_START)
        deadline = jobs.submitted_s + jobs.duration_s + self.buffer_s
        return Placement(self.name, region, _seconds(ctx, start), expected, reason, max_wait, deadline)


class LocationShifting(LocationTimeShifting):
    """Start at arrival in the cleanest region (the study's 'location shifting')."""

    def __init__(self) -> None:
        super().__init__(buffer_s=0.0, name="location")


@dataclass
class Oracle(LocationTimeShifting):
    """LTS with perfect knowledge of intensity and of every job's true duration: the upper bound."""

    uses_forecast = False

    def __post_init__(self) -> None:
        if not self.name:
            self.name = "oracle" if self.buffer_s == 0 else f"oracle-{self.buffer_s / 3600:g}"
        super().__post_init__()

    def _durations(self, jobs: JobTable, ctx: Context) -> np.ndarray:
        return jobs.duration_s.astype(np.float64)

    def _surface(self, ctx: Context) -> ActualSurface | ForecastSurface:
        return ctx.actual


@dataclass
class GreenciStrategy(Strategy):
    """greenci's own strategy (see the module docstring)."""

    buffer_s: float = 6 * 3600.0
    capacity: int | None = None
    wait_price_g_per_kwh_h: float = 0.0
    rules: el.EligibilityRules = field(default_factory=el.EligibilityRules)
    nightly_time_zone: str | None = None
    name: str = ""

    def __post_init__(self) -> None:
        if self.buffer_s < 0:
            raise InputError(f"buffer {self.buffer_s} s must be >= 0")
        if self.capacity is not None and self.capacity < 1:
            raise InputError(f"capacity {self.capacity} must be at least 1 runner per region")
        if self.wait_price_g_per_kwh_h < 0:
            raise InputError(f"wait price {self.wait_price_g_per_kwh_h} must be >= 0")
        if not self.name:
            self.name = f"greenci-{self.buffer_s / 3600:g}"

    def durations(self, jobs: JobTable, ctx: Context) -> np.ndarray:
        """Estimates; cold-start jobs take the P90 of earlier runs of the same repository, then of all."""
        est = ctx.estimates.estimate_s.copy()
        cold = ~np.isfinite(est)
        if cold.any():
            _, repo_codes = np.unique(jobs.repo.astype(str), return_inverse=True)
            repo_q, _ = history_quantiles(repo_codes.astype(np.int64), jobs.duration_s)
            all_q, _ = history_quantiles(np.zeros(len(jobs), np.int64), jobs.duration_s)
            fallback = np.where(np.isfinite(repo_q), repo_q, all_q) * 1.5
            est[cold] = fallback[cold]
        return est

    def place(self, jobs: JobTable, ctx: Context) -> Placement:
        from greenci.jobs import infer_nightly_deadlines

        n = len(jobs)
        step = ctx.grid.step_s
        n_regions = len(ctx.grid.regions)
        est = self.durations(jobs, ctx)
        still_cold = ~np.isfinite(est)
        allowed = ctx.allowed_mask(jobs)
        rr = _round_robin_regions(n, n_regions, allowed)
        deadline = jobs.deadline_s.copy()
        if self.nightly_time_zone:
            nightly = infer_nightly_deadlines(jobs.submitted_s, jobs.submitted_s + np.nan_to_num(est),
                                              time_zone=self.nightly_time_zone)
            deadline = np.where(np.isfinite(deadline), deadline, nightly)
        buffer = np.where(np.isfinite(jobs.buffer_s), jobs.buffer_s, self.buffer_s)
        max_wait = np.where(np.isfinite(deadline), deadline - jobs.submitted_s - np.nan_to_num(est), buffer)
        max_wait = np.maximum(max_wait, 0.0)
        effective_deadline = np.where(np.isfinite(deadline), deadline, jobs.submitted_s + jobs.duration_s + buffer)
        reason = el.eligibility(jobs, max_wait, est, float(np.nanmean(ctx.grid.values)), self.rules)
        reason[still_cold] = el.COLD_START
        wait = np.where(reason == el.SHIFTED, max_wait, 0.0)
        arrival = ctx.arrival_slots(jobs)
        region, start, expected = rr.copy(), arrival.copy(), np.full(n, np.nan)
        segments: dict[int, np.ndarray] = {}
        idx = np.flatnonzero(~still_cold)
        if self.capacity is None and self.wait_price_g_per_kwh_h == 0:
            if idx.size:
                c = choose(ctx.forecast, arrival=arrival[idx], duration=est[idx] / step, max_wait=wait[idx] / step,
                           allowed=None if allowed is None else allowed[idx], n_regions=n_regions,
                           fallback_region=rr[idx])
                region[idx], start[idx] = c.region, c.start_slot
                expected[idx] = c.expected_g_per_kw * jobs.power_kw[idx]
        else:
            region[idx], start[idx], expected[idx], bumped = _sequential(
                ctx, jobs, idx, arrival, est / step, wait / step, allowed, rr, self.capacity,
                self.wait_price_g_per_kwh_h)
            reason[idx[bumped & (reason[idx] == el.SHIFTED)]] = el.CAPACITY
        inter = np.flatnonzero(jobs.interruptible & (reason == el.SHIFTED) & (wait > 0))
        for j in inter:
            seg, reg, exp = _cleanest_slots(ctx, arrival[j], est[j] / step, wait[j] / step,
                                            None if allowed is None else allowed[j])
            if seg is not None:
                segments[int(j)] = _seconds(ctx, seg)
                region[j], start[j], expected[j] = reg, seg[0], exp * jobs.power_kw[j]
        return Placement(self.name, region, _seconds(ctx, start), expected, reason, wait, effective_deadline,
                         segments)


def _sequential(ctx: Context, jobs: JobTable, idx: np.ndarray, arrival: np.ndarray, dur: np.ndarray,
                wait: np.ndarray, allowed: np.ndarray | None, rr: np.ndarray, capacity: int | None,
                price: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Capacity- and wait-price-aware placement, in arrival order (inherently sequential per job).

    Candidate costs for all jobs come from the vectorised kernel; the loop only walks each job's
    candidates from cheapest to dearest until one has a free runner for its whole (estimated) run.
    """
    from greenci.scheduling.kernel import candidate_starts

    n_regions = len(ctx.grid.regions)
    cand = candidate_starts(arrival[idx], wait[idx])
    width = cand.shape[1]
    issue = np.floor(arrival[idx] + 1e-9).astype(np.int64)
    t0 = np.nan_to_num(cand[:, None, :])
    cost = ctx.forecast.integral(issue[:, None, None], np.arange(n_regions)[None, :, None], t0,
                                 t0 + dur[idx, None, None])
    bad = np.isnan(cost) | np.isnan(cand[:, None, :])
    if allowed is not None:
        bad |= ~allowed[idx][:, :, None]
    waited_h = (np.nan_to_num(cand) - arrival[idx, None]) * ctx.grid.step_s / 3600.0
    penalised = cost + price * waited_h[:, None, :]
    penalised = np.where(bad, np.inf, penalised)
    flat = penalised.transpose(0, 2, 1).reshape(idx.size, width * n_regions)
    order = np.argsort(flat, axis=1, kind="stable")
    region = rr[idx].copy()
    start = arrival[idx].copy()
    expected = np.full(idx.size, np.nan)
    bumped = np.zeros(idx.size, dtype=bool)
    occupancy = None
    if capacity is not None:
        span = int(np.ceil(np.nanmax(cand) + np.max(dur[idx]))) + 2
        occupancy = np.zeros((n_regions, max(span, ctx.grid.n_slots) + 1), dtype=np.int32)
    for k in range(idx.size):
        placed = False
        for rank, f in enumerate(order[k]):
            if not np.isfinite(flat[k, f]):
                break
            w, r = divmod(int(f), n_regions)
            s = cand[k, w]
            if occupancy is not None:
                a, b = int(np.floor(s)), int(np.ceil(s + dur[idx[k]]))
                if occupancy[r, a:b].max(initial=0) >= capacity:
                    continue
                occupancy[r, a:b] += 1
            region[k], start[k] = r, s
            expected[k] = cost[k, r, w] * jobs.power_kw[idx[k]]
            bumped[k] = rank > 0 and capacity is not None
            placed = True
            break
        if not placed and occupancy is not None:
            # Every runner in the window is busy: queue for the first boundary where one is free.
            occupancy, region[k], start[k] = _queue(occupancy, capacity or 1, np.nanmax(cand[k]), dur[idx[k]],
                                                     None if allowed is None else allowed[idx[k]], rr[idx[k]])
            bumped[k] = True
    return region, start, expected, bumped


def _queue(occupancy: np.ndarray, capacity: int, after: float, dur: float, allowed: np.ndarray | None,
           preferred: int) -> tuple[np.ndarray, int, float]:
    """First slot boundary after ``after`` with a free runner for the whole run (preferred region first)."""
    n_regions = occupancy.shape[0]
    order = [preferred] + [r for r in range(n_regions) if r != preferred]
    s = int(np.ceil(after + 1e-9))
    length = int(np.ceil(dur - 1e-9))
    while True:
        if s + length + 1 >= occupancy.shape[1]:
            occupancy = np.concatenate([occupancy, np.zeros_like(occupancy)], axis=1)
        for r in order:
            if allowed is not None and not allowed[r]:
                continue
            if occupancy[r, s:s + length].max(initial=0) < capacity:
                occupancy[r, s:s + length] += 1
                return occupancy, r, float(s)
        s += 1


def _cleanest_slots(ctx: Context, arrival: float, dur: float, wait: float,
                    allowed: np.ndarray | None) -> tuple[np.ndarray | None, int, float]:
    """For an interruptible job: the ``ceil(dur)`` cleanest whole slots in one region within its window."""
    first = int(np.ceil(arrival - 1e-9))
    last = int(np.floor(arrival + wait + dur + 1e-9))  # window end (slot boundary)
    need = int(np.ceil(dur - 1e-9))
    if last - first < need or need == 0:
        return None, -1, np.nan
    issue = int(np.floor(arrival + 1e-9))
    n_regions = len(ctx.grid.regions)
    slots = np.arange(first, last, dtype=np.float64)
    cost = ctx.forecast.integral(np.array([[issue]]), np.arange(n_regions)[:, None], slots[None, :],
                                 slots[None, :] + 1.0)
    cost = np.where(np.isnan(cost), np.inf, cost)
    if allowed is not None:
        cost[~allowed] = np.inf
    pick = np.argpartition(cost, need - 1, axis=1)[:, :need]
    totals = np.take_along_axis(cost, pick, axis=1).sum(axis=1)
    r = int(np.argmin(totals))
    if not np.isfinite(totals[r]):
        return None, -1, np.nan
    chosen = np.sort(slots[pick[r]])
    return chosen, r, float(totals[r])


def accounted_emissions_g(placement: Placement, jobs: JobTable, ctx: Context) -> np.ndarray:
    """Actual emissions (g) of every job as placed, on actual intensity and true durations."""
    step = ctx.grid.step_s
    start = (placement.start_s - ctx.grid.start.astype(np.int64)) / step
    grams = account(ctx.actual, placement.region, start, jobs.duration_s / step) * jobs.power_kw
    for j, seg in placement.segments.items():
        s = (seg - ctx.grid.start.astype(np.int64)) / step
        remaining = jobs.duration_s[j] / step
        lengths = np.clip(remaining - np.arange(s.size), 0.0, 1.0)
        extra = max(remaining - s.size, 0.0)  # ran longer than estimated: continues after the last slot
        t0 = np.r_[s, s[-1] + 1.0]
        t1 = np.r_[s + lengths, s[-1] + 1.0 + extra]
        reg = np.full(t0.size, placement.region[j])
        grams[j] = float(np.nansum(ctx.actual.integral(None, reg, t0, t1))) * jobs.power_kw[j]
    return grams


STRATEGY_NAMES = ("round-robin", "location", "lts-H", "oracle[-H]", "greenci[-H]")


def make_strategy(name: str, *, default_buffer_h: float = 6.0, capacity: int | None = None,
                  wait_price_g_per_kwh_h: float = 0.0, nightly_time_zone: str | None = None) -> Strategy:
    """A strategy from its name: ``round-robin``, ``location``, ``lts-3``, ``oracle``, ``oracle-1``, ``greenci-6``.

    ``oracle`` and ``greenci`` without a suffix use ``default_buffer_h`` and keep the bare name.
    """
    raw = name.strip().lower()
    base, _, suffix = raw.partition("-") if raw not in ("round-robin",) else (raw, "", "")
    try:
        hours = float(suffix) if suffix else None
    except ValueError:
        hours = -1.0
    if hours is not None and hours < 0:
        raise InputError(f"strategy {name!r}: the buffer after '-' must be hours >= 0, e.g. lts-3")
    if raw == "round-robin":
        return RoundRobin()
    if raw == "location":
        return LocationShifting()
    if base == "lts" and hours is not None:
        return LocationTimeShifting(hours * 3600.0)
    if base == "oracle":
        h = default_buffer_h if hours is None else hours
        return Oracle(h * 3600.0, name=raw)
    if base == "greenci":
        h = default_buffer_h if hours is None else hours
        return GreenciStrategy(buffer_s=h * 3600.0, capacity=capacity, wait_price_g_per_kwh_h=wait_price_g_per_kwh_h,
                               nightly_time_zone=nightly_time_zone, name=raw)
    raise InputError(f"strategy {name!r} is unknown: use {', '.join(STRATEGY_NAMES)} (H = buffer hours)")
