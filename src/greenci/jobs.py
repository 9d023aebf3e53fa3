"""CI jobs, their run history, duration estimates and inferred deadlines.

A single :class:`Job` is what a CI system asks about; a :class:`JobTable` holds many jobs as columns
(NumPy arrays) so that the estimator, the strategies and the simulator work on all of them at once.

Duration estimate (``estimate_durations``), for a job with ``n`` earlier runs of the same
(repo, workflow, job) — only earlier runs, never its own — and an optional user estimate ``u``::

    q      = P90 of the last ``window`` (50) earlier runs         (quantile, 'higher' rule)
    w      = k / (k + n)           user weight, k = 5: 1 with no history, 0.5 after 5 runs, ~0.09 after 50
    base   = w * u + (1 - w) * q   with both;  q without u;  u without history;  unknown without either
    buffer = b0 / sqrt(1 + n)      b0 = 0.5: +50 % with no history, +15 % after 10 runs, +5 % after 99
    estimate = base * (1 + buffer)

A job with neither history nor user estimate has no estimate of its own. :func:`estimate_durations`
leaves it NaN (the study's strategies then take round-robin, as in the study) and
:func:`cold_start_estimates` fills it, in order, from the P90 of earlier runs of the same workflow, then
of the same repository (each x (1 + b0): nothing is known of this job itself), else
:data:`DEFAULT_ESTIMATE_S` (10 min, about the P90 of the real GitHub Actions runs in the shared data).
Every estimate says where it came from (:data:`ESTIMATE_SOURCES`) and what weight the user's kept.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

from greenci.errors import InputError
from greenci.timeutil import to_epoch_s

TRIGGERS = ("push", "pull_request", "schedule", "workflow_dispatch", "other")
#: the documented default for a job nothing is known of (no history of the job, its workflow or repository)
DEFAULT_ESTIMATE_S = 600.0
#: where an estimate came from (codes in ``DurationEstimates.source``)
ESTIMATE_SOURCES: tuple[str, ...] = ("none", "history", "history and your estimate", "your estimate",
                                     "workflow history", "repository history", "default")
EST_NONE, EST_HISTORY, EST_BLEND, EST_USER, EST_WORKFLOW, EST_REPO, EST_DEFAULT = range(len(ESTIMATE_SOURCES))
_EPOCH = np.datetime64(0, "s")


@dataclass(frozen=True)
class DurationModel:
    """Parameters of the duration estimate (see the module docstring)."""

    quantile: float = 0.9
    window: int = 50
    user_weight_k: float = 5.0
    buffer0: float = 0.5

    def __post_init__(self) -> None:
        if not 0 < self.quantile <= 1:
            raise InputError(f"quantile {self.quantile} must be in (0, 1], e.g. 0.9 for P90")
        if self.window < 1:
            raise InputError(f"window {self.window} must be at least 1 run")
        if self.user_weight_k < 0 or self.buffer0 < 0:
            raise InputError("user_weight_k and buffer0 must be >= 0")


@dataclass(frozen=True)
class Job:
    """One CI job asking where and when to run. Times are UTC; durations in seconds."""

    id: str
    repo: str
    workflow: str
    submitted_at: datetime
    job_name: str = ""
    event: str = "push"
    duration_estimate_s: float | None = None
    deadline: datetime | None = None
    buffer_s: float | None = None
    allowed_regions: tuple[str, ...] | None = None
    carbon_aware: bool | None = None  # True: opted in (may wait even if someone waits), False: opted out
    power_kw: float = 1.0
    priority: int = 0
    interruptible: bool = False
    default_branch: bool = True
    crons: tuple[str, ...] = ()  # the workflow's schedule: a periodic job may wait until its next run
    keys_from: str | None = None  # the workflow file its carbon-aware keys were read from, for messages

    def __post_init__(self) -> None:
        if self.submitted_at.tzinfo is None:
            raise InputError(f"job {self.id}: submitted_at must carry a time zone (UTC), e.g. 2022-10-12T08:00Z")
        if self.duration_estimate_s is not None and not self.duration_estimate_s > 0:
            raise InputError(f"job {self.id}: duration estimate {self.duration_estimate_s} s must be > 0")
        if self.buffer_s is not None and self.buffer_s < 0:
            raise InputError(f"job {self.id}: buffer {self.buffer_s} s must be >= 0")
        if self.deadline is not None and self.deadline <= self.submitted_at:
            raise InputError(f"job {self.id}: deadline {self.deadline} is not after submission {self.submitted_at}")
        if not self.power_kw > 0:
            raise InputError(f"job {self.id}: power_kw {self.power_kw} must be > 0")

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.repo, self.workflow, self.job_name)

    @functools.cached_property
    def submitted_s(self) -> int:
        """Seconds since the Unix epoch of ``submitted_at``: a decision reads it a dozen times."""
        return to_epoch_s(self.submitted_at)


@dataclass(frozen=True, eq=False)
class JobTable:
    """Many jobs as columns. Times are int64 seconds since the Unix epoch (UTC).

    ``duration_s`` is the true runtime (known to the simulator for accounting, never to decisions);
    ``user_estimate_s``, ``deadline_s`` and ``buffer_s`` are NaN where not given.
    """

    ids: np.ndarray
    repo: np.ndarray
    workflow: np.ndarray
    job_name: np.ndarray
    event: np.ndarray
    submitted_s: np.ndarray
    duration_s: np.ndarray
    user_estimate_s: np.ndarray
    deadline_s: np.ndarray
    buffer_s: np.ndarray
    carbon_aware: np.ndarray
    power_kw: np.ndarray
    interruptible: np.ndarray
    default_branch: np.ndarray
    allowed_regions: tuple[tuple[str, ...] | None, ...] | None = None
    opted_in: np.ndarray | None = None  # the workflow says carbon-aware: yes (None: nobody opted in)
    capped: np.ndarray | None = None  # duration_s was capped by cleaning: the true runtime is unknown
    run_ids: np.ndarray | None = None  # the CI run each job belongs to ("" unknown; None: no trace says)
    synthetic: bool = False
    source: str = ""
    notes: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        n = len(self.submitted_s)
        for name in ("ids", "repo", "workflow", "job_name", "event", "duration_s", "user_estimate_s",
                     "deadline_s", "buffer_s", "carbon_aware", "power_kw", "interruptible", "default_branch"):
            if len(getattr(self, name)) != n:
                raise InputError(f"job table column {name} has {len(getattr(self, name))} rows, expected {n}")
        if n > 1 and np.any(np.diff(self.submitted_s) < 0):
            raise InputError("jobs must be in arrival order: sort by submitted time (JobTable.sorted())")
        bad = ~(self.duration_s > 0)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise InputError(f"job {self.ids[i]}: duration {self.duration_s[i]} s must be > 0")
        for name in ("opted_in", "capped"):
            value = getattr(self, name)
            if value is None:
                object.__setattr__(self, name, np.zeros(n, dtype=bool))
            elif len(value) != n:
                raise InputError(f"job table column {name} has {len(value)} rows, expected {n}")
        if self.run_ids is not None and len(self.run_ids) != n:
            raise InputError(f"job table column run_ids has {len(self.run_ids)} rows, expected {n}")
        if self.allowed_regions is not None and len(self.allowed_regions) != n:
            raise InputError("allowed_regions must have one entry per job (None = any region)")

    def __len__(self) -> int:
        return len(self.submitted_s)

    @classmethod
    def build(cls, *, submitted_s: Sequence[int] | np.ndarray, duration_s: Sequence[float] | np.ndarray,
              repo: Sequence[str] | np.ndarray | None = None, workflow: Sequence[str] | np.ndarray | None = None,
              **columns: object) -> JobTable:
        """A table from columns, filling defaults and sorting by arrival (stable)."""
        sub = np.asarray(submitted_s, dtype=np.int64)
        n = sub.size
        order = np.argsort(sub, kind="stable")

        def col(name: str, default: object, dtype: object) -> np.ndarray:
            value = columns.pop(name, None)
            arr = np.full(n, default, dtype=dtype) if value is None else np.asarray(value, dtype=dtype)
            if arr.shape != (n,):
                raise InputError(f"column {name} has shape {arr.shape}, expected ({n},)")
            return arr[order]

        allowed = columns.pop("allowed_regions", None)
        run_ids = columns.pop("run_ids", None)
        if run_ids is not None:
            run_ids = np.asarray(run_ids, dtype=object)
            if run_ids.shape != (n,):
                raise InputError(f"column run_ids has shape {run_ids.shape}, expected ({n},)")
            run_ids = run_ids[order]
        synthetic = bool(columns.pop("synthetic", False))
        source = str(columns.pop("source", ""))
        notes = tuple(columns.pop("notes", ()))  # type: ignore[arg-type]
        table = dict(
            ids=col("ids", "", object) if "ids" in columns else np.arange(n).astype(str).astype(object)[order],
            repo=(np.asarray(repo, dtype=object)[order] if repo is not None else np.full(n, "repo", object)),
            workflow=(np.asarray(workflow, dtype=object)[order] if workflow is not None
                      else np.full(n, "workflow", object)),
            job_name=col("job_name", "", object),
            event=col("event", "push", object),
            submitted_s=sub[order],
            duration_s=np.asarray(duration_s, dtype=np.float64)[order],
            user_estimate_s=col("user_estimate_s", np.nan, np.float64),
            deadline_s=col("deadline_s", np.nan, np.float64),
            buffer_s=col("buffer_s", np.nan, np.float64),
            carbon_aware=col("carbon_aware", True, bool),
            power_kw=col("power_kw", 1.0, np.float64),
            interruptible=col("interruptible", False, bool),
            default_branch=col("default_branch", True, bool),
            opted_in=col("opted_in", False, bool),
            capped=col("capped", False, bool),
        )
        if columns:
            raise InputError(f"unknown job column(s) {', '.join(columns)}")
        if allowed is not None:
            allowed = tuple(allowed[i] for i in order)  # type: ignore[index]
        return cls(**table, allowed_regions=allowed, run_ids=run_ids, synthetic=synthetic, source=source,
                   notes=notes)

    def keys(self, level: str = "job") -> np.ndarray:
        """Integer code of each job's history key, numbered by first appearance.

        ``level``: ``"job"`` (repo, workflow, job), ``"workflow"`` (repo, workflow) or ``"repo"``. Each
        column is factorised on its own (hashing, no sort) and the codes are combined, so no joined strings
        are built: ~15x faster on a million jobs, and no separator inside a name can merge keys.
        """
        import pandas as pd

        columns = {"job": (self.repo, self.workflow, self.job_name), "workflow": (self.repo, self.workflow),
                   "repo": (self.repo,)}.get(level)
        if columns is None:
            raise InputError(f"history level {level!r} is unknown: use job, workflow or repo")
        codes = np.zeros(len(self), dtype=np.int64)
        for column in columns:
            c, uniques = pd.factorize(column, use_na_sentinel=False)
            codes, _ = pd.factorize(codes * len(uniques) + c)  # compact again: codes stay < rows
        return codes.astype(np.int64)

    def take(self, index: np.ndarray) -> JobTable:
        """A subset of rows (kept in arrival order)."""
        index = np.sort(np.asarray(index))
        cols = {name: getattr(self, name)[index] for name in (
            "ids", "repo", "workflow", "job_name", "event", "submitted_s", "duration_s", "user_estimate_s",
            "deadline_s", "buffer_s", "carbon_aware", "power_kw", "interruptible", "default_branch", "opted_in",
            "capped")}
        allowed = None if self.allowed_regions is None else tuple(self.allowed_regions[i] for i in index)
        runs = None if self.run_ids is None else self.run_ids[index]
        return JobTable(**cols, allowed_regions=allowed, run_ids=runs, synthetic=self.synthetic, source=self.source,
                        notes=self.notes)


@dataclass(frozen=True, eq=False)
class RunHistory:
    """Earlier runs of one (repo, workflow, job), oldest first: what the scheduler knows of a job's past.

    ``estimate`` applies the module's formula to these runs only, so a service can answer one job at a
    time with exactly what :func:`estimate_durations` gives inside a replay.
    """

    key: tuple[str, str, str]
    submitted_s: np.ndarray
    durations_s: np.ndarray

    def __post_init__(self) -> None:
        sub = np.asarray(self.submitted_s, dtype=np.int64)
        dur = np.asarray(self.durations_s, dtype=np.float64)
        if sub.shape != dur.shape:
            raise InputError(f"history {self.key}: {sub.size} submissions but {dur.size} durations")
        if dur.size and not (dur > 0).all():
            raise InputError(f"history {self.key}: durations must be > 0 s")
        order = np.argsort(sub, kind="stable")
        object.__setattr__(self, "submitted_s", sub[order])
        object.__setattr__(self, "durations_s", dur[order])

    def __len__(self) -> int:
        return int(self.durations_s.size)

    def before(self, t_s: int) -> RunHistory:
        """Only the runs submitted strictly before ``t_s`` (what was known then)."""
        n = self.submitted_s.size
        if not n or self.submitted_s[-1] < t_s:  # all of them (a service asks about now): no copy, no check
            return self
        k = int(np.searchsorted(self.submitted_s, t_s, side="left"))
        return RunHistory._checked(self.key, self.submitted_s[:k], self.durations_s[:k])

    @classmethod
    def _checked(cls, key: tuple[str, str, str], submitted_s: np.ndarray, durations_s: np.ndarray) -> RunHistory:
        """A history from arrays already checked and in order (a part of one): a planner asks for one per
        decision, and checking and sorting them again cost more than the lookup."""
        out = object.__new__(cls)
        object.__setattr__(out, "key", key)
        object.__setattr__(out, "submitted_s", submitted_s)
        object.__setattr__(out, "durations_s", durations_s)
        return out

    def add(self, submitted_s: int, duration_s: float) -> RunHistory:
        """A new history with one more finished run (the feedback loop)."""
        return RunHistory(self.key, np.r_[self.submitted_s, submitted_s], np.r_[self.durations_s, duration_s])

    def quantile_s(self, model: DurationModel | None = None) -> float:
        """The P90 (``model.quantile``) of the last ``model.window`` runs, NaN without runs."""
        m = model or DurationModel()
        if not len(self):
            return float("nan")
        recent = np.sort(self.durations_s[-m.window:])
        return float(recent[int(np.ceil(m.quantile * (recent.size - 1)))])

    def estimate(self, user_estimate_s: float | None = None, model: DurationModel | None = None) -> float:
        """Duration estimate for the next run (NaN when there is neither history nor a user estimate)."""
        return estimate_one(self, user_estimate_s, model=model).estimate_s if (len(self) or user_estimate_s) \
            else float("nan")

    @staticmethod
    def from_table(jobs: JobTable) -> dict[tuple[str, str, str], RunHistory]:
        """One history per (repo, workflow, job) key of a table."""
        out: dict[tuple[str, str, str], RunHistory] = {}
        codes = jobs.keys()
        order = np.argsort(codes, kind="stable")
        bounds = np.flatnonzero(np.r_[True, codes[order][1:] != codes[order][:-1], True])
        for a, b in zip(bounds[:-1], bounds[1:], strict=True):
            idx = order[a:b]
            i = int(idx[0])
            key = (str(jobs.repo[i]), str(jobs.workflow[i]), str(jobs.job_name[i]))
            out[key] = RunHistory(key, jobs.submitted_s[idx], jobs.duration_s[idx])
        return out


def estimate_one(own: RunHistory, user_estimate_s: float | None = None, *, workflow: RunHistory | None = None,
                 repo: RunHistory | None = None, model: DurationModel | None = None) -> Estimate:
    """One job's estimate: the module's formula on its own earlier runs, then the cold-start levels.

    The same numbers :func:`estimate_durations` and :func:`cold_start_estimates` give inside a replay.
    """
    m = model or DurationModel()
    n = len(own)
    u = None if user_estimate_s is None or not np.isfinite(user_estimate_s) else float(user_estimate_s)
    if n or u is not None:
        q = own.quantile_s(m)
        w = m.user_weight_k / (m.user_weight_k + n) if m.user_weight_k > 0 else 0.0
        if n and u is not None:
            base, source, weight = w * u + (1 - w) * q, "history and your estimate", w
        elif n:
            base, source, weight = q, "history", None
        else:
            base, source, weight = float(u), "your estimate", 1.0  # type: ignore[arg-type]
        return Estimate(float(base * (1 + m.buffer0 / np.sqrt(1.0 + n))), n, weight, source)
    for level, name in ((workflow, "workflow history"), (repo, "repository history")):
        if level is not None and len(level):
            return Estimate(level.quantile_s(m) * (1 + m.buffer0), len(level), None, name)
    return Estimate(DEFAULT_ESTIMATE_S, 0, None, "default")


@dataclass(frozen=True)
class DurationEstimates:
    """Per-job estimate and what it was made from (``source`` indexes :data:`ESTIMATE_SOURCES`)."""

    estimate_s: np.ndarray
    history_runs: np.ndarray
    history_quantile_s: np.ndarray
    buffer_share: np.ndarray
    user_weight: np.ndarray | None = None  # weight the user's estimate kept (NaN: none given)
    source: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.estimate_s)
        if self.user_weight is None:
            object.__setattr__(self, "user_weight", np.full(n, np.nan))
        if self.source is None:
            object.__setattr__(self, "source", np.where(np.isfinite(self.estimate_s), EST_HISTORY, EST_NONE))

    @property
    def known(self) -> np.ndarray:
        return np.isfinite(self.estimate_s)

    def take(self, index: np.ndarray) -> DurationEstimates:
        return DurationEstimates(self.estimate_s[index], self.history_runs[index], self.history_quantile_s[index],
                                 self.buffer_share[index], self.user_weight[index], self.source[index])


@dataclass(frozen=True)
class Estimate:
    """One job's duration estimate, said in words a person can check (paper §3.4: tell the user when
    history takes over)."""

    estimate_s: float
    history_runs: int
    user_weight: float | None
    source: str

    def explain(self) -> str:
        if self.source == "default":
            return f"{self.estimate_s / 60:.1f} min: the documented default (nothing known of this job yet)"
        if self.source in ("workflow history", "repository history"):
            return (f"{self.estimate_s / 60:.1f} min from the {self.source} ({self.history_runs} earlier runs): "
                    "this job has no run of its own yet")
        if self.source == "your estimate":
            return f"{self.estimate_s / 60:.1f} min: your estimate plus a buffer (no earlier run of this job yet)"
        text = f"{self.estimate_s / 60:.1f} min from {self.history_runs} earlier runs"
        if self.user_weight is not None:
            text += f"; your estimate kept {100 * self.user_weight:.0f} % weight"
        return text



def history_quantiles(keys: np.ndarray, durations_s: np.ndarray, *, quantile: float = 0.9,
                      window: int = 50, chunk: int = 200_000) -> tuple[np.ndarray, np.ndarray]:
    """For each row, the quantile of the earlier rows of the same key (last ``window`` of them).

    Rows must be in arrival order. Returns ``(quantile_s, runs)`` where ``runs`` counts all earlier
    rows of the key and ``quantile_s`` is NaN for the first row of each key. Vectorised: rows are
    grouped by a stable sort on the key, and each row's predecessors are read through a shifted
    index matrix, so no row can see itself or a later row.
    """
    n = keys.size
    q_out = np.full(n, np.nan)
    runs = np.zeros(n, dtype=np.int64)
    if n == 0:
        return q_out, runs
    order = np.argsort(keys, kind="stable")
    k_sorted = keys[order]
    d_sorted = np.asarray(durations_s, dtype=np.float64)[order]
    first = np.r_[True, k_sorted[1:] != k_sorted[:-1]]
    group_start = np.maximum.accumulate(np.where(first, np.arange(n), 0))
    pos = np.arange(n)
    runs_sorted = pos - group_start
    q_sorted = np.full(n, np.nan)
    lags = np.arange(1, window + 1)
    for a in range(0, n, chunk):
        b = min(a + chunk, n)
        p = pos[a:b, None] - lags[None, :]
        valid = p >= group_start[a:b, None]
        vals = np.where(valid, d_sorted[np.maximum(p, 0)], np.nan)
        vals.sort(axis=1)  # NaN last
        count = valid.sum(axis=1)
        idx = np.ceil(quantile * (count - 1)).astype(np.int64)
        got = np.take_along_axis(vals, np.maximum(idx, 0)[:, None], axis=1)[:, 0]
        q_sorted[a:b] = np.where(count > 0, got, np.nan)
    q_out[order] = q_sorted
    runs[order] = runs_sorted
    return q_out, runs


def estimate_durations(jobs: JobTable, model: DurationModel | None = None) -> DurationEstimates:
    """Duration estimate of every job from earlier runs and the user's estimate (formula above)."""
    m = model or DurationModel()
    q, n = history_quantiles(jobs.keys(), jobs.duration_s, quantile=m.quantile, window=m.window)
    u = jobs.user_estimate_s
    w = m.user_weight_k / (m.user_weight_k + n) if m.user_weight_k > 0 else np.zeros(n.size)
    has_q, has_u = np.isfinite(q), np.isfinite(u)
    base = np.where(has_q & has_u, w * np.where(has_u, u, 0) + (1 - w) * np.where(has_q, q, 0),
                    np.where(has_q, q, np.where(has_u, u, np.nan)))
    buffer = m.buffer0 / np.sqrt(1.0 + n)
    source = np.select([has_q & has_u, has_q, has_u], [EST_BLEND, EST_HISTORY, EST_USER], EST_NONE)
    weight = np.where(has_u, np.where(has_q, w, 1.0), np.nan)
    return DurationEstimates(estimate_s=base * (1 + buffer), history_runs=n, history_quantile_s=q,
                             buffer_share=buffer, user_weight=weight, source=source)


