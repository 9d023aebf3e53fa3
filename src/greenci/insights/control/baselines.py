"""The same jobs on the same grid through greenci's own strategies, and one scorecard for every method.

Why here: a learned policy is only worth something against what greenci already does. The heuristics
decide on the very forecast surface the environment observes (the oracle on the actual intensity and true
durations, labelled so), and every placement, the agent's included, is accounted by
:func:`greenci.scheduling.strategies.accounted_emissions_g`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from greenci.insights.control.env import MAX_DELAY_H, ControlData
from greenci.scheduling import eligibility as el
from greenci.scheduling.context import Context
from greenci.scheduling.kernel import ActualSurface
from greenci.scheduling.strategies import Placement, accounted_emissions_g, make_strategy

DEFAULT_METHODS = ("round-robin", f"lts-{MAX_DELAY_H:g}", f"greenci-{MAX_DELAY_H:g}", f"oracle-{MAX_DELAY_H:g}")


@dataclass(frozen=True)
class MethodResult:
    """One method on one period: actual grams, reduction vs round-robin, misses, and who waited."""

    name: str
    emissions_g: float
    reduction_vs_round_robin: float
    deadline_misses: int
    delayed_attended: int  # runs someone waits for that were delayed (greenci's fail-fast rule broken)
    shifted_jobs: int
    wait_p95_s: float
    wait_mean_s: float
    decided_on: str

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


def heuristic_placements(data: ControlData, names: Sequence[str] = DEFAULT_METHODS, *,
                         rules: el.EligibilityRules | None = None) -> dict[str, Placement]:
    """greenci's strategies (``make_strategy`` names) on ``data``'s jobs at shift 0."""
    jobs, grid = data.jobs, data.grid
    oracle_ctx = Context.build(jobs, grid, estimates=data.estimates)
    ctx = oracle_ctx.deciding_on(data.surface, f"forecast: {data.forecast_name}")
    out = {}
    for name in names:
        strategy = make_strategy(name, default_buffer_h=MAX_DELAY_H, rules=rules)
        out[strategy.name] = strategy.place(jobs, ctx if strategy.uses_forecast else oracle_ctx)
    return out


def score(name: str, placement: Placement, data: ControlData, decided_on: str) -> tuple[MethodResult, np.ndarray]:
    """The method's totals (reduction left 0: :func:`with_reductions` fills it) and its grams per job."""
    jobs = data.jobs
    grams = accounted_emissions_g(placement, jobs, ActualSurface(data.grid))
    wait = placement.start_s - jobs.submitted_s
    deadline = np.where(np.isfinite(jobs.deadline_s), jobs.deadline_s,
                        jobs.submitted_s + jobs.duration_s + MAX_DELAY_H * 3600)
    late = placement.start_s + jobs.duration_s > deadline + 1e-6
    delayed = wait > 1e-6
    return MethodResult(name=name, emissions_g=float(grams.sum()), reduction_vs_round_robin=0.0,
                        deadline_misses=int(np.sum(late)), delayed_attended=int(np.sum(delayed & ~data.may_wait)),
                        shifted_jobs=int(np.sum(delayed)), wait_p95_s=float(np.percentile(wait, 95)),
                        wait_mean_s=float(wait.mean()), decided_on=decided_on), grams


def with_reductions(results: Sequence[MethodResult]) -> list[MethodResult]:
    """Each result with its reduction against the round-robin row (NaN when there is none)."""
    from dataclasses import replace

    base = next((r.emissions_g for r in results if r.name == "round-robin"), float("nan"))
    return [replace(r, reduction_vs_round_robin=1.0 - r.emissions_g / base if base > 0 else float("nan"))
            for r in results]


def decided_on(name: str, data: ControlData) -> str:
    """What a method's decisions read, in words (an oracle is labelled)."""
    if name == "round-robin":
        return "no intensity"
    if name.startswith("oracle"):
        return "actual intensity and true durations (oracle)"
    return f"forecast: {data.forecast_name}"


def evaluate_heuristics(data: ControlData, names: Sequence[str] = DEFAULT_METHODS, *,
                        rules: el.EligibilityRules | None = None) -> list[MethodResult]:
    """Every heuristic on ``data``, scored alike (reductions not yet filled)."""
    return [score(name, p, data, decided_on(name, data))[0]
            for name, p in heuristic_placements(data, names, rules=rules).items()]
