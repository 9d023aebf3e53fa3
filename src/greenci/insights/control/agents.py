"""PPO (stable-baselines3, MlpPolicy, CPU) on :class:`CarbonControlEnv`: train, roll out, place.

Why a placement: a trained policy's decisions become a :class:`~greenci.scheduling.strategies.Placement`
like any strategy's, so they are accounted and compared by the same code (:mod:`.baselines`).

One agent decides for every region and repository. A multi-agent split (one per region or per repository)
was judged not to add value here: without shared runner capacity one job's decision does not change
another's cost, so the problem is a contextual bandit per job, and a shared policy over per-job
observations is already what separate agents with parameter sharing would learn, on more data.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from greenci.errors import InputError
from greenci.insights.control.env import CarbonControlEnv, ControlData, EnvConfig
from greenci.scheduling import eligibility as el
from greenci.scheduling.strategies import Placement


@dataclass(frozen=True)
class PPOParams:
    """The PPO settings Optuna tunes, and the rest kept fixed."""

    learning_rate: float = 3e-4
    n_steps: int = 512
    gamma: float = 0.0  # a job's reward is its own: no later job's cost depends on it
    batch_size: int = 128
    n_epochs: int = 5
    ent_coef: float = 0.01

    def __post_init__(self) -> None:
        if not (0 < self.learning_rate < 1):
            raise InputError(f"learning_rate {self.learning_rate} must be in (0, 1)", field="learning_rate")
        if self.n_steps < 2 or self.batch_size < 2:
            raise InputError(f"n_steps {self.n_steps} and batch_size {self.batch_size} must be at least 2",
                             field="n_steps")
        if not 0 <= self.gamma <= 1:
            raise InputError(f"gamma {self.gamma} must be in [0, 1]", field="gamma")


def _torch_threads() -> None:
    import torch

    torch.set_num_threads(1)  # tiny batches: one thread is fastest, and the machine is shared


def make_ppo(data: ControlData, config: EnvConfig, params: PPOParams, seed: int):  # noqa: ANN201 - sb3 type
    """An untrained PPO on a training env of ``data`` (seeded)."""
    from stable_baselines3 import PPO

    _torch_threads()
    env = CarbonControlEnv(data, config)
    env.reset(seed=seed)
    return PPO("MlpPolicy", env, learning_rate=params.learning_rate, n_steps=params.n_steps, gamma=params.gamma,
               batch_size=min(params.batch_size, params.n_steps), n_epochs=params.n_epochs, ent_coef=params.ent_coef,
               seed=seed, device="cpu", verbose=0, policy_kwargs={"net_arch": [128, 128]})


def train_ppo(data: ControlData, config: EnvConfig, *, timesteps: int, params: PPOParams | None = None,
              seed: int = 0):  # noqa: ANN201
    """PPO trained for ``timesteps`` steps on ``data`` (random whole-week shifts and episode starts)."""
    if timesteps < 1:
        raise InputError(f"timesteps {timesteps} must be at least 1", field="timesteps")
    model = make_ppo(data, config, params or PPOParams(), seed)
    model.learn(total_timesteps=int(timesteps), progress_bar=False)
    return model


def load_ppo(path: Path):  # noqa: ANN201
    from stable_baselines3 import PPO

    if not Path(path).is_file():
        raise InputError(f"model {path}: no such file: give the ppo.zip that 'greenci insights control train' "
                         "wrote", field="model")
    _torch_threads()
    return PPO.load(str(path), device="cpu")


@dataclass(frozen=True, eq=False)
class Rollout:
    """The policy's decisions on every job of a period, and what the env accounted."""

    placement: Placement
    grams: np.ndarray
    mean_reward: float


def rollout(model, data: ControlData, config: EnvConfig) -> Rollout:  # noqa: ANN001
    """The deterministic policy walks every job of ``data`` once, in arrival order."""
    env = CarbonControlEnv(data, config, sequential=True)
    expected = env.observation_space.shape
    got = model.observation_space.shape
    if got != expected:
        raise InputError(f"the model observes {got[0]} values but this env gives {expected[0]}: evaluate on the "
                         "same regions and window the model was trained with", field="model")
    n = len(data.jobs)
    region = np.zeros(n, dtype=np.int64)
    start = np.zeros(n)
    grams = np.zeros(n)
    rewards = np.zeros(n)
    obs, _ = env.reset(seed=0)
    for k in range(n):  # one decision per step: the env is sequential by nature (the queue depends on them)
        action, _ = model.predict(obs, deterministic=True)
        obs, rewards[k], _, _, info = env.step(int(action))
        region[k], start[k], grams[k] = info["region"], info["start_s"], info["grams"]
    jobs = data.jobs
    reason = np.where(start > jobs.submitted_s + 1e-6, el.SHIFTED, el.FAIL_FAST)
    placement = Placement("ppo", region, start, np.full(n, np.nan), reason, np.full(n, np.nan),
                          jobs.submitted_s + jobs.duration_s, estimate_s=data.estimate_s)
    return Rollout(placement, grams, float(rewards.mean()))


def policy_mean_reward(model, data: ControlData, config: EnvConfig, *, episodes: int = 4,  # noqa: ANN001
                       seed: int = 123) -> float:
    """Mean reward per decision of the deterministic policy over seeded training-style episodes."""
    env = CarbonControlEnv(data, config)
    total, steps = 0.0, 0
    for e in range(episodes):
        obs, _ = env.reset(seed=seed + e)
        done = False
        while not done:
            action, _ = model.predict(obs, deterministic=True)
            obs, reward, done, _, _ = env.step(int(action))
            total, steps = total + reward, steps + 1
    return total / max(steps, 1)
