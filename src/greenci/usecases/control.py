"""Train and evaluate the carbon-aware control agent: what ``greenci insights control`` calls.

The request names the jobs (the study's generated runs, or real trace files replayed by whole weeks),
the intensity (files, the shared Electricity Maps data, or the labelled synthetic model) and three periods:
the **training** span (the agent's episodes move the trace by whole weeks inside it; its last week-shift is
the validation Optuna scores on), and the **evaluation** span, whose grid is cut so that it shares no slot
with the training one. Each run measures its own energy (greenci's ``measure()`` through
:class:`~greenci.insights.selfenergy.SelfEnergy`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from greenci.errors import ConfigError, InputError
from greenci.grid import IntensityGrid, IntensitySeries
from greenci.jobs import JobTable
from greenci.study import STUDY_REGIONS
from greenci.timeutil import iso, to_datetime64

ReadSeries = Callable[[Sequence[Path]], list[IntensitySeries]]
WEEK_S = 7 * 86400
HISTORY_S = 56 * 86400  # intensity before a period that the forecast models learn from
TAIL_S = 2 * 86400
MODEL_FILE, META_FILE = "ppo.zip", "control.json"


def require_ml() -> None:
    """Refuse, with the install line, when the optional ML packages are missing."""
    from importlib.util import find_spec

    from greenci.insights.control import ML_INSTALL_HINT, ML_MODULES

    missing = [m for m in ML_MODULES if find_spec(m) is None]
    if missing:
        raise ConfigError(f"greenci insights control needs {', '.join(missing)}: {ML_INSTALL_HINT}")


@dataclass(frozen=True)
class ControlRequest:
    """Jobs, intensity, periods and training budget (see the module docstring)."""

    study: bool = False
    trace: tuple[Path, ...] = ()
    intensity: tuple[Path, ...] = ()
    regions: tuple[str, ...] = STUDY_REGIONS
    train_start: str = "2022-03-01T00:00:00Z"
    train_end: str = "2023-01-01T00:00:00Z"
    eval_start: str = "2023-03-01T00:00:00Z"
    days: float = 7.0
    runs: int | None = None  # generated runs per period (default: the study's rate)
    seed: int = 0
    forecast: str = "ridge"
    timesteps: int = 50_000
    tune_trials: int = 0
    tune_timesteps: int = 10_000
    window_h: int = 24
    episode_jobs: int = 256

    def __post_init__(self) -> None:
        if self.study == bool(self.trace):
            raise InputError("give either --study (generated runs) or --trace FILE..., exactly one",
                             field=("study", "trace"))
        if not 0 < self.days <= 60:
            raise InputError(f"days {self.days} must be in (0, 60]", field="days")
        if self.timesteps < 1:
            raise InputError(f"timesteps {self.timesteps} must be at least 1", field="timesteps")
        if self.tune_trials < 0:
            raise InputError(f"tune_trials {self.tune_trials} must be 0 (no tuning) or more", field="tune_trials")
        if self.tune_timesteps < 1:
            raise InputError(f"tune_timesteps {self.tune_timesteps} must be at least 1", field="tune_timesteps")
        if self.runs is not None and self.runs < 1:
            raise InputError(f"runs {self.runs} must be at least 1", field="runs")
        if not self.regions or len(set(self.regions)) != len(self.regions):
            raise InputError(f"regions {', '.join(self.regions) or '(none)'}: list at least one, each once",
                             field="regions")
        t0, t1, e0 = (self._t(v, f) for v, f in ((self.train_start, "train_start"), (self.train_end, "train_end"),
                                                   (self.eval_start, "eval_start")))
        if t1 - t0 < self.days * 86400 + TAIL_S:
            raise InputError(f"train_start {self.train_start} .. train_end {self.train_end} must hold days "
                             f"{self.days:g} plus 2 days", field=("train_start", "train_end"))
        if e0 < t1:
            raise InputError(f"eval_start {self.eval_start} must be after train_end {self.train_end}: the "
                             "evaluation period is held out", field="eval_start")

    @staticmethod
    def _t(value: str, name: str) -> int:
        return int(to_datetime64(value, field=name).astype(np.int64))


@dataclass(frozen=True, eq=False)
class Periods:
    train: Any  # ControlData (the import is lazy: gymnasium)
    validation: Any
    evaluation: Any
    notes: tuple[str, ...] = ()


def _read_intensity(paths: Sequence[Path]) -> list[IntensitySeries]:
    from greenci.sources import read_intensity

    return read_intensity(list(paths))


def _full_grid(request: ControlRequest, read: ReadSeries) -> IntensityGrid:
    paths = list(request.intensity)
    if not paths:
        from greenci.shared_data import find_shared_data

        found = find_shared_data()
        paths = [found / "intensity" / "electricitymaps-hourly"] if found is not None else []
    if not paths:
        from greenci.synthetic import synthetic_grid

        return synthetic_grid(list(request.regions), start="2022-01-01T00:00:00Z", hours=2 * 8760,
                              seed=request.seed)
    series = [s for s in read(paths) if s.region in set(request.regions)]
    missing = sorted(set(request.regions) - {s.region for s in series})
    if missing:
        raise InputError(f"no intensity for region(s) {', '.join(missing)} in {', '.join(map(str, paths))}: give "
                         "files for them or choose regions among those present", field="regions")
    return IntensityGrid.from_series(series).select(list(request.regions))


def _template(request: ControlRequest) -> JobTable:
    """The period's jobs starting at the Unix epoch's first Thursday + whole weeks: placed by :func:`_at`."""
    if request.study:
        from greenci.study import study_runs
        from greenci.tracegen import generate_study_trace

        return generate_study_trace(start=request.train_start, days=request.days,
                                    runs=request.runs or study_runs(request.days), seed=request.seed)
    from greenci.traces import read_trace
    from greenci.traces.cleaning import clean_implausible

    got = read_trace(request.trace)
    if len(got.jobs) == 0:
        raise InputError(f"no usable run in {', '.join(map(str, request.trace))}: check the trace files",
                         field="trace")
    jobs, _ = clean_implausible(got.jobs, policy="cap")
    sub = jobs.submitted_s
    ends = np.searchsorted(sub, sub + request.days * 86400, side="left")
    first = int(np.argmax(ends - np.arange(sub.size)))  # the busiest window of the trace: most runs in it
    return jobs.take(np.arange(first, int(ends[first])))


def _at(jobs: JobTable, start: str) -> JobTable:
    """The jobs moved by whole weeks to the first instant at or after ``start`` (weekday and hour kept)."""
    from greenci.traces.cleaning import align_to_weeks

    moved, _ = align_to_weeks(jobs, start)
    return moved


def control_periods(request: ControlRequest, read_series: ReadSeries | None = None, *,
                    grid: IntensityGrid | None = None) -> Periods:
    """Training (with its week shifts), validation (its last shift) and evaluation data.

    ``grid``: intensity given by the caller (a test's, a service's) instead of read from files.
    """
    from greenci.insights.control.env import build_control_data

    grid = grid.select(list(request.regions)) if grid is not None else _full_grid(request,
                                                                                   read_series or _read_intensity)
    template = _template(request)
    t1 = ControlRequest._t(request.train_end, "train_end")
    train_jobs = _at(template, request.train_start)
    span = float(np.max(train_jobs.submitted_s + train_jobs.duration_s)) + TAIL_S
    weeks = int((t1 - span) // WEEK_S)
    if weeks < 0:
        raise InputError(f"the trace ({request.days:g} days) does not fit between train_start and train_end: "
                         "shorten days or widen the span", field=("days", "train_end"))
    shifts = np.arange(weeks + 1, dtype=np.int64) * WEEK_S
    lo = max(int(train_jobs.submitted_s[0]) - HISTORY_S, grid.start_s)
    train_grid = grid.between(np.datetime64(lo, "s"), np.datetime64(t1, "s"))
    fit, val = (shifts[:-1], shifts[-1:]) if shifts.size > 1 else (shifts, shifts)
    kwargs = dict(forecast=request.forecast, window_h=request.window_h)
    train = build_control_data(train_jobs, train_grid, shifts_s=fit, label="training", **kwargs)
    last = int(val[0])
    validation = build_control_data(replace(train_jobs, submitted_s=train_jobs.submitted_s + last,
                                            deadline_s=train_jobs.deadline_s + last),
                                    train_grid, label="validation", **kwargs)
    eval_jobs = _at(template, request.eval_start)
    e_lo = max(int(eval_jobs.submitted_s[0]) - HISTORY_S, t1, grid.start_s)
    e_hi = int(np.max(eval_jobs.submitted_s + eval_jobs.duration_s)) + TAIL_S
    eval_grid = grid.between(np.datetime64(e_lo, "s"), np.datetime64(e_hi, "s"))
    evaluation = build_control_data(eval_jobs, eval_grid, label="evaluation", **kwargs)
    notes = [f"training episodes move the jobs by 0..{max(fit.size - 1, 0)} whole weeks; validation (tuning only) "
             f"is the shift of {last // WEEK_S} weeks"]
    if grid.synthetic:
        notes.append("intensity: greenci's synthetic model (SYNTHETIC), no files or shared data were found")
    if template.synthetic:
        notes.append("jobs: greenci's study generator (synthetic)")
    return Periods(train, validation, evaluation, tuple(notes))


def slot_span(data: Any) -> tuple[int, int]:
    """First and last-exclusive second of the intensity slots a period's grid holds."""
    g = data.grid
    return g.start_s, g.start_s + g.n_slots * g.step_s


