"""A gymnasium environment over greenci's decision layer: one step decides one CI job, in arrival order.

Why an environment at all: it lets a learned policy (PPO) decide on exactly what greenci's strategies
decide on, and be accounted exactly as they are, so that the comparison says something about the policy
and not about a different simulator.

- **Candidates** are the kernel's (:func:`greenci.scheduling.kernel.candidate_starts`): the arrival, then
  every slot boundary up to ``MAX_DELAY_H`` later; the action is one (delay index, region) pair,
  ``Discrete(delays x regions)`` with ``action = delay * regions + region`` (delay 0 = run now).
- **Observation** (all float32, clipped to +-``OBS_CLIP``): the forecast issued at the slot boundary at
  or before the job's arrival for the next ``window_h`` hours in every region (g/kWh / ``scale``); the
  forecast mean intensity of every candidate over the job's *estimated* run, relative to the cheapest;
  the job's features (log estimated hours, may-wait flag from greenci's eligibility rules, deadline slack);
  the queue (jobs decided but not started yet) and the runners each region has busy (earlier decisions,
  estimated durations) over its capacity; the UTC hour as sin/cos. Nothing in it reads actual intensity
  or a true duration: the no-leakage test alters the future actuals and finds every observation unchanged.
- **Reward**: the job's actual grams (greenci's accounting: actual intensity, true duration, pro-rata last
  slot) saved against running it now in its round-robin region, per kWh of the job and per ``scale``
  g/kWh, minus ``wait_penalty`` for delaying a run someone waits for (fail fast) and ``deadline_penalty``
  for ending after its deadline. Dividing a job's reward by its own energy does not change which action is
  best for it (decisions do not interact without capacity); it keeps a six-hour build and a one-minute
  lint teaching alike. ``info["grams"]`` holds the raw grams.

Training episodes are ``episode_jobs`` consecutive jobs of the trace moved by a random whole number of
weeks (``shifts_s``) inside the training span; evaluation walks every job once, unshifted.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from greenci.errors import InputError
from greenci.forecast import FORECASTERS, forecast_cube
from greenci.grid import IntensityGrid
from greenci.jobs import DurationEstimates, JobTable, cold_start_estimates, estimate_durations
from greenci.scheduling import eligibility as el
from greenci.scheduling.context import needed_horizon_h
from greenci.scheduling.kernel import ActualSurface, ForecastSurface, candidate_costs

MAX_DELAY_H = 6.0
OBS_CLIP = 10.0
UNLIMITED_RUNNERS_SCALE = 10.0  # busy runners are divided by this when capacity is unlimited (said so)


@dataclass(frozen=True)
class EnvConfig:
    """What shapes the observation and the reward; saved beside a model so evaluation rebuilds the same env."""

    window_h: int = 24
    episode_jobs: int = 256
    wait_penalty: float = 1.0
    deadline_penalty: float = 1.0
    scale_g_per_kwh: float = 300.0
    runners: int | None = None  # runners per region for the capacity feature (None: unlimited)
    rules: el.EligibilityRules = field(default_factory=el.EligibilityRules)

    def __post_init__(self) -> None:
        if not 1 <= self.window_h <= 48:
            raise InputError(f"window_h {self.window_h} must be 1..48 hours", field="window_h")
        if self.episode_jobs < 1:
            raise InputError(f"episode_jobs {self.episode_jobs} must be at least 1", field="episode_jobs")
        if not (self.scale_g_per_kwh > 0 and np.isfinite(self.scale_g_per_kwh)):
            raise InputError(f"scale_g_per_kwh {self.scale_g_per_kwh} must be a positive number",
                             field="scale_g_per_kwh")
        if self.wait_penalty < 0 or self.deadline_penalty < 0:
            raise InputError("wait_penalty and deadline_penalty must be >= 0", field=("wait_penalty",
                                                                                   "deadline_penalty"))
        if self.runners is not None and self.runners < 1:
            raise InputError(f"runners {self.runners} must be at least 1 (or None for unlimited)", field="runners")

    def as_dict(self) -> dict[str, object]:
        return {"window_h": self.window_h, "episode_jobs": self.episode_jobs, "wait_penalty": self.wait_penalty,
                "deadline_penalty": self.deadline_penalty, "scale_g_per_kwh": self.scale_g_per_kwh,
                "runners": self.runners, "delay_user_triggered": self.rules.delay_user_triggered,
                "min_saving_g": self.rules.min_saving_g}


@dataclass(frozen=True, eq=False)
class ControlData:
    """One period: jobs (positioned at shift 0), the grid, the forecasts issued over it, per-job facts.

    ``shifts_s``: whole-week moves an episode may apply (training); ``(0,)`` for evaluation.
    """

    jobs: JobTable
    grid: IntensityGrid
    cube: np.ndarray  # regions x issues x horizon, issued at first_issue + k
    first_issue: int
    forecast_name: str
    estimates: DurationEstimates  # from earlier runs only (greenci's estimator)
    estimate_s: np.ndarray  # cold starts filled from their workflow / repository / default
    may_wait: np.ndarray  # greenci's eligibility: no one waits for it, or it opted in
    shifts_s: np.ndarray
    label: str = ""

    @property
    def regions(self) -> tuple[str, ...]:
        return self.grid.regions

    @property
    def n_delays(self) -> int:
        return 1 + int(round(MAX_DELAY_H * 3600 / self.grid.step_s))

    @property
    def surface(self) -> ForecastSurface:
        return ForecastSurface(self.cube, self.grid.step_s, first_issue=self.first_issue)

    def span_s(self) -> tuple[int, int]:
        """First arrival and last possible end (latest shift, longest delay, true runtime) of any episode."""
        first = int(self.jobs.submitted_s[0] + self.shifts_s.min())
        last = float(np.max(self.jobs.submitted_s + self.jobs.duration_s)) + float(self.shifts_s.max())
        return first, int(np.ceil(last + MAX_DELAY_H * 3600 + self.grid.step_s))

    def jobs_at(self, shift_s: int) -> JobTable:
        """The jobs moved by ``shift_s`` seconds (arrivals and given deadlines)."""
        from dataclasses import replace

        if shift_s == 0:
            return self.jobs
        return replace(self.jobs, submitted_s=self.jobs.submitted_s + int(shift_s),
                       deadline_s=self.jobs.deadline_s + float(shift_s))


def build_control_data(jobs: JobTable, grid: IntensityGrid, *, forecast: str = "ridge", window_h: int = 24,
                       shifts_s: np.ndarray | tuple[int, ...] = (0,), rules: el.EligibilityRules | None = None,
                       label: str = "") -> ControlData:
    """Forecasts, estimates and eligibility of ``jobs`` on ``grid``; refuses spans the grid does not cover."""
    if len(jobs) == 0:
        raise InputError("the period has no jobs: check the trace and the start/days span", field="trace")
    if forecast not in (*FORECASTERS, "perfect"):
        raise InputError(f"forecast {forecast!r} is unknown: choose one of {', '.join(FORECASTERS)}", field="forecast")
    shifts = np.asarray(shifts_s, dtype=np.int64)
    if shifts.size == 0:
        raise InputError("shifts_s is empty: give at least one shift (0 for none)", field="shifts_s")
    step = grid.step_s
    if (MAX_DELAY_H * 3600) % step:
        raise InputError(f"the grid step {step} s does not divide {MAX_DELAY_H:g} h: resample the grid to 1 h "
                         "or 30 min", field="intensity")
    est = estimate_durations(jobs)
    filled = cold_start_estimates(jobs, est).estimate_s
    first = int(jobs.submitted_s[0] + shifts.min())
    last_end = float(np.max(jobs.submitted_s + jobs.duration_s)) + float(shifts.max()) + MAX_DELAY_H * 3600 + step
    if first < grid.start_s or last_end > grid.start_s + grid.n_slots * step:
        from greenci.timeutil import iso

        raise InputError(f"the jobs ({iso(np.datetime64(first, 's'))} .. {iso(np.datetime64(int(last_end), 's'))} "
                         f"with {MAX_DELAY_H:g} h of delay) are not inside the intensity data ({iso(grid.start)} .. "
                         f"{iso(grid.end)}): give intensity covering the period, or move start/days", field="intensity")
    lo = int((first - grid.start_s) // step)
    hi = int((int(jobs.submitted_s[-1] + shifts.max()) - grid.start_s) // step)
    used = grid.values[:, lo:int(np.ceil((last_end - grid.start_s) / step))]
    if np.isnan(used).any():
        raise InputError("the intensity has gaps inside the period: fill them (greenci intensity fill) or choose "
                         "another period", field="intensity")
    horizon_h = max(float(window_h), needed_horizon_h([MAX_DELAY_H * 3600], filled))
    horizon = int(np.ceil(horizon_h * 3600 / step))
    cube = forecast_cube(grid, forecast, horizon, np.arange(lo, hi + 1, dtype=np.int64))
    reason = el.eligibility(jobs, np.full(len(jobs), MAX_DELAY_H * 3600), rules or el.EligibilityRules())
    name = forecast if forecast != "perfect" else "perfect (actual intensity: an oracle)"
    return ControlData(jobs=jobs, grid=grid, cube=cube, first_issue=lo, forecast_name=name, estimates=est,
                       estimate_s=filled, may_wait=reason == el.SHIFTED, shifts_s=shifts, label=label)


@dataclass(frozen=True, eq=False)
class _Tables:
    """Everything one episode's steps read, computed at once (vectorised) for its jobs."""

    index: np.ndarray  # job indices in the data
    arrival_s: np.ndarray
    cand_s: np.ndarray  # (n, W) candidate starts in seconds
    window: np.ndarray  # (n, R * window_h) normalised forecast window
    options: np.ndarray  # (n, W * R) forecast mean intensity of each candidate, relative to the cheapest
    actual_g: np.ndarray  # (n, W * R) actual grams of each candidate (accounting only, never observed)
    ref_g: np.ndarray  # actual grams of run-now in the round-robin region (the reward's reference)
    energy_kwh: np.ndarray
    deadline_s: np.ndarray
    hour: np.ndarray


