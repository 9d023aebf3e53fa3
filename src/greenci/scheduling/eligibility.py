"""The preprocessor: which jobs may be shifted, and why (in words) for every decision.

Rules, in order (the first that applies decides):

1. ``carbon-aware: false`` in the workflow            -> run now, cleanest allowed region
2. trigger not flexible by policy (e.g. pull requests -> run now, cleanest allowed region
   when ``shift_pull_requests`` is off; someone waits for the result)
3. flexibility (allowed waiting) below ``min_flex_s``  -> run now, cleanest allowed region
4. expected saving below ``min_saving_g``              -> run now, cleanest allowed region
   (estimated as power x duration x the typical spread of intensity over the window; the cost of
   deciding is not worth it below that)
5. otherwise                                           -> shift in time and space

Scheduled (cron) runs, manual dispatches and pushes to the default branch are flexible by default;
pushes to other branches follow pull requests.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from greenci.jobs import JobTable

REASONS: tuple[str, ...] = (
    "shifted: flexible job, cleanest start and region in its window",
    "not shifted: the workflow sets carbon-aware: false; runs now in the cleanest allowed region",
    "not shifted: pull-request runs are not delayed by policy; runs now in the cleanest allowed region",
    "not shifted: allowed waiting is below the minimum flexibility; runs now in the cleanest allowed region",
    "not shifted: expected saving is below the threshold; runs now in the cleanest allowed region",
    "cold start: no run history and no duration estimate; round-robin region, runs now",
    "round-robin baseline",
    "capacity: preferred slot was full; next best slot with a free runner",
)
SHIFTED, OPT_OUT, PR_POLICY, LOW_FLEX, LOW_SAVING, COLD_START, ROUND_ROBIN, CAPACITY = range(len(REASONS))


@dataclass(frozen=True)
class EligibilityRules:
    """Policy of the preprocessor (see the module docstring)."""

    shift_pull_requests: bool = True
    min_flex_s: float = 0.0
    min_saving_g: float = 0.0
    typical_spread_share: float = 0.2


def eligibility(jobs: JobTable, max_wait_s: np.ndarray, estimate_s: np.ndarray, mean_intensity_g_per_kwh: float,
                rules: EligibilityRules) -> np.ndarray:
    """Reason code per job: ``SHIFTED`` for jobs that may be shifted, another code for those that may not."""
    n = len(jobs)
    code = np.full(n, SHIFTED, dtype=np.int64)
    ev = jobs.event.astype(str)
    pr_like = (ev == "pull_request") | (ev == "pull_request_target") | ((ev == "push") & ~jobs.default_branch)
    saving = (jobs.power_kw * np.nan_to_num(estimate_s) / 3600.0 * mean_intensity_g_per_kwh
              * rules.typical_spread_share)
    for mask, reason in (
        (saving < rules.min_saving_g, LOW_SAVING),
        (np.nan_to_num(max_wait_s) < max(rules.min_flex_s, 1e-9), LOW_FLEX),
        (pr_like & (not rules.shift_pull_requests), PR_POLICY),
        (~jobs.carbon_aware, OPT_OUT),
    ):
        code[mask] = reason  # later rules overwrite earlier ones: the first rule in the docstring wins
    return code
