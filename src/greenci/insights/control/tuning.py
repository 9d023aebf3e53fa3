"""Optuna studies for PPO and greenci's heuristic, stored in SQLite so that a study resumes where it stopped.

Why both: a learned policy compared with an untuned heuristic flatters the policy. Both are tuned on
the training year only (the objective reads a validation period of that year), never on the held-out one.

Objective of both: the validation period's actual grams plus ``wait_price_g_per_kwh_h`` per kWh-hour that
jobs waited (greenci's own price on waiting; 0 = emissions only, where the longest buffer always wins).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from greenci.errors import InputError
from greenci.insights.control.env import MAX_DELAY_H, ControlData, EnvConfig
from greenci.scheduling import eligibility as el
from greenci.scheduling.strategies import Placement

STUDY_PPO = "ppo"
STUDY_GREENCI = "greenci"
DEFAULT_WAIT_PRICE = 10.0


@dataclass(frozen=True)
class TuningResult:
    """The best trial of one study, and how many trials the study holds now (earlier runs included)."""

    study: str
    best_value: float
    best_params: dict[str, float]
    trials: int
    storage: str


def storage_url(folder: Path) -> str:
    """``sqlite:///FOLDER/optuna.db``: the study lives beside the model."""
    return f"sqlite:///{Path(folder).resolve() / 'optuna.db'}"


def cost(placement: Placement, data: ControlData, wait_price_g_per_kwh_h: float) -> float:
    """Actual grams plus the price of waiting (see the module docstring)."""
    from greenci.scheduling.kernel import ActualSurface
    from greenci.scheduling.strategies import accounted_emissions_g

    jobs = data.jobs
    grams = accounted_emissions_g(placement, jobs, ActualSurface(data.grid))
    wait_h = np.maximum(placement.start_s - jobs.submitted_s, 0.0) / 3600.0
    energy = jobs.power_kw * jobs.duration_s / 3600.0
    return float(grams.sum() + wait_price_g_per_kwh_h * np.sum(energy * wait_h))


def _study(name: str, folder: Path, seed: int):  # noqa: ANN202 - optuna type
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    Path(folder).mkdir(parents=True, exist_ok=True)
    return optuna.create_study(study_name=name, storage=storage_url(folder), load_if_exists=True,
                               direction="minimize", sampler=optuna.samplers.TPESampler(seed=seed))


def _check(trials: int) -> None:
    if trials < 1:
        raise InputError(f"tune-trials {trials} must be at least 1 (0 skips tuning)", field="tune_trials")


def tune_greenci(data: ControlData, folder: Path, *, trials: int, seed: int = 0,
                 wait_price_g_per_kwh_h: float = DEFAULT_WAIT_PRICE) -> TuningResult:
    """Tune greenci's buffer (hours) and saving threshold (``EligibilityRules.min_saving_g``) on ``data``."""
    from greenci.insights.control.baselines import heuristic_placements

    _check(trials)
    study = _study(STUDY_GREENCI, folder, seed)

    def objective(trial) -> float:  # noqa: ANN001
        buffer_h = trial.suggest_int("buffer_h", 0, int(MAX_DELAY_H))
        min_saving_g = trial.suggest_float("min_saving_g", 0.0, 50.0)
        rules = el.EligibilityRules(min_saving_g=min_saving_g)
        placement = next(iter(heuristic_placements(data, (f"greenci-{buffer_h}",), rules=rules).values()))
        return cost(placement, data, wait_price_g_per_kwh_h)

    study.optimize(objective, n_trials=trials)
    return TuningResult(STUDY_GREENCI, float(study.best_value), dict(study.best_params), len(study.trials),
                        storage_url(folder))


def tune_ppo(train: ControlData, validation: ControlData, config: EnvConfig, folder: Path, *, trials: int,
             timesteps: int, seed: int = 0, wait_price_g_per_kwh_h: float = DEFAULT_WAIT_PRICE) -> TuningResult:
    """Tune PPO's learning rate, n_steps and gamma: train on ``train``, score on ``validation``."""
    from greenci.insights.control.agents import PPOParams, rollout, train_ppo

    _check(trials)
    study = _study(STUDY_PPO, folder, seed)

    def objective(trial) -> float:  # noqa: ANN001
        params = PPOParams(learning_rate=trial.suggest_float("learning_rate", 1e-4, 3e-3, log=True),
                           n_steps=trial.suggest_categorical("n_steps", [256, 512, 1024]),
                           gamma=trial.suggest_float("gamma", 0.0, 0.99))
        model = train_ppo(train, config, timesteps=timesteps, params=params, seed=seed)
        return cost(rollout(model, validation, config).placement, validation, wait_price_g_per_kwh_h)

    study.optimize(objective, n_trials=trials)
    return TuningResult(STUDY_PPO, float(study.best_value), dict(study.best_params), len(study.trials),
                        storage_url(folder))
