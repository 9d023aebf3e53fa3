"""Scheduling strategies: one class each, one interface (``place(jobs, context) -> Placement``), one kernel.

- :class:`RoundRobin`: the study's baseline; region ``j mod R`` in arrival order, start at arrival.
- :class:`LocationShifting`: start at arrival in the region the forecast says is cleanest over the
  estimated duration; jobs without history fall back to round-robin (as in the study).
- :class:`LocationTimeShifting` (LTS-b): also any slot boundary up to ``b`` after arrival; the job's
  deadline is its duration plus ``b``, so waiting at most ``b`` never misses it. The study's strategies
  shift every job (the study's semantics, kept in replays).
- :class:`Oracle`: LTS with perfect knowledge (actual intensity, true durations): the upper bound. The
  replay gives it a context deciding on the actual intensity, labelled so.
- :class:`GreenciStrategy`: greenci's own: fail fast (runs someone waits for are not delayed unless the
  workflow opts in; they still go to the cleanest allowed region now), cold-start jobs get a workflow- or
  repository-level estimate instead of round-robin, deadlines (given, or inferred nightly windows for
  unattended runs with a safety margin), an optional saving threshold and price on waiting, per-region
  runner capacity, and interruptible jobs in the cleanest slots of their window.

:data:`STRATEGIES` is the one registry; :func:`make_strategy` the one name parser (CLI, sweeps, replays).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from greenci.errors import InputError
from greenci.grid import IntensityGrid
from greenci.jobs import (
    EST_DEFAULT,
    DurationEstimates,
    JobTable,
    cold_start_estimates,
    history_quantiles,
    infer_nightly_deadlines,
)
from greenci.scheduling import eligibility as el
from greenci.scheduling.context import Context
from greenci.scheduling.kernel import ActualSurface, account, choose

#: an inferred (nightly) deadline is met even by a run this many times longer than its estimate
NIGHTLY_SAFETY = 2.0


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
    estimate_s: np.ndarray | None = None  # the duration each decision assumed

    def reasons_in_words(self) -> list[str]:
        return [el.REASONS[c] for c in self.reason]


class Strategy(ABC):
    """Base of all strategies: a ``name`` and ``place``.

    ``uses_forecast``: decisions read forecasts (False: the strategy is an oracle and the replay lets it
    decide on the actual intensity, or it reads no intensity at all, like round-robin).
    """

    name: str = "strategy"
    uses_forecast: bool = True
    buffer_s: float = 0.0

    @abstractmethod
    def place(self, jobs: JobTable, ctx: Context) -> Placement:
        """Region, start and reason for every job, in arrival order."""


def _round_robin_regions(n: int, n_regions: int, allowed: np.ndarray | None) -> np.ndarray:
    region = np.arange(n) % n_regions
    if allowed is not None:
        ok = allowed[np.arange(n), region]
        region = np.where(ok, region, np.argmax(allowed, axis=1))
    return region


class RoundRobin(Strategy):
    """Region ``j mod R`` in arrival order, start at arrival: the study's baseline."""

    name = "round-robin"
    uses_forecast = False

    def place(self, jobs: JobTable, ctx: Context) -> Placement:
        n = len(jobs)
        region = _round_robin_regions(n, len(ctx.regions), ctx.allowed_mask(jobs))
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

    def place(self, jobs: JobTable, ctx: Context) -> Placement:
        n = len(jobs)
        step = ctx.step_s
        est = self._durations(jobs, ctx)
        known = np.isfinite(est)
        allowed = ctx.allowed_mask(jobs)
        rr = _round_robin_regions(n, len(ctx.regions), allowed)
        max_wait = np.full(n, self.buffer_s)
        arrival = ctx.arrival_slots(jobs)
        region = rr.copy()
        start = arrival.copy()
        expected = np.full(n, np.nan)
        idx = np.flatnonzero(known)
        if idx.size:
            c = choose(ctx.forecast, arrival=arrival[idx], duration=est[idx] / step,
                       max_wait=max_wait[idx] / step, allowed=None if allowed is None else allowed[idx],
                       n_regions=len(ctx.regions), fallback_region=rr[idx])
            region[idx], start[idx], expected[idx] = c.region, c.start_slot, c.expected_g_per_kw * jobs.power_kw[idx]
        reason = np.where(known, el.SHIFTED, el.STUDY_COLD_START)
        deadline = jobs.submitted_s + jobs.duration_s + self.buffer_s
        return Placement(self.name, region, ctx.seconds(start), expected, reason, max_wait, deadline,
                         estimate_s=est)


