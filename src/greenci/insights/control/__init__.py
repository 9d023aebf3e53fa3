"""Carbon-aware control with reinforcement learning (optional: ``pip install 'greenci[ml]'``).

:mod:`.env` is a gymnasium environment over greenci's decision layer (forecast surfaces, the kernel's
candidate starts, eligibility, accounting on actuals); :mod:`.agents` trains and rolls out PPO
(stable-baselines3); :mod:`.baselines` places the same jobs with greenci's own strategies; :mod:`.tuning`
runs Optuna studies stored in SQLite; :mod:`.report` writes the comparison. Importing this package loads
no heavy library: each module imports gymnasium, torch, stable-baselines3 or optuna itself.
"""

ML_INSTALL_HINT = "pip install 'greenci[ml]'"
ML_MODULES = ("gymnasium", "stable_baselines3", "torch", "optuna")

__all__ = ["ML_INSTALL_HINT", "ML_MODULES"]