@dataclass(frozen=True, eq=False)
class TrainOutcome:
    model_path: Path
    meta_path: Path
    storage: str | None
    tuned: dict[str, dict[str, float]]
    train_span: tuple[str, str]
    mean_reward_before: float
    mean_reward_after: float
    energy: Any
    notes: tuple[str, ...] = field(default=())


def train_control(request: ControlRequest, out: Path, *, read_series: ReadSeries | None = None,
                  grid: IntensityGrid | None = None) -> TrainOutcome:
    """Tune (optionally), train PPO on the training year, save ``out/ppo.zip`` and ``out/control.json``."""
    require_ml()
    from greenci.insights.control.agents import PPOParams, make_ppo, policy_mean_reward
    from greenci.insights.control.env import EnvConfig
    from greenci.insights.control.tuning import storage_url, tune_greenci, tune_ppo
    from greenci.insights.selfenergy import SelfEnergy

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    meter = SelfEnergy()
    with meter:
        periods = control_periods(request, read_series, grid=grid)
        config = EnvConfig(window_h=request.window_h, episode_jobs=request.episode_jobs)
        tuned: dict[str, dict[str, float]] = {}
        params = PPOParams()
        if request.tune_trials:
            g = tune_greenci(periods.validation, out, trials=request.tune_trials, seed=request.seed)
            p = tune_ppo(periods.train, periods.validation, config, out, trials=request.tune_trials,
                         timesteps=request.tune_timesteps, seed=request.seed)
            tuned = {"greenci": g.best_params, "ppo": p.best_params}
            params = PPOParams(learning_rate=float(p.best_params["learning_rate"]),
                               n_steps=int(p.best_params["n_steps"]), gamma=float(p.best_params["gamma"]))
        model = make_ppo(periods.train, config, params, request.seed)
        before = policy_mean_reward(model, periods.train, config)
        model.learn(total_timesteps=request.timesteps, progress_bar=False)
        after = policy_mean_reward(model, periods.train, config)
        model_path = out / MODEL_FILE
        model.save(str(model_path))
    span = slot_span(periods.train)
    train_span = (iso(np.datetime64(span[0], "s")), iso(np.datetime64(span[1], "s")))
    meta = {"regions": list(request.regions), "forecast": request.forecast, "window_h": request.window_h,
            "episode_jobs": request.episode_jobs, "train_span": list(train_span), "seed": request.seed,
            "timesteps": request.timesteps, "ppo": params.__dict__, "tuned": tuned,
            "synthetic_intensity": bool(periods.train.grid.synthetic)}
    from greenci.outputs import write_text

    meta_path = write_text(out / META_FILE, json.dumps(meta, indent=2) + "\n")
    return TrainOutcome(model_path, meta_path, storage_url(out) if request.tune_trials else None, tuned, train_span,
                        before, after, meter.result, periods.notes)