def cold_start_estimates(jobs: JobTable, estimates: DurationEstimates,
                         model: DurationModel | None = None) -> DurationEstimates:
    """Fill the estimates a job's own history and user estimate could not give (see the module docstring).

    Only earlier runs count at every level, so a replay never peeks at a job's own runtime.
    """
    cold = ~np.isfinite(estimates.estimate_s)
    if not cold.any():
        return estimates
    m = model or DurationModel()
    est, source = estimates.estimate_s.copy(), estimates.source.copy()
    runs = estimates.history_runs.copy()
    for level, code in (("workflow", EST_WORKFLOW), ("repo", EST_REPO)):
        q, n = history_quantiles(jobs.keys(level), jobs.duration_s, quantile=m.quantile, window=m.window)
        fill = cold & np.isfinite(q)
        est[fill] = q[fill] * (1 + m.buffer0)
        source[fill], runs[fill] = code, n[fill]
        cold &= ~fill
    est[cold], source[cold] = DEFAULT_ESTIMATE_S, EST_DEFAULT
    return DurationEstimates(est, runs, estimates.history_quantile_s, np.where(np.isfinite(estimates.estimate_s),
                             estimates.buffer_share, m.buffer0), estimates.user_weight, source)


@dataclass(frozen=True)
class EstimateError:
    """How good the duration estimate was on a trace (only jobs that had an estimate)."""

    jobs: int
    estimated: int
    mae_s: float
    median_ratio: float
    under_share: float


