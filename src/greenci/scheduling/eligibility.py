"""The preprocessor: which jobs may wait for cleaner hours, and why (in words) for every decision.

Fail fast (the paper's premise): a run a person is waiting for is never delayed unless its workflow
opts in. Such a job still goes to the cleanest allowed region *now*. Rules, in order (the first that
applies decides):

1. ``carbon-aware: no`` in the workflow                  -> run now, cleanest allowed region
2. someone waits for the run and nobody opted in          -> run now, cleanest allowed region
   (pull requests, manual dispatches, pushes to a branch other than the default, and any event not
   known to be unattended; ``carbon-aware: yes``, or a per-repository / per-workflow policy, opts in)
3. allowed waiting below ``min_flex_s``                   -> run now, cleanest allowed region
4. (decided by the strategy on the forecast) the best window saves less than ``min_saving_g`` against
   running now in the cleanest region                    -> run now, cleanest allowed region
5. otherwise                                              -> shifted in time and space

Unattended events, which may wait by default: ``schedule`` (cron), ``push`` to the default branch,
``batch`` (cluster traces) and ``workflow_run`` (a follow-up of another run).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from greenci.jobs import JobTable

REASONS: tuple[str, ...] = (
    "shifted: flexible job, cleanest start and region in its window",
    "not shifted: the workflow sets carbon-aware: no; runs now in the cleanest allowed region",
    "not shifted: someone waits for this run (pull request, manual dispatch or push to a non-default branch) "
    "and the workflow does not opt in with carbon-aware: yes; runs now in the cleanest allowed region",
    "not shifted: allowed waiting is below the minimum flexibility; runs now in the cleanest allowed region",
    "not shifted: waiting saves less than the threshold against running now; runs now in the cleanest allowed "
    "region",
    "cold start: no run history and no duration estimate; round-robin region, runs now",
    "round-robin baseline",
    "capacity: preferred slot was full; next best slot with a free runner",
    "not shifted: nothing is known of this job, its workflow or repository (no history, no estimate); runs now "
    "in the cleanest allowed region",
    "not shifted: no forecast (the source failed and no fallback forecast was usable); runs now in the region "
    "that was cleanest at the last known values",
)
(SHIFTED, OPT_OUT, FAIL_FAST, LOW_FLEX, LOW_SAVING, STUDY_COLD_START, ROUND_ROBIN, CAPACITY, COLD_START,
 NO_FORECAST) = range(len(REASONS))

#: events no person waits for: time shifting applies to them by default
UNATTENDED_EVENTS = frozenset({"schedule", "batch", "workflow_run"})


@dataclass(frozen=True)
class EligibilityRules:
    """Policy of the preprocessor (see the module docstring).

    ``delay_user_triggered`` lets runs someone waits for wait too (everywhere); ``overrides`` sets it per
    repository (``"owner/repo"``) or per workflow (``"owner/repo:workflow"``; the most specific wins).
    """

    delay_user_triggered: bool = False
    overrides: Mapping[str, bool] = field(default_factory=dict)
    min_flex_s: float = 0.0
    min_saving_g: float = 0.0

    def delay_allowed(self, jobs: JobTable) -> np.ndarray:
        """Per job: may a run someone waits for be delayed (policy only; the workflow's opt-in is separate)?"""
        allowed = np.full(len(jobs), bool(self.delay_user_triggered))
        if not self.overrides:
            return allowed
        repo = jobs.repo.astype(str)
        workflow = np.char.add(np.char.add(repo, ":"), jobs.workflow.astype(str))
        for key, value in self.overrides.items():  # repositories first, then workflows: the specific wins
            if ":" not in key:
                allowed[repo == key] = bool(value)
        for key, value in self.overrides.items():
            if ":" in key:
                allowed[workflow == key] = bool(value)
        return allowed


def attended(jobs: JobTable) -> np.ndarray:
    """Runs a person is waiting for: everything but scheduled runs, pushes to the default branch and batch work."""
    ev = jobs.event
    unattended = (ev == "push") & jobs.default_branch
    for name in UNATTENDED_EVENTS:
        unattended |= ev == name
    return ~unattended


def eligibility(jobs: JobTable, max_wait_s: np.ndarray, rules: EligibilityRules) -> np.ndarray:
    """Reason code per job: ``SHIFTED`` for jobs that may wait, another code for those that run now.

    The saving rule (4) needs the forecast and is applied by the strategy.
    """
    code = np.full(len(jobs), SHIFTED, dtype=np.int64)
    waits_for_someone = attended(jobs) & ~jobs.opted_in & ~rules.delay_allowed(jobs)
    for mask, reason in (
        (~(max_wait_s >= max(rules.min_flex_s, 1e-9)), LOW_FLEX),  # NaN waits count as none
        (waits_for_someone, FAIL_FAST),
        (~jobs.carbon_aware, OPT_OUT),
    ):
        code[mask] = reason  # later rules overwrite earlier ones: the first rule in the docstring wins
    return code
