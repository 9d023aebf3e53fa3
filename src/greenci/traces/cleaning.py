"""Make a real trace fit for replay: find implausible runtimes, and move a trace onto intensity data.

Why: recorded runtimes of real CI histories contain values that are not runtimes (a GHAminer
``build_duration`` is ``updated_at - created_at``, so approval waits, re-runs and late updates show
as runs of days or a year), and the public traces are from other years than the public intensity
data. Both fixes change the input, so both append a note to ``JobTable.notes`` saying what they did.

Implausible runtimes (:func:`find_implausible`). A run is implausible when its duration exceeds

    limit = min(job_limit_s, max(factor x P95(other runs of its workflow), floor_s))

with ``job_limit_s`` = 6 h (GitHub-hosted runners stop a job after 6 h), ``factor`` = 10, ``floor_s`` =
1 h, "its workflow" = same (repo, workflow, job), and "other runs" = all its runs but this one
(leave-one-out, so a single huge value cannot raise its own bar). The relative part applies only to
workflows with at least ``min_history`` = 5 other runs; with fewer, only the 6 h limit holds. Why 6 h
also for whole workflow runs: a replay treats a run as one job on one runner, and in the
gha-dashboard data every run of 6-24 h is a re-run or an approval wait (e.g. psf/requests "Lint code"
runs of 9-40 h on pull requests), not work; a workflow run may legally last up to 35 days only
because of such waits. Pass ``job_limit_s=24 * 3600`` for self-hosted runners with longer jobs.

Policies (:func:`clean_implausible`): ``exclude`` drops the runs; ``cap`` sets each to its own
``limit``, the largest duration the rule calls plausible for its workflow (never above 6 h; a 401-day
"run" of a workflow whose runs take minutes becomes about an hour, not 6 h, which would inflate its
energy many times); ``cap_s=GITHUB_JOB_LIMIT_S`` caps at the runner limit instead. Either way the
runs are listed (ids, repo, workflow, duration) in the returned :class:`ImplausibleRuns`.

Week alignment (:func:`align_to_weeks`, :func:`align_into`). A trace is shifted by whole weeks, so
every run keeps its UTC weekday and time of day (the weekly rhythm of CI work and of grid intensity
both survive; local daylight-saving offsets and public holidays of the other year do not).
``align_to_weeks(jobs, t)`` moves the first submission to the first instant at or after ``t`` with its
weekday and time of day. ``align_into(jobs, start, end)`` considers every whole-week shift that puts
the first submission in ``[start, end)``, keeps those that leave the most jobs entirely inside (start
and end), and of these takes the smallest shift (0 when the trace already fits), so a trace is
moved no further than it must.
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from dataclasses import dataclass

import numpy as np

from greenci.errors import InputError
from greenci.jobs import JobTable
from greenci.timeutil import iso, to_datetime64

GITHUB_JOB_LIMIT_S = 6 * 3600.0
WEEK_S = 7 * 86400
POLICIES = ("exclude", "cap")


# ====================================================================== implausible runtimes
@dataclass(frozen=True, eq=False)
class ImplausibleRuns:
    """The runs a rule found implausible: positions in the input table and what they were."""

    index: np.ndarray
    ids: np.ndarray
    repo: np.ndarray
    workflow: np.ndarray
    job_name: np.ndarray
    duration_s: np.ndarray
    limit_s: np.ndarray
    over_job_limit: np.ndarray
    rule: str
    job_limit_s: float = GITHUB_JOB_LIMIT_S

    def __len__(self) -> int:
        return int(self.index.size)

    def by_repo(self) -> dict[str, int]:
        """How many implausible runs each repository has, most first."""
        return dict(Counter(self.repo.astype(str).tolist()).most_common())

    def reasons(self) -> list[str]:
        """Why each run is implausible, in words."""
        return [
            f"{_hours(d)} is over the {_hours(self.job_limit_s)} job limit (plausible for its workflow: up to "
            f"{_hours(lim)})" if over
            else f"{_hours(d)} is over its workflow's relative limit of {_hours(lim)}"
            for d, lim, over in zip(self.duration_s, self.limit_s, self.over_job_limit, strict=True)
        ]

    def rows(self) -> list[dict[str, object]]:
        """One dict a run (id, repo, workflow, job, duration_s, limit_s, reason), longest first."""
        reasons = self.reasons()
        out = [
            {"id": str(self.ids[i]), "repo": str(self.repo[i]), "workflow": str(self.workflow[i]),
             "job": str(self.job_name[i]), "duration_s": float(self.duration_s[i]),
             "limit_s": float(self.limit_s[i]), "reason": reasons[i]}
            for i in range(len(self))
        ]
        return sorted(out, key=lambda r: -float(r["duration_s"]))  # type: ignore[arg-type]

    def summary(self, examples: int = 3) -> str:
        """A short text: how many, per repository, and the longest few."""
        if not len(self):
            return f"no implausible runs ({self.rule})"
        per_repo = ", ".join(f"{r} {k}" for r, k in self.by_repo().items())
        longest = "; ".join(f"{r['repo']} {r['workflow']!s} run {r['id']} {_hours(float(r['duration_s']))}"  # type: ignore[arg-type]
                            for r in self.rows()[:examples])
        return (f"{len(self):,} implausible runs ({int(self.over_job_limit.sum()):,} over the job limit): "
                f"{per_repo}; longest: {longest}")


def find_implausible(jobs: JobTable, *, job_limit_s: float = GITHUB_JOB_LIMIT_S, factor: float = 10.0,
                     quantile: float = 0.95, floor_s: float = 3600.0, min_history: int = 5) -> ImplausibleRuns:
    """The runs whose duration the rule in the module docstring calls implausible (vectorised)."""
    if not job_limit_s > 0 or not factor > 0 or not floor_s >= 0:
        raise InputError("job_limit_s and factor must be > 0 and floor_s >= 0 (e.g. 6 h, 10, 1 h)")
    if not 0 < quantile <= 1:
        raise InputError(f"quantile {quantile} must be in (0, 1], e.g. 0.95")
    if min_history < 1:
        raise InputError(f"min_history {min_history} must be at least 1 run")
    d = jobs.duration_s
    if len(jobs):
        q_other, others = leave_one_out_quantile(jobs.keys(), d, quantile)
        relative = np.where(others >= min_history, np.maximum(factor * np.nan_to_num(q_other), floor_s), np.inf)
    else:
        relative = np.zeros(0)
    limit = np.minimum(job_limit_s, relative)
    idx = np.flatnonzero(d > limit)
    rule = (f"duration > min({_hours(job_limit_s)} job limit, max({factor:g} x P{quantile * 100:g} of the "
            f"workflow's other runs, {_hours(floor_s)})), the relative part for workflows with >= {min_history} "
            "other runs")
    return ImplausibleRuns(
        index=idx, ids=jobs.ids[idx], repo=jobs.repo[idx], workflow=jobs.workflow[idx],
        job_name=jobs.job_name[idx], duration_s=d[idx], limit_s=limit[idx], over_job_limit=d[idx] > job_limit_s,
        rule=rule, job_limit_s=float(job_limit_s),
    )


def clean_implausible(jobs: JobTable, *, policy: str, job_limit_s: float = GITHUB_JOB_LIMIT_S,
                      factor: float = 10.0, quantile: float = 0.95, floor_s: float = 3600.0,
                      min_history: int = 5, cap_s: float | None = None) -> tuple[JobTable, ImplausibleRuns]:
    """Find implausible runs and ``exclude`` them or ``cap`` them; a note says what was done.

    ``cap`` shortens each run to its own limit (the largest duration the rule calls plausible for
    its workflow, at most ``job_limit_s``), or to ``cap_s`` when given (e.g. ``GITHUB_JOB_LIMIT_S``
    for "cap at the runner limit"; runs shorter than ``cap_s`` are then left as they are).
    """
    if cap_s is not None and not cap_s > 0:
        raise InputError(f"cap_s {cap_s} must be > 0 seconds, e.g. 21600 (6 h)")
    if policy not in POLICIES:
        raise InputError(f"policy {policy!r} is unknown: use 'exclude' (drop the runs) or 'cap' (shorten them)")
    found = find_implausible(jobs, job_limit_s=job_limit_s, factor=factor, quantile=quantile, floor_s=floor_s,
                             min_history=min_history)
    k = len(found)
    over = int(found.over_job_limit.sum())
    detail = (f"{over:,} over the {_hours(job_limit_s)} job limit, {k - over:,} over {factor:g} x "
              f"P{quantile * 100:g} of their workflow (>= {_hours(floor_s)})")
    if k == 0:
        note = f"no implausible runs found ({found.rule})"
        return dataclasses.replace(jobs, notes=(*jobs.notes, note)), found
    if policy == "exclude":
        keep = np.ones(len(jobs), dtype=bool)
        keep[found.index] = False
        note = f"{k:,} implausible runs excluded ({detail})"
        table = jobs.take(np.flatnonzero(keep))
        return dataclasses.replace(table, notes=(*jobs.notes, note)), found
    duration = jobs.duration_s.copy()
    if cap_s is None:
        duration[found.index] = found.limit_s
        how = (f"each at the largest duration plausible for its workflow (at most {_hours(job_limit_s)}; "
               f"median cap {_hours(float(np.median(found.limit_s)))})")
    else:
        duration[found.index] = np.minimum(found.duration_s, cap_s)
        how = f"at {_hours(cap_s)}"
    note = f"{k:,} implausible runs ({detail}) capped {how}"
    capped = jobs.capped.copy()
    capped[found.index] = True
    return dataclasses.replace(jobs, duration_s=duration, capped=capped, notes=(*jobs.notes, note)), found


def leave_one_out_quantile(keys: np.ndarray, values: np.ndarray, quantile: float) -> tuple[np.ndarray, np.ndarray]:
    """For each row, the quantile (linear, as ``np.quantile``) of the *other* rows with the same key.

    Returns ``(quantile, others)``; ``quantile`` is NaN where a key has no other row. Vectorised: rows
    are sorted by (key, value) and each row reads its neighbours in the sorted group with its own
    position skipped, so no loop over groups.
    """
    n = values.size
    order = np.lexsort((values, keys))
    ks, vs = keys[order], np.asarray(values, dtype=np.float64)[order]
    first = np.r_[True, ks[1:] != ks[:-1]]
    starts = np.flatnonzero(first)
    sizes = np.diff(np.r_[starts, n])
    gstart = np.repeat(starts, sizes)
    rank = np.arange(n) - gstart
    others = np.repeat(sizes, sizes) - 1
    pos = quantile * np.maximum(others - 1, 0)
    k0 = np.floor(pos).astype(np.int64)
    frac = pos - k0
    k1 = np.minimum(k0 + 1, np.maximum(others - 1, 0))

    def other(k: np.ndarray) -> np.ndarray:
        return vs[np.minimum(gstart + k + (k >= rank), n - 1)]

    lo = other(k0)
    got = lo + frac * (other(k1) - lo)
    got[others < 1] = np.nan
    q_out = np.empty(n)
    m_out = np.empty(n, dtype=np.int64)
    q_out[order] = got
    m_out[order] = others
    return q_out, m_out


# ====================================================================== week alignment
def shift_weeks(jobs: JobTable, weeks: int, *, why: str = "to align with the intensity data") -> JobTable:
    """The table moved by ``weeks`` whole weeks (submissions and deadlines), with a note saying so."""
    shift = int(weeks) * WEEK_S
    note = (f"trace shifted by {int(weeks)} weeks ({shift:,} s) {why}; weekday and time of day (UTC) kept"
            if weeks else f"trace not shifted (0 weeks) {why}: it already fits")
    return dataclasses.replace(jobs, submitted_s=jobs.submitted_s + shift, deadline_s=jobs.deadline_s + shift,
                               notes=(*jobs.notes, note))


def align_to_weeks(jobs: JobTable, target_start: object) -> tuple[JobTable, int]:
    """Shift by whole weeks so the trace starts at the first instant >= ``target_start`` with its own
    weekday and time of day; returns the shifted table and the shift in seconds."""
    first = _first_submission(jobs)
    target = int(to_datetime64(target_start).astype(np.int64))
    weeks = math.ceil((target - first) / WEEK_S)
    return shift_weeks(jobs, weeks), weeks * WEEK_S


def align_into(jobs: JobTable, span_start: object, span_end: object, *,
               drop_outside: bool = False) -> tuple[JobTable, int]:
    """Whole-week shift that puts the trace start in ``[span_start, span_end)`` with the most jobs inside.

    Among the shifts that leave the most jobs entirely inside the span, the smallest is taken (see
    the module docstring). Jobs still running past ``span_end`` are noted, and left out when
    ``drop_outside``. Returns the shifted table and the shift in seconds.
    """
    first = _first_submission(jobs)
    s0 = int(to_datetime64(span_start).astype(np.int64))
    s1 = int(to_datetime64(span_end).astype(np.int64))
    if s1 <= s0:
        raise InputError(f"span end {iso(np.datetime64(s1, 's'))} is not after its start {iso(np.datetime64(s0, 's'))}")
    k_lo = math.ceil((s0 - first) / WEEK_S)
    k_hi = math.floor((s1 - 1 - first) / WEEK_S)
    if k_hi < k_lo:
        raise InputError(
            f"no whole-week shift puts the trace start ({iso(np.datetime64(first, 's'))}) inside "
            f"{iso(np.datetime64(s0, 's'))} .. {iso(np.datetime64(s1, 's'))}: the span is shorter than a week "
            "from that weekday and time; give a span of at least a week"
        )
    candidates = np.arange(k_lo, k_hi + 1, dtype=np.int64)
    ends = np.sort(jobs.submitted_s + jobs.duration_s)
    inside = np.searchsorted(ends, s1 - candidates * WEEK_S, side="right")  # starts are all >= s0 here
    best = candidates[inside == inside.max()]
    weeks = int(best[np.argmin(np.abs(best))])
    shift = weeks * WEEK_S
    table = shift_weeks(jobs, weeks)
    outside = (table.submitted_s + table.duration_s) > s1
    count = int(outside.sum())
    if count:
        end_text = iso(np.datetime64(s1, "s"))
        if drop_outside:
            kept = table.take(np.flatnonzero(~outside))
            note = f"{count:,} of {len(table):,} jobs run past the end of the intensity data ({end_text}): left out"
            table = dataclasses.replace(kept, notes=(*table.notes, note))
        else:
            note = (f"{count:,} of {len(table):,} jobs run past the end of the intensity data ({end_text}) after the "
                    "shift")
            table = dataclasses.replace(table, notes=(*table.notes, note))
    return table, shift


def _first_submission(jobs: JobTable) -> int:
    if not len(jobs):
        raise InputError("the job table is empty: there is no trace to align")
    return int(jobs.submitted_s[0])


def _hours(seconds: float) -> str:
    """A duration as people read it: 45 s, 12 min, 6 h, 3.2 d, 401 d."""
    s = float(seconds)
    if s < 90:
        return f"{s:.0f} s"
    if s < 3570:
        return f"{s / 60:.0f} min"
    if s < 2 * 86400:
        h = s / 3600
        return f"{h:.0f} h" if abs(h - round(h)) < 0.05 else f"{h:.1f} h"
    return f"{s / 86400:.1f} d" if s < 30 * 86400 else f"{s / 86400:.0f} d"


__all__ = [
    "GITHUB_JOB_LIMIT_S",
    "POLICIES",
    "WEEK_S",
    "ImplausibleRuns",
    "align_into",
    "align_to_weeks",
    "clean_implausible",
    "find_implausible",
    "leave_one_out_quantile",
    "shift_weeks",
]
