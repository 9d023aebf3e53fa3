"""Carbon-aware control (PPO): the gymnasium API, learning, held-out evaluation, no leakage, Optuna, the CLI.

Every grid here is greenci's synthetic model (labelled synthetic), built in the test; seeds are fixed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("gymnasium", reason="the control extra is not installed: pip install 'greenci[ml]'")
pytest.importorskip("stable_baselines3", reason="the control extra is not installed: pip install 'greenci[ml]'")
pytest.importorskip("optuna", reason="the control extra is not installed: pip install 'greenci[ml]'")

from greenci.grid import IntensityGrid  # noqa: E402
from greenci.insights.control.env import CarbonControlEnv, EnvConfig, build_control_data  # noqa: E402
from greenci.synthetic import synthetic_grid  # noqa: E402
from greenci.tracegen import generate_study_trace  # noqa: E402

REGIONS = ("AU-VIC", "DE-LU", "CA-ON")  # the dirtiest first: an untrained policy's action 0 is a poor one
CONFIG = EnvConfig(window_h=6, episode_jobs=64)


@pytest.fixture(scope="module")
def grid() -> IntensityGrid:
    g = synthetic_grid(list(REGIONS), start="2022-01-01T00:00:00Z", hours=24 * 30, seed=3)
    assert g.synthetic
    return g


@pytest.fixture(scope="module")
def data(grid: IntensityGrid):  # noqa: ANN201
    jobs = generate_study_trace(start="2022-01-10T00:00:00Z", days=2, runs=240, seed=3)
    return build_control_data(jobs, grid, forecast="seasonal-naive", window_h=6, shifts_s=(0, 7 * 86400))


def test_env_follows_the_gymnasium_api(data) -> None:  # noqa: ANN001
    from gymnasium.utils.env_checker import check_env

    env = CarbonControlEnv(data, CONFIG)
    check_env(env, skip_render_check=True)
    assert env.action_space.n == data.n_delays * len(REGIONS) == 7 * 3


def test_env_rewards_are_greencis_accounting(data) -> None:  # noqa: ANN001
    """Each step's grams equal accounted_emissions_g of the same placement (actual intensity, true runtime)."""
    from greenci.scheduling.kernel import ActualSurface
    from greenci.scheduling.strategies import Placement, accounted_emissions_g

    env = CarbonControlEnv(data, CONFIG, sequential=True)
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    n = len(data.jobs)
    region, start, grams = np.zeros(n, np.int64), np.zeros(n), np.zeros(n)
    for k in range(n):
        _, _, done, _, info = env.step(int(rng.integers(env.action_space.n)))
        region[k], start[k], grams[k] = info["region"], info["start_s"], info["grams"]
    assert done
    nan = np.full(n, np.nan)
    p = Placement("random", region, start, nan, np.zeros(n, np.int64), nan, nan)
    np.testing.assert_allclose(grams, accounted_emissions_g(p, data.jobs, ActualSurface(data.grid)), rtol=1e-9)


def test_training_raises_the_mean_reward(data) -> None:  # noqa: ANN001
    from greenci.insights.control.agents import PPOParams, make_ppo, policy_mean_reward

    model = make_ppo(data, CONFIG, PPOParams(n_steps=256, batch_size=64), seed=0)
    before = policy_mean_reward(model, data, CONFIG, episodes=3)
    model.learn(total_timesteps=3072)
    after = policy_mean_reward(model, data, CONFIG, episodes=3)
    assert after > before, (before, after)