class LocationShifting(LocationTimeShifting):
    """Start at arrival in the cleanest region (the study's 'location shifting')."""

    def __init__(self) -> None:
        super().__init__(buffer_s=0.0, name="location")


@dataclass
class Oracle(LocationTimeShifting):
    """LTS with perfect knowledge of intensity and of every job's true duration: the upper bound.

    It decides on whatever its context holds; the replay hands it the actual intensity (labelled oracle).
    """

    uses_forecast = False

    def __post_init__(self) -> None:
        if not self.name:
            self.name = "oracle" if self.buffer_s == 0 else f"oracle-{self.buffer_s / 3600:g}"
        super().__post_init__()

    def _durations(self, jobs: JobTable, ctx: Context) -> np.ndarray:
        return jobs.duration_s.astype(np.float64)


@dataclass
class GreenciStrategy(Strategy):
    """greenci's own strategy (see the module docstring)."""

    buffer_s: float = 6 * 3600.0
    capacity: int | None = None
    wait_price_g_per_kwh_h: float = 0.0
    rules: el.EligibilityRules = field(default_factory=el.EligibilityRules)
    nightly_time_zone: str | None = None
    name: str = ""
    pools: RunnerPools | None = None  # runners per region and those already reserved (a service's decisions)

    def __post_init__(self) -> None:
        if self.buffer_s < 0:
            raise InputError(f"buffer {self.buffer_s} s must be >= 0")
        if self.capacity is not None and self.capacity < 1:
            raise InputError(f"capacity {self.capacity} must be at least 1 runner per region")
        if self.wait_price_g_per_kwh_h < 0:
            raise InputError(f"wait price {self.wait_price_g_per_kwh_h} must be >= 0")
        if self.nightly_time_zone:
            infer_nightly_deadlines(np.zeros(0, np.int64), np.zeros(0), time_zone=self.nightly_time_zone)
        if not self.name:
            self.name = f"greenci-{self.buffer_s / 3600:g}"

    def estimates(self, jobs: JobTable, ctx: Context) -> DurationEstimates:
        """The context's estimates, cold-start jobs filled from their workflow, repository or the default."""
        return cold_start_estimates(jobs, ctx.estimates)

    def durations(self, jobs: JobTable, ctx: Context) -> np.ndarray:
        return self.estimates(jobs, ctx).estimate_s

    def windows(self, jobs: JobTable, est: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each job's allowed wait (s) and the deadline its placement is held to (given, inferred or buffer)."""
        sub = jobs.submitted_s
        deadline = jobs.deadline_s.astype(np.float64, copy=True)
        need = est.copy()
        if self.nightly_time_zone:
            # nobody set this deadline: keep room for a long run, twice the estimate or the longest earlier run
            longest, _ = history_quantiles(jobs.keys(), jobs.duration_s, quantile=1.0)
            margin = np.fmax(est * NIGHTLY_SAFETY, longest)
            nightly = infer_nightly_deadlines(sub, sub + margin, time_zone=self.nightly_time_zone)
            use = ~np.isfinite(deadline) & np.isfinite(nightly) & (~el.attended(jobs) | jobs.opted_in)
            deadline[use] = nightly[use]
            need[use] = margin[use]
        buffer = np.where(np.isfinite(jobs.buffer_s), jobs.buffer_s, self.buffer_s)
        max_wait = np.maximum(np.where(np.isfinite(deadline), deadline - sub - need, buffer), 0.0)
        effective = np.where(np.isfinite(deadline), deadline, sub + jobs.duration_s + buffer)
        return max_wait, effective

    def place(self, jobs: JobTable, ctx: Context) -> Placement:
        n = len(jobs)
        step = ctx.step_s
        n_regions = len(ctx.regions)
        estimates = self.estimates(jobs, ctx)
        est = estimates.estimate_s
        allowed = ctx.allowed_mask(jobs)
        rr = _round_robin_regions(n, n_regions, allowed)
        max_wait, effective_deadline = self.windows(jobs, est)
        reason = el.eligibility(jobs, max_wait, self.rules)
        reason[(estimates.source == EST_DEFAULT) & (reason == el.SHIFTED)] = el.COLD_START
        wait = np.where(reason == el.SHIFTED, max_wait, 0.0)
        arrival = ctx.arrival_slots(jobs)
        power = jobs.power_kw
        segments: dict[int, np.ndarray] = {}
        if self.capacity is None and self.pools is None and self.wait_price_g_per_kwh_h == 0:
            c = choose(ctx.forecast, arrival=arrival, duration=est / step, max_wait=wait / step, allowed=allowed,
                       n_regions=n_regions, fallback_region=rr)
            region, start, expected = c.region, c.start_slot, c.expected_g_per_kw * power
            if self.rules.min_saving_g > 0:
                region, start, expected = self._keep_if_worth_it(jobs, ctx, reason, arrival, est, allowed, rr,
                                                                 region, start, expected)
        else:
            idx = np.arange(n)
            region, start, expected, bumped = _sequential(
                ctx, jobs, idx, arrival, est / step, wait / step, allowed, rr, self.capacity,
                self.wait_price_g_per_kwh_h, self.pools)
            reason[bumped & (reason == el.SHIFTED)] = el.CAPACITY
        inter = np.flatnonzero(jobs.interruptible & (reason == el.SHIFTED) & (wait > 0))
        for j in inter:
            seg, reg, exp = _cleanest_slots(ctx, arrival[j], est[j] / step, wait[j] / step,
                                            None if allowed is None else allowed[j])
            if seg is not None:
                segments[int(j)] = ctx.seconds(seg)
                region[j], start[j], expected[j] = reg, seg[0], exp * power[j]
        return Placement(self.name, region, ctx.seconds(start), expected, reason, wait, effective_deadline,
                         segments, estimate_s=est)

    def _keep_if_worth_it(self, jobs: JobTable, ctx: Context, reason: np.ndarray, arrival: np.ndarray,
                          est: np.ndarray, allowed: np.ndarray | None, rr: np.ndarray, region: np.ndarray,
                          start: np.ndarray, expected: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Rule 4: a wait that saves less than ``min_saving_g`` (on the forecast) is not worth it: run now."""
        idx = np.flatnonzero(reason == el.SHIFTED)
        if not idx.size:
            return region, start, expected
        now = choose(ctx.forecast, arrival=arrival[idx], duration=est[idx] / ctx.step_s, max_wait=np.zeros(idx.size),
                     allowed=None if allowed is None else allowed[idx], n_regions=len(ctx.regions),
                     fallback_region=rr[idx])
        now_g = now.expected_g_per_kw * jobs.power_kw[idx]
        low = np.nan_to_num(now_g - expected[idx], nan=np.inf) < self.rules.min_saving_g
        k = idx[low]
        region, start, expected = region.copy(), start.copy(), expected.copy()
        region[k], start[k], expected[k] = now.region[low], now.start_slot[low], now_g[low]
        reason[k] = el.LOW_SAVING
        return region, start, expected


class RunnerPools(Protocol):
    """Runners per region, and how many are already reserved in each slot (a service's earlier decisions)."""

    def capacity(self, region: str) -> int | None: ...  # None: unlimited

    def reserved(self, regions: Sequence[str], start_s: int, step_s: int, n_slots: int) -> np.ndarray: ...


def _sequential(ctx: Context, jobs: JobTable, idx: np.ndarray, arrival: np.ndarray, dur: np.ndarray,
                wait: np.ndarray, allowed: np.ndarray | None, rr: np.ndarray, capacity: int | None,
                price: float, pools: RunnerPools | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                                          np.ndarray]:
    """Capacity- and wait-price-aware placement, in arrival order (inherently sequential per job).

    Candidate costs for all jobs come from the vectorised kernel; the loop only walks each job's
    candidates from cheapest to dearest until one has a free runner for its whole (estimated) run.
    ``pools`` gives a capacity per region and the runners its earlier decisions hold (they count too).
    """
    from greenci.scheduling.kernel import candidate_starts

    n_regions = len(ctx.regions)
    cand = candidate_starts(arrival[idx], wait[idx])
    width = cand.shape[1]
    issue = np.floor(arrival[idx] + 1e-9).astype(np.int64)
    t0 = np.nan_to_num(cand[:, None, :])
    cost = ctx.forecast.integral(issue[:, None, None], np.arange(n_regions)[None, :, None], t0,
                                 t0 + dur[idx, None, None])
    bad = np.isnan(cost) | np.isnan(cand[:, None, :])
    if allowed is not None:
        bad |= ~allowed[idx][:, :, None]
    waited_h = (np.nan_to_num(cand) - arrival[idx, None]) * ctx.step_s / 3600.0
    penalised = cost + price * waited_h[:, None, :]
    penalised = np.where(bad, np.inf, penalised)
    flat = penalised.transpose(0, 2, 1).reshape(idx.size, width * n_regions)
    order = np.argsort(flat, axis=1, kind="stable")
    region = rr[idx].copy()
    start = arrival[idx].copy()
    expected = np.full(idx.size, np.nan)
    bumped = np.zeros(idx.size, dtype=bool)
    occupancy = None
    caps = np.full(n_regions, np.inf if capacity is None else float(capacity))
    if pools is not None:
        for r, name in enumerate(ctx.regions):
            own = pools.capacity(name)
            caps[r] = caps[r] if own is None else min(caps[r], float(own))
    if np.isfinite(caps).any():
        span = int(np.ceil(np.nanmax(cand) + np.max(dur[idx]))) + 2
        occupancy = np.zeros((n_regions, max(span, ctx.n_slots) + 1), dtype=np.int32)
        if pools is not None:
            occupancy += np.asarray(pools.reserved(ctx.regions, ctx.start_s, ctx.step_s, occupancy.shape[1]),
                                    dtype=np.int32)
    for k in range(idx.size):
        placed = False
        for rank, f in enumerate(order[k]):
            if not np.isfinite(flat[k, f]):
                break
            w, r = divmod(int(f), n_regions)
            s = cand[k, w]
            if occupancy is not None:
                a, b = int(np.floor(s)), int(np.ceil(s + dur[idx[k]]))
                if occupancy[r, a:b].max(initial=0) >= caps[r]:
                    continue
                occupancy[r, a:b] += 1
            region[k], start[k] = r, s
            expected[k] = cost[k, r, w] * jobs.power_kw[idx[k]]
            bumped[k] = rank > 0 and occupancy is not None
            placed = True
            break
        if not placed and occupancy is not None:
            # Every runner in the window is busy: queue for the first boundary where one is free.
            occupancy, region[k], start[k] = _queue(occupancy, caps, np.nanmax(cand[k]), dur[idx[k]],
                                                     None if allowed is None else allowed[idx[k]], rr[idx[k]])
            bumped[k] = True
    return region, start, expected, bumped


def _queue(occupancy: np.ndarray, capacity: np.ndarray, after: float, dur: float, allowed: np.ndarray | None,
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
            if occupancy[r, s:s + length].max(initial=0) < capacity[r]:
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
    n_regions = len(ctx.regions)
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


def accounted_emissions_g(placement: Placement, jobs: JobTable, actual: IntensityGrid | ActualSurface) -> np.ndarray:
    """Actual emissions (g) of every job as placed, on actual intensity and true durations."""
    surface = actual if isinstance(actual, ActualSurface) else ActualSurface(actual)
    step = surface.grid.step_s
    start = (placement.start_s - surface.grid.start_s) / step
    grams = account(surface, placement.region, start, jobs.duration_s / step) * jobs.power_kw
    for j, seg in placement.segments.items():
        s = (seg - surface.grid.start_s) / step
        remaining = jobs.duration_s[j] / step
        lengths = np.clip(remaining - np.arange(s.size), 0.0, 1.0)
        extra = max(remaining - s.size, 0.0)  # ran longer than estimated: continues after the last slot
        t0 = np.r_[s, s[-1] + 1.0]
        t1 = np.r_[s + lengths, s[-1] + 1.0 + extra]
        reg = np.full(t0.size, placement.region[j])
        grams[j] = float(np.nansum(surface.integral(None, reg, t0, t1))) * jobs.power_kw[j]
    return grams


# ---------------------------------------------------------------------------------------- registry
@dataclass(frozen=True)
class StrategyOptions:
    """What the CLI and sweeps may set on the strategies that take it."""

    default_buffer_h: float = 6.0
    capacity: int | None = None
    wait_price_g_per_kwh_h: float = 0.0
    nightly_time_zone: str | None = None
    rules: el.EligibilityRules = field(default_factory=el.EligibilityRules)


@dataclass(frozen=True)
class StrategyEntry:
    """One strategy family: how it is written (``lts-H``), whether it takes a buffer, how it is built."""

    pattern: str
    buffer: str  # "none", "required" or "optional" (``greenci`` alone uses the default buffer)
    build: Callable[[float | None, str, StrategyOptions], Strategy]
    help: str


#: The registry: adding a strategy is one class and one line here.
STRATEGIES: dict[str, StrategyEntry] = {
    "round-robin": StrategyEntry("round-robin", "none", lambda h, name, o: RoundRobin(),
                                 "region j mod R, start at arrival (the study's baseline)"),
    "location": StrategyEntry("location", "none", lambda h, name, o: LocationShifting(),
                              "cleanest region at arrival"),
    "lts": StrategyEntry("lts-H", "required", lambda h, name, o: LocationTimeShifting((h or 0.0) * 3600.0, name=name),
                         "cleanest region and start within H hours"),
    "oracle": StrategyEntry("oracle[-H]", "optional", lambda h, name, o: Oracle(
        (o.default_buffer_h if h is None else h) * 3600.0, name=name), "LTS on actual intensity and durations"),
    "greenci": StrategyEntry("greenci[-H]", "optional", lambda h, name, o: GreenciStrategy(
        buffer_s=(o.default_buffer_h if h is None else h) * 3600.0, capacity=o.capacity,
        wait_price_g_per_kwh_h=o.wait_price_g_per_kwh_h, nightly_time_zone=o.nightly_time_zone, rules=o.rules,
        name=name), "greenci's own: fail fast, deadlines, cold start, capacity"),
}
STRATEGY_NAMES = tuple(e.pattern for e in STRATEGIES.values())


def parse_strategy_name(name: str) -> tuple[str, float | None]:
    """``"lts-3"`` -> ``("lts", 3.0)``, ``"greenci"`` -> ``("greenci", None)``; unknown names are refused."""
    raw = name.strip().lower()
    base, _, suffix = raw.partition("-") if raw not in STRATEGIES else (raw, "", "")
    entry = STRATEGIES.get(base)
    if entry is None:
        raise InputError(f"strategy {name!r} is unknown: use {', '.join(STRATEGY_NAMES)} (H = buffer hours)")
    if not suffix:
        if entry.buffer == "required":
            raise InputError(f"strategy {name!r} needs a buffer in hours: write {base}-3 (0 or more)")
        return base, None
    if entry.buffer == "none":
        raise InputError(f"strategy {name!r}: {base} takes no buffer; write {base}")
    try:
        hours = float(suffix)
    except ValueError:
        hours = -1.0
    if not (0 <= hours < float("inf")):
        raise InputError(f"strategy {name!r}: the buffer after '-' must be hours >= 0, e.g. {base}-3")
    return base, hours


def strategy_family(name: str) -> str:
    """The registry name of a strategy name with or without its buffer (``lts-3`` and ``lts`` -> ``lts``)."""
    raw = name.strip().lower()
    base = raw if raw in STRATEGIES else raw.partition("-")[0]
    if base not in STRATEGIES:
        raise InputError(f"strategy {name!r} is unknown: use {', '.join(STRATEGY_NAMES)} (H = buffer hours)")
    return base


def make_strategy(name: str, *, default_buffer_h: float = 6.0, capacity: int | None = None,
                  wait_price_g_per_kwh_h: float = 0.0, nightly_time_zone: str | None = None,
                  rules: el.EligibilityRules | None = None) -> Strategy:
    """A strategy from its name: ``round-robin``, ``location``, ``lts-3``, ``oracle``, ``oracle-1``, ``greenci-6``.

    ``oracle`` and ``greenci`` without a suffix use ``default_buffer_h`` and keep the bare name.
    """
    base, hours = parse_strategy_name(name)
    options = StrategyOptions(default_buffer_h, capacity, wait_price_g_per_kwh_h, nightly_time_zone,
                              rules or el.EligibilityRules())
    return STRATEGIES[base].build(hours, base if hours is None else f"{base}-{hours:g}", options)