def episode_tables(data: ControlData, index: np.ndarray, shift_s: int, config: EnvConfig) -> _Tables:
    """The decision and accounting tables of jobs ``index`` moved by ``shift_s``."""
    jobs, grid, step = data.jobs, data.grid, data.grid.step_s
    n_regions = len(grid.regions)
    sub = jobs.submitted_s[index] + int(shift_s)
    arrival = (sub - grid.start_s) / step
    wait = np.full(index.size, MAX_DELAY_H * 3600 / step)
    est = data.estimate_s[index] / step
    cand, fcost = candidate_costs(data.surface, arrival=arrival, duration=est, max_wait=wait, allowed=None)
    true = jobs.duration_s[index]
    _, acost = candidate_costs(ActualSurface(grid), arrival=arrival, duration=true / step, max_wait=wait,
                               allowed=None)
    power = jobs.power_kw[index]
    mean_f = fcost / (est[:, None] * step / 3600.0)  # g/kWh over the estimated run
    best = np.min(mean_f, axis=1, keepdims=True)
    options = np.nan_to_num((mean_f - best) / config.scale_g_per_kwh, nan=OBS_CLIP, posinf=OBS_CLIP)
    issue = np.floor(arrival + 1e-9).astype(np.int64) - data.first_issue
    window = np.nan_to_num(data.cube[:, issue, :config.window_h].transpose(1, 0, 2) / config.scale_g_per_kwh - 1.0)
    rr = data_index_round_robin(index, n_regions)
    actual_g = acost * power[:, None]
    ref = actual_g[np.arange(index.size), rr]
    deadline = np.where(np.isfinite(jobs.deadline_s[index]), jobs.deadline_s[index] + shift_s,
                        sub + true + MAX_DELAY_H * 3600)
    return _Tables(index=index, arrival_s=sub.astype(np.float64), cand_s=grid.start_s + cand * step,
                   window=window.reshape(index.size, -1), options=options, actual_g=actual_g, ref_g=ref,
                   energy_kwh=power * true / 3600.0, deadline_s=deadline, hour=(sub % 86400) / 3600.0)