def test_observation_at_arrival_ignores_future_actual_intensity(grid: IntensityGrid) -> None:
    """Altering the actual intensity after a job's arrival leaves every observation up to it unchanged."""
    jobs = generate_study_trace(start="2022-01-10T00:00:00Z", days=1, runs=120, seed=4)
    k = 60
    issue = int((int(jobs.submitted_s[k]) - grid.start_s) // grid.step_s)  # the forecast it reads was issued here
    values = grid.values.copy()
    values[:, issue:] *= np.linspace(0.2, 3.0, values.shape[1] - issue)[None, :]
    altered = IntensityGrid(grid.regions, grid.start, grid.step_s, values, synthetic=True)
    observed = []
    for g in (grid, altered):
        d = build_control_data(jobs, g, forecast="ridge", window_h=6)
        env = CarbonControlEnv(d, CONFIG, sequential=True)
        obs, _ = env.reset(seed=0)
        seen = [obs]
        for j in range(k):
            obs, *_ = env.step(j % env.action_space.n)
            seen.append(obs)
        observed.append(np.array(seen))
    np.testing.assert_array_equal(observed[0], observed[1])
    assert not np.array_equal(grid.values[:, issue:], altered.values[:, issue:])


def _two_years() -> IntensityGrid:
    return synthetic_grid(list(REGIONS), start="2022-01-01T00:00:00Z", hours=2 * 8760, seed=5)


def test_evaluation_uses_a_period_the_model_never_saw() -> None:
    from greenci.usecases.control import ControlRequest, control_periods

    request = ControlRequest(study=True, regions=REGIONS, days=2, runs=200, forecast="seasonal-naive", window_h=6)
    p = control_periods(request, grid=_two_years())
    train_end = p.train.grid.start_s + p.train.grid.n_slots * p.train.grid.step_s
    first, last = p.train.span_s()
    assert last <= train_end <= int(np.datetime64("2023-01-01T00:00:00", "s").astype(np.int64))
    assert p.evaluation.grid.start_s >= train_end  # no slot of the held-out grid was in training
    assert int(p.evaluation.jobs.submitted_s[0]) >= int(np.datetime64("2023-03-01", "s").astype(np.int64))
    assert p.validation.grid is p.train.grid and first >= p.train.grid.start_s


def test_optuna_study_is_stored_and_resumes(data, tmp_path: Path) -> None:  # noqa: ANN001
    from greenci.insights.control.tuning import tune_greenci

    first = tune_greenci(data, tmp_path, trials=2, seed=0)
    assert (tmp_path / "optuna.db").is_file() and first.trials == 2
    again = tune_greenci(data, tmp_path, trials=2, seed=1)
    assert again.trials == 4 and again.best_value <= first.best_value
    assert 0 <= again.best_params["buffer_h"] <= 6


def test_cli_train_then_evaluate(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from greenci.cli import app

    out = tmp_path / "model"
    common = ["--study", "--runs", "150", "--days", "1", "--seed", "1"]
    result = CliRunner().invoke(app, ["insights", "control", "train", *common, "--regions", "AU-VIC,CA-ON",
                                      "--timesteps", "512", "--forecast", "seasonal-naive", "--window-h", "6",
                                      "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert (out / "ppo.zip").is_file() and (out / "control.json").is_file()
    assert "kWh" in result.output
    result = CliRunner().invoke(app, ["insights", "control", "evaluate", "--model", str(out / "ppo.zip"), *common,
                                      "-o", str(tmp_path / "report")])
    assert result.exit_code == 0, result.output
    for name in ("round-robin", "lts-6", "greenci-6", "oracle-6", "ppo", "kWh", "synthetic jobs"):
        assert name in result.output
    assert (tmp_path / "report" / "report.md").is_file()
    assert (tmp_path / "report" / "emissions.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize(("args", "option"), [
    (["train", "--study", "--timesteps", "0", "-o", "{tmp}"], "--timesteps"),
    (["train", "--study", "--days", "0", "-o", "{tmp}"], "--days"),
    (["train", "--study", "--regions", ",", "-o", "{tmp}"], "--regions"),
    (["train", "--study", "--tune-trials", "-1", "-o", "{tmp}"], "--tune-trials"),
    (["evaluate", "--study", "--model", "{tmp}/missing.zip"], "--model"),
])
def test_cli_bad_inputs_exit_2_naming_the_option(args: list[str], option: str, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from greenci.cli import app

    result = CliRunner().invoke(app, ["insights", "control", *[a.replace("{tmp}", str(tmp_path)) for a in args]])
    assert result.exit_code == 2, result.output
    assert option in result.output
    assert "Traceback" not in result.output