def estimate_error(jobs: JobTable, estimates: DurationEstimates) -> EstimateError:
    """MAE, median estimate/actual ratio and the share of jobs whose estimate was too short."""
    ok = estimates.known
    if not ok.any():
        return EstimateError(len(jobs), 0, float("nan"), float("nan"), float("nan"))
    est, act = estimates.estimate_s[ok], jobs.duration_s[ok]
    return EstimateError(
        jobs=len(jobs), estimated=int(ok.sum()), mae_s=float(np.mean(np.abs(est - act))),
        median_ratio=float(np.median(est / act)), under_share=float(np.mean(est < act)),
    )


def infer_nightly_deadlines(submitted_s: np.ndarray, expected_end_s: np.ndarray, *, time_zone: str = "UTC",
                            office_start_h: int = 8, office_end_h: int = 18) -> np.ndarray:
    """Deadline (epoch s) for nightly work, NaN for other jobs.

    A run that starts outside office hours (before ``office_start_h`` or from ``office_end_h`` local
    time, or on a weekend) and is expected to end before the next ``office_start_h`` is nightly work;
    its deadline is that next ``office_start_h`` in the repository's time zone (the next calendar
    morning even on weekends: conservative, nobody is promised Monday). Local times come from the IANA
    zone, so daylight-saving changes are respected.
    """
    try:
        tz = ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise InputError(f"time zone {time_zone!r} is unknown: use an IANA name like Europe/Berlin") from None
    sub = np.asarray(submitted_s, dtype=np.int64)
    end = np.asarray(expected_end_s, dtype=np.float64)
    out = np.full(sub.size, np.nan)
    if sub.size == 0:
        return out
    # UTC offsets per distinct calendar day (few), then vectorised local arithmetic.
    days = np.unique(sub // 86400)
    offsets = {int(d): _offset_s(int(d) * 86400 + 43200, tz) for d in np.r_[days - 1, days, days + 1]}
    off = np.array([offsets[int(d)] for d in sub // 86400], dtype=np.int64)
    local = sub + off
    hour = (local % 86400) / 3600.0
    weekday = ((local // 86400) + 3) % 7  # 1970-01-01 was a Thursday (3)
    outside = (hour < office_start_h) | (hour >= office_end_h) | (weekday >= 5)
    local_day = local // 86400
    next_day = np.where(hour < office_start_h, local_day, local_day + 1)
    morning_local = next_day * 86400 + office_start_h * 3600
    off_next = np.array([offsets.get(int(d), _offset_s(int(d) * 86400 + 43200, tz)) for d in next_day],
                        dtype=np.int64)
    morning_utc = morning_local - off_next
    nightly = outside & (end <= morning_utc)
    out[nightly] = morning_utc[nightly]
    return out


def _offset_s(epoch_s: int, tz: ZoneInfo) -> int:
    dt = datetime.fromtimestamp(epoch_s, tz)
    delta = dt.utcoffset() or timedelta(0)
    return int(delta.total_seconds())


_NO_SUB = np.zeros(0, np.int64)
_NO_DUR = np.zeros(0)


class HistoryIndex:
    """Earlier runs by job, workflow and repository, from a run table: a run-history store in memory.

    What the one-job planner asks: the runs of a job (and, for a cold start, of its workflow and
    repository) that finished before an instant. Built once from a trace (``greenci schedule --history``)
    or fed run by run (:meth:`add`, the feedback loop); lookups are dictionary reads and binary searches.
    """

    def __init__(self, jobs: JobTable | None = None) -> None:
        self._runs: dict[tuple[str, ...], list[np.ndarray]] = {}
        self._built: dict[tuple[str, ...], RunHistory] = {}
        self._n_job_keys = 0
        if jobs is not None and len(jobs):
            for level, cols in (("job", (jobs.repo, jobs.workflow, jobs.job_name)),
                                ("workflow", (jobs.repo, jobs.workflow)), ("repo", (jobs.repo,))):
                codes = jobs.keys(level)
                order = np.argsort(codes, kind="stable")
                bounds = np.flatnonzero(np.r_[True, codes[order][1:] != codes[order][:-1], True])
                for a, b in zip(bounds[:-1], bounds[1:], strict=True):
                    idx = order[a:b]
                    key = (level, *(str(c[idx[0]]) for c in cols))
                    self._runs[key] = [jobs.submitted_s[idx], jobs.duration_s[idx]]
                    self._n_job_keys += level == "job"

    def __len__(self) -> int:
        return sum(v[0].size for k, v in self._runs.items() if k[0] == "repo")

    def add(self, repo: str, workflow: str, job_name: str, submitted_s: int, duration_s: float) -> None:
        """One more finished run (its submission time and its true duration)."""
        if not duration_s > 0:
            raise InputError(f"run of {repo}/{workflow}/{job_name}: duration {duration_s} s must be > 0")
        self._n_job_keys += ("job", repo, workflow, job_name) not in self._runs
        for key in (("job", repo, workflow, job_name), ("workflow", repo, workflow), ("repo", repo)):
            sub, dur = self._runs.get(key, [np.zeros(0, np.int64), np.zeros(0)])
            self._runs[key] = [np.r_[sub, int(submitted_s)], np.r_[dur, float(duration_s)]]
            self._built.pop(key, None)

    def _history(self, key: tuple[str, ...]) -> RunHistory:
        built = self._built.get(key)
        if built is None:
            runs = self._runs.get(key)
            if runs is None:  # not cached: a service asked about every new job would grow without bound
                return RunHistory._checked(tuple(key[1:]) + ("",) * (4 - len(key)), _NO_SUB, _NO_DUR)  # type: ignore[arg-type]
            built = self._built[key] = RunHistory(tuple(key[1:]) + ("",) * (4 - len(key)), *runs)  # type: ignore[arg-type]
        return built

    def runs(self, repo: str, workflow: str, job_name: str, before_s: int) -> RunHistory:
        return self._history(("job", repo, workflow, job_name)).before(before_s)

    def workflow_runs(self, repo: str, workflow: str, before_s: int) -> RunHistory:
        return self._history(("workflow", repo, workflow)).before(before_s)

    def repo_runs(self, repo: str, before_s: int) -> RunHistory:
        return self._history(("repo", repo)).before(before_s)

    def keys(self, limit: int | None = None) -> list[tuple[str, str, str]]:
        """The (repo, workflow, job) keys it holds, for messages that say what a history contains.

        ``limit``: at most that many (the first held, unsorted): a message shows a few, and a service's
        history holds many (sorting them all for each message grew with every job it saw).
        """
        if limit is None:
            return sorted((k[1], k[2], k[3]) for k in self._runs if k[0] == "job")
        out: list[tuple[str, str, str]] = []
        for k in self._runs:
            if k[0] == "job":
                out.append((k[1], k[2], k[3]))
                if len(out) >= limit:
                    break
        return out

    def n_keys(self) -> int:
        """How many (repo, workflow, job) keys it holds."""
        return self._n_job_keys