def data_index_round_robin(index: np.ndarray, n_regions: int) -> np.ndarray:
    """Round-robin region of each job: ``j mod R`` on its index in the whole trace (the study's baseline)."""
    return np.asarray(index, dtype=np.int64) % n_regions


class CarbonControlEnv(gym.Env):
    """See the module docstring. ``sequential=True`` walks every job once, unshifted (evaluation)."""

    metadata = {"render_modes": []}

    def __init__(self, data: ControlData, config: EnvConfig | None = None, *, sequential: bool = False) -> None:
        super().__init__()
        self.data = data
        self.config = config or EnvConfig()
        self.sequential = sequential
        self.n_regions = len(data.regions)
        self.n_delays = data.n_delays
        if self.config.window_h * 3600 > data.cube.shape[2] * data.grid.step_s:
            raise InputError(f"window_h {self.config.window_h} is longer than the forecasts built "
                             f"({data.cube.shape[2]} slots): build the data with the same window_h", field="window_h")
        self.action_space = spaces.Discrete(self.n_delays * self.n_regions)
        dim = (self.n_regions * self.config.window_h + self.n_delays * self.n_regions + 3 + 1 + self.n_regions + 2)
        self.observation_space = spaces.Box(-OBS_CLIP, OBS_CLIP, shape=(dim,), dtype=np.float32)
        self._busy_span_s = MAX_DELAY_H * 3600 + float(np.nanmax(data.estimate_s))
        self._tables: _Tables | None = None
        self._k = 0

    # ------------------------------------------------------------------ gymnasium API
    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        n = len(self.data.jobs)
        if self.sequential:
            index, shift = np.arange(n), 0
        else:
            size = min(self.config.episode_jobs, n)
            first = int(self.np_random.integers(0, n - size + 1))
            index = np.arange(first, first + size)
            shift = int(self.data.shifts_s[int(self.np_random.integers(0, self.data.shifts_s.size))])
        self._tables = episode_tables(self.data, index, shift, self.config)
        size = index.size
        self._start_s = np.zeros(size)
        self._end_est_s = np.zeros(size)
        self._region = np.zeros(size, dtype=np.int64)
        self._k = 0
        return self._observe(0), {"shift_s": shift, "jobs": size}

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict]:
        t = self._tables
        if t is None:
            raise InputError("call reset() before step()", field="action")
        a = int(action)
        if not 0 <= a < self.action_space.n:
            raise InputError(f"action {a} is outside 0..{self.action_space.n - 1}", field="action")
        k = self._k
        delay, region = divmod(a, self.n_regions)
        j = int(t.index[k])
        start = float(t.cand_s[k, delay])
        grams = float(t.actual_g[k, a])
        waited_attended = delay > 0 and not bool(self.data.may_wait[j])
        missed = start + float(self.data.jobs.duration_s[j]) > float(t.deadline_s[k]) + 1e-6
        reward = (float(t.ref_g[k]) - grams) / (float(t.energy_kwh[k]) * self.config.scale_g_per_kwh)
        reward -= self.config.wait_penalty * waited_attended + self.config.deadline_penalty * missed
        self._start_s[k], self._region[k] = start, region
        self._end_est_s[k] = start + float(self.data.estimate_s[j])
        self._k = k + 1
        done = self._k >= t.index.size
        obs = self._observe(self._k) if not done else np.zeros(self.observation_space.shape, dtype=np.float32)
        info = {"job": j, "grams": grams, "region": region, "delay": delay, "start_s": start,
                "waited_attended": waited_attended, "missed_deadline": missed}
        return obs, float(reward), done, False, info

    # ------------------------------------------------------------------ observation
    def _observe(self, k: int) -> np.ndarray:
        t = self._tables
        assert t is not None
        j = int(t.index[k])
        now = float(t.arrival_s[k])
        est_h = float(self.data.estimate_s[j]) / 3600.0
        may_wait = bool(self.data.may_wait[j])
        slack_h = max(0.0, (float(t.deadline_s[k]) - now) / 3600.0 - est_h) if may_wait else 0.0
        lo = int(np.searchsorted(t.arrival_s[:k], now - self._busy_span_s))
        starts, ends, regions = self._start_s[lo:k], self._end_est_s[lo:k], self._region[lo:k]
        queued = float(np.count_nonzero(starts > now))
        running = (starts <= now) & (ends > now)
        busy = np.bincount(regions[running], minlength=self.n_regions).astype(np.float64)
        busy /= float(self.config.runners) if self.config.runners else UNLIMITED_RUNNERS_SCALE
        angle = 2 * np.pi * float(t.hour[k]) / 24.0
        obs = np.concatenate([t.window[k], t.options[k], [np.log1p(est_h), float(may_wait), min(slack_h, 48.0) / 24.0],
                              [queued / 50.0], busy, [np.sin(angle), np.cos(angle)]])
        return np.clip(obs, -OBS_CLIP, OBS_CLIP).astype(np.float32)