def read_meta(model: Path) -> dict[str, Any]:
    path = Path(model).parent / META_FILE
    if not Path(model).is_file():
        raise InputError(f"model {model}: no such file: give the ppo.zip that 'greenci insights control train' "
                         "wrote", field="model")
    if not path.is_file():
        raise InputError(f"model {model}: {META_FILE} is missing beside it: evaluate a folder written by "
                         "'greenci insights control train'", field="model")
    return json.loads(path.read_text(encoding="utf-8"))


def evaluate_control(request: ControlRequest, model: Path, *, read_series: ReadSeries | None = None,  # noqa: ANN201
                     grid: IntensityGrid | None = None):
    """PPO, LTS, greenci (and greenci as tuned), the oracle and round-robin on the held-out period."""
    require_ml()
    from greenci.insights.control.agents import load_ppo, rollout
    from greenci.insights.control.baselines import (
        DEFAULT_METHODS,
        decided_on,
        heuristic_placements,
        score,
        with_reductions,
    )
    from greenci.insights.control.env import EnvConfig
    from greenci.insights.control.report import ControlReport
    from greenci.insights.selfenergy import SelfEnergy
    from greenci.scheduling.eligibility import EligibilityRules

    meta = read_meta(model)
    request = replace(request, regions=tuple(meta["regions"]), forecast=meta["forecast"],
                      window_h=int(meta["window_h"]))
    meter = SelfEnergy()
    with meter:
        periods = control_periods(request, read_series, grid=grid)
        data = periods.evaluation
        config = EnvConfig(window_h=request.window_h)
        agent = rollout(load_ppo(model), data, config)
        results = [score(n, p, data, decided_on(n, data))[0] for n, p in heuristic_placements(data).items()]
        tuned = meta.get("tuned", {}).get("greenci")
        if tuned:
            rules = EligibilityRules(min_saving_g=float(tuned["min_saving_g"]))
            name = f"greenci-{int(tuned['buffer_h'])}"
            p = heuristic_placements(data, (name,), rules=rules)[name]
            results.append(replace(score(name, p, data, decided_on(name, data))[0], name=f"{name} (tuned)"))
        results.append(score("ppo", agent.placement, data, f"forecast: {data.forecast_name} (PPO policy)")[0])
    span = slot_span(data)
    train_span = tuple(meta["train_span"])
    if ControlRequest._t(train_span[1], "train_span") > span[0]:
        raise InputError(f"the evaluation grid starts {iso(np.datetime64(span[0], 's'))}, inside the training span "
                         f"(to {train_span[1]}): choose eval_start after the training year", field="eval_start")
    order = {n: i for i, n in enumerate(DEFAULT_METHODS)}
    results.sort(key=lambda r: order.get(r.name, len(order)))
    energy = meter.result
    return ControlReport(
        methods=tuple(with_reductions(results)), regions=data.regions, jobs=len(data.jobs),
        train_span=(str(train_span[0]), str(train_span[1])),
        eval_span=(iso(np.datetime64(span[0], "s")), iso(np.datetime64(span[1], "s"))),
        jobs_span=(iso(np.datetime64(int(data.jobs.submitted_s[0]), "s")),
                   iso(np.datetime64(int(data.jobs.submitted_s[-1]), "s"))),
        forecast=data.forecast_name, synthetic_intensity=bool(data.grid.synthetic),
        synthetic_jobs=bool(data.jobs.synthetic), jobs_source=data.jobs.source or "trace",
        energy=energy.as_dict() if energy is not None else {}, tuned=meta.get("tuned", {}),
        notes=periods.notes + ("multi-agent variant not built: without shared runner capacity each job's cost is "
                               "independent of the others', so one shared policy is what per-region or "
                               "per-repository agents with parameter sharing would learn, on less data each",))
