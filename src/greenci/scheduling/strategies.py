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

Capacity (``capacity=``: one number for every region, or runners by region name, a region not named being
unlimited) is respected by every strategy through one greedy (:mod:`greenci.scheduling.capacity`): in
arrival order, each job takes its best-ranked candidate with a free runner for its whole run, else queues
to the first slot boundary where one is free (the wait counts). Per strategy:

- round-robin: its region at arrival; when that pool is full, the next region (cyclically) free at arrival;
  else it queues. A queue knows when runners free, so runs hold their runners for their true duration.
- location / LTS-b / oracle: their cheapest (region, start) with a free runner within ``b``, else queue;
  runs hold runners for the estimate (oracle: the true duration); study cold starts act as round-robin.
- greenci: its cheapest candidate within the job's window (the deadline's or the buffer's, fail-fast jobs
  at arrival) with a free runner, else queue; ``pools`` (a service's) add their own capacity and the runners
  earlier decisions reserved. Interruptible jobs are not split under capacity (they run whole).

A job that capacity moved off its first choice says so (reason ``capacity``). Every candidate in a
job's window meets its deadline, so a job misses it only when all of them were full.

:data:`STRATEGIES` is the one registry; :func:`make_strategy` the one name parser (CLI, sweeps, replays).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from greenci.errors import ConfigError, InputError
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
from greenci.scheduling.capacity import Capacity, capacity_per_region, check_capacity, place_with_capacity
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
    now_g_per_kw: np.ndarray | None = None  # (J, R) running at arrival for estimate_s, if the kernel gave it

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


@dataclass
class RoundRobin(Strategy):
    """Region ``j mod R`` in arrival order, start at arrival: the study's baseline.

    Under ``capacity`` a full region sends the job to the next region free at arrival, else it queues
    (see the module docstring); runs hold runners for their true duration, as a real queue sees them.
    """

    capacity: Capacity | None = None
    name: str = "round-robin"
    uses_forecast = False

    def __post_init__(self) -> None:
        check_capacity(self.capacity)

    def place(self, jobs: JobTable, ctx: Context) -> Placement:
        n = len(jobs)
        allowed = ctx.allowed_mask(jobs)
        region = _round_robin_regions(n, len(ctx.regions), allowed)
        start = jobs.submitted_s.astype(np.float64)
        reason = np.full(n, el.ROUND_ROBIN)
        caps = capacity_per_region(self.capacity, ctx.regions)
        if np.isfinite(caps).any():
            res = place_with_capacity(ctx.forecast, arrival=ctx.arrival_slots(jobs), cost_duration=None,
                                      hold_duration=jobs.duration_s / ctx.step_s, max_wait=np.zeros(n),
                                      allowed=allowed, preferred=region, capacity=caps)
            region, start = res.region, ctx.seconds(res.start_slot)
            reason[res.moved] = el.CAPACITY
        return Placement(self.name, region, start, np.full(n, np.nan), reason, np.zeros(n),
                         jobs.submitted_s + jobs.duration_s)


@dataclass
class LocationTimeShifting(Strategy):
    """Cleanest (region, start) within ``buffer_s`` of arrival, on forecasts; cold-start jobs round-robin."""

    buffer_s: float = 0.0
    name: str = ""
    capacity: Capacity | None = None  # runners per region (see the module docstring)

    def __post_init__(self) -> None:
        if self.buffer_s < 0:
            raise InputError(f"buffer {self.buffer_s} s must be >= 0")
        check_capacity(self.capacity)
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
        reason = np.where(known, el.SHIFTED, el.STUDY_COLD_START)
        caps = capacity_per_region(self.capacity, ctx.regions)
        if np.isfinite(caps).any():
            # a cold start holds its runner for its true run: the queue sees when the runner frees
            res = place_with_capacity(ctx.forecast, arrival=arrival, cost_duration=est / step,
                                      hold_duration=np.where(known, est, jobs.duration_s) / step,
                                      max_wait=max_wait / step, allowed=allowed, preferred=rr, capacity=caps)
            region, start, expected = res.region, res.start_slot, res.expected_g_per_kw * jobs.power_kw
            reason[res.moved] = el.CAPACITY
        elif idx.size:
            c = choose(ctx.forecast, arrival=arrival[idx], duration=est[idx] / step,
                       max_wait=max_wait[idx] / step, allowed=None if allowed is None else allowed[idx],
                       n_regions=len(ctx.regions), fallback_region=rr[idx])
            region[idx], start[idx], expected[idx] = c.region, c.start_slot, c.expected_g_per_kw * jobs.power_kw[idx]
        deadline = jobs.submitted_s + jobs.duration_s + self.buffer_s
        return Placement(self.name, region, ctx.seconds(start), expected, reason, max_wait, deadline,
                         estimate_s=est)


class LocationShifting(LocationTimeShifting):
    """Start at arrival in the cleanest region (the study's 'location shifting')."""

    def __init__(self, capacity: Capacity | None = None) -> None:
        super().__init__(buffer_s=0.0, name="location", capacity=capacity)


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
    capacity: Capacity | None = None
    wait_price_g_per_kwh_h: float = 0.0
    rules: el.EligibilityRules = field(default_factory=el.EligibilityRules)
    nightly_time_zone: str | None = None
    name: str = ""
    pools: RunnerPools | None = None  # runners per region and those already reserved (a service's decisions)

    def __post_init__(self) -> None:
        if self.buffer_s < 0:
            raise InputError(f"buffer {self.buffer_s} s must be >= 0")
        check_capacity(self.capacity)
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
        now = None
        if self.capacity is None and self.pools is None and self.wait_price_g_per_kwh_h == 0:
            c = choose(ctx.forecast, arrival=arrival, duration=est / step, max_wait=wait / step, allowed=allowed,
                       n_regions=n_regions, fallback_region=rr)
            region, start, expected, now = c.region, c.start_slot, c.expected_g_per_kw * power, c.now_g_per_kw
            if self.rules.min_saving_g > 0:
                region, start, expected = self._keep_if_worth_it(jobs, ctx, reason, arrival, est, allowed, rr,
                                                                 region, start, expected)
        else:
            caps, reserved = self._runners(ctx, arrival, wait / step, est / step)
            res = place_with_capacity(ctx.forecast, arrival=arrival, cost_duration=est / step,
                                      hold_duration=est / step, max_wait=wait / step, allowed=allowed, preferred=rr,
                                      capacity=caps, reserved=reserved,
                                      wait_price_per_slot=self.wait_price_g_per_kwh_h * step / 3600.0)
            region, start, expected = res.region, res.start_slot, res.expected_g_per_kw * power
            reason[res.moved & (reason == el.SHIFTED)] = el.CAPACITY
            if np.isfinite(caps).any():  # a split run would take runners the greedy did not count
                return Placement(self.name, region, ctx.seconds(start), expected, reason, wait, effective_deadline,
                                 segments, estimate_s=est)
        inter = np.flatnonzero(jobs.interruptible & (reason == el.SHIFTED) & (wait > 0))
        for j in inter:
            seg, reg, exp = _cleanest_slots(ctx, arrival[j], est[j] / step, wait[j] / step,
                                            None if allowed is None else allowed[j])
            if seg is not None:
                segments[int(j)] = ctx.seconds(seg)
                region[j], start[j], expected[j] = reg, seg[0], exp * power[j]
        return Placement(self.name, region, ctx.seconds(start), expected, reason, wait, effective_deadline,
                         segments, estimate_s=est, now_g_per_kw=now)

    def _runners(self, ctx: Context, arrival: np.ndarray, wait: np.ndarray,
                 dur: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Runners per region (own capacity and the pools', the smaller) and the pools' reserved slots."""
        caps = capacity_per_region(self.capacity, ctx.regions)
        if self.pools is None:
            return caps, None
        for r, name in enumerate(ctx.regions):
            own = self.pools.capacity(name)
            if own is not None:
                caps[r] = min(caps[r], float(own))
        span = int(np.ceil(np.max(arrival + np.maximum(wait, 0.0) + dur))) + 2 if arrival.size else 0
        reserved = np.asarray(self.pools.reserved(ctx.regions, ctx.start_s, ctx.step_s, max(span, ctx.n_slots) + 1),
                              dtype=np.int32)
        return caps, reserved

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
    capacity: Capacity | None = None  # runners per region, every strategy (a mapping: by region name)
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
    "round-robin": StrategyEntry("round-robin", "none", lambda h, name, o: RoundRobin(o.capacity),
                                 "region j mod R, start at arrival (the study's baseline)"),
    "location": StrategyEntry("location", "none", lambda h, name, o: LocationShifting(o.capacity),
                              "cleanest region at arrival"),
    "lts": StrategyEntry("lts-H", "required", lambda h, name, o: LocationTimeShifting((h or 0.0) * 3600.0, name=name,
                                                                              capacity=o.capacity),
                         "cleanest region and start within H hours"),
    "oracle": StrategyEntry("oracle[-H]", "optional", lambda h, name, o: Oracle(
        (o.default_buffer_h if h is None else h) * 3600.0, name=name, capacity=o.capacity),
        "LTS on actual intensity and durations"),
    "greenci": StrategyEntry("greenci[-H]", "optional", lambda h, name, o: GreenciStrategy(
        buffer_s=(o.default_buffer_h if h is None else h) * 3600.0, capacity=o.capacity,
        wait_price_g_per_kwh_h=o.wait_price_g_per_kwh_h, nightly_time_zone=o.nightly_time_zone, rules=o.rules,
        name=name), "greenci's own: fail fast, deadlines, cold start, capacity"),
    "oracle-capacity": StrategyEntry("oracle-capacity[-H]", "optional", lambda h, name, o: _capacity_oracle(
        (o.default_buffer_h if h is None else h) * 3600.0, o.capacity, name),
        "the exact minimum under the runners' capacity (MILP on HiGHS), actual intensity and durations"),
}
STRATEGY_NAMES = tuple(e.pattern for e in STRATEGIES.values())


def _capacity_oracle(buffer_s: float, capacity: Capacity | None, name: str) -> Strategy:
    try:
        from greenci.scheduling.capacity_oracle import CapacityOracle  # SciPy's HiGHS: loaded when asked for
    except ImportError as exc:
        raise ConfigError(f"oracle-capacity needs SciPy ({exc}): pip install 'greenci[capacity]'") from None

    return CapacityOracle(buffer_s=buffer_s, capacity=capacity, name=name)


def _split_name(raw: str) -> tuple[str, str]:
    """``"oracle-capacity-6"`` -> ``("oracle-capacity", "6")``: the longest registry name it starts with."""
    for key in sorted(STRATEGIES, key=len, reverse=True):
        if raw == key:
            return key, ""
        if raw.startswith(key + "-"):
            return key, raw[len(key) + 1:]
    base, _, suffix = raw.partition("-")
    return base, suffix


def parse_strategy_name(name: str) -> tuple[str, float | None]:
    """``"lts-3"`` -> ``("lts", 3.0)``, ``"greenci"`` -> ``("greenci", None)``; unknown names are refused."""
    raw = name.strip().lower()
    base, suffix = _split_name(raw)
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
    base = _split_name(name.strip().lower())[0]
    if base not in STRATEGIES:
        raise InputError(f"strategy {name!r} is unknown: use {', '.join(STRATEGY_NAMES)} (H = buffer hours)")
    return base


def make_strategy(name: str, *, default_buffer_h: float = 6.0, capacity: Capacity | None = None,
                  wait_price_g_per_kwh_h: float = 0.0, nightly_time_zone: str | None = None,
                  rules: el.EligibilityRules | None = None) -> Strategy:
    """A strategy from its name: ``round-robin``, ``location``, ``lts-3``, ``oracle``, ``oracle-1``, ``greenci-6``.

    ``oracle`` and ``greenci`` without a suffix use ``default_buffer_h`` and keep the bare name.
    """
    base, hours = parse_strategy_name(name)
    options = StrategyOptions(default_buffer_h, capacity, wait_price_g_per_kwh_h, nightly_time_zone,
                              rules or el.EligibilityRules())
    return STRATEGIES[base].build(hours, base if hours is None else f"{base}-{hours:g}", options)
