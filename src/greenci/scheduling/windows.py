"""How long one job may wait: its deadline, the window of its schedule, or the buffer, said in words.

A scheduled (cron) run no person waits for may start any time before the next run of its own schedule,
or before the working morning when one is configured (the earlier wins): a nightly build still greets
the team at 08:00. GitHub Actions reads cron expressions in UTC; croniter computes the next run. When
the job has earlier runs, their spacing is compared with the schedule so the decision can say whether
history agrees.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from greenci.errors import InputError
from greenci.jobs import Job, RunHistory, infer_nightly_deadlines
from greenci.timeutil import iso, to_epoch_s


@dataclass(frozen=True)
class WorkingMorning:
    """Results must be there by ``hour`` local time in ``time_zone`` (the next such morning)."""

    time_zone: str
    hour: int = 8

    def __post_init__(self) -> None:
        if not 0 <= self.hour <= 23:
            raise InputError(f"working-morning hour {self.hour} must be 0..23")
        infer_nightly_deadlines(np.zeros(0, np.int64), np.zeros(0), time_zone=self.time_zone)

    def next_after(self, t_s: int) -> int:
        """The first ``hour``:00 local time after ``t_s`` (epoch seconds)."""
        got = infer_nightly_deadlines(np.array([t_s]), np.array([float(t_s)]), time_zone=self.time_zone,
                                      office_start_h=self.hour, office_end_h=self.hour)
        if np.isfinite(got[0]):
            return int(got[0])
        # inside office hours by infer_nightly_deadlines' rule: the morning of the next day
        day = infer_nightly_deadlines(np.array([t_s + 86400 - 1]), np.array([float(t_s)]), time_zone=self.time_zone,
                                      office_start_h=self.hour, office_end_h=self.hour)
        return int(day[0]) if np.isfinite(day[0]) else t_s + 86400


@dataclass(frozen=True)
class JobWindow:
    """The latest end a job is held to (NaN: none, the buffer applies) and why, in words."""

    deadline_s: float
    text: str
    inferred: bool = False  # nobody set it (a schedule's next run, a working morning): keep a safety margin


def next_cron_run(crons: Sequence[str], after_s: int) -> tuple[int, str]:
    """The earliest next run (epoch s, strictly after ``after_s``) of any of ``crons``, and which one."""
    from croniter import croniter

    best: tuple[int, str] | None = None
    start = datetime.fromtimestamp(int(after_s), UTC)
    for expr in crons:
        try:
            nxt = int(croniter(str(expr), start).get_next(float))
        except (ValueError, KeyError, TypeError) as exc:
            raise InputError(f"cron {expr!r} is not a valid schedule ({exc}): write five fields, e.g. '0 2 * * *'"
                             ) from None
        if best is None or nxt < best[0]:
            best = (nxt, str(expr))
    if best is None:
        raise InputError("no cron schedule given")
    return best


def job_window(job: Job, *, history: RunHistory | None = None, morning: WorkingMorning | None = None,
               buffer_s: float = 6 * 3600.0) -> JobWindow:
    """The window of one job: its deadline, its schedule's next run (scheduled runs), or the buffer."""
    sub = job.submitted_s
    if job.deadline is not None:
        return JobWindow(float(to_epoch_s(job.deadline)), f"deadline {iso(to_epoch_s(job.deadline))}")
    if job.event == "schedule" and job.crons:
        nxt, expr = next_cron_run(job.crons, sub)
        end, text = nxt, f"before the next run of its schedule '{expr}' at {iso(nxt)}"
        if morning is not None:
            am = morning.next_after(sub)
            if am < end:
                end, text = am, (f"before the working morning ({morning.hour:02d}:00 {morning.time_zone}) at "
                                 f"{iso(am)}, earlier than the next run of '{expr}'")
        return JobWindow(float(end), text + _history_says(history, sub, nxt - _previous_run(job.crons, nxt)),
                         inferred=True)
    if job.buffer_s is not None:
        return JobWindow(float("nan"), f"may wait up to {job.buffer_s / 3600:g} h (its buffer)")
    return JobWindow(float("nan"), f"may wait up to {buffer_s / 3600:g} h (the default buffer)")


def _previous_run(crons: Sequence[str], at_s: int) -> int:
    from croniter import croniter

    return max(int(croniter(str(c), datetime.fromtimestamp(at_s, UTC)).get_prev(float)) for c in crons)


def _history_says(history: RunHistory | None, sub: int, period_s: int) -> str:
    """Whether the spacing of the job's last runs matches its schedule's period."""
    if history is None:
        return ""
    runs = history.before(sub).submitted_s[-11:]
    if runs.size < 3:
        return f"; history: {runs.size} earlier run(s), too few to confirm the schedule"
    gap = float(np.median(np.diff(runs)))
    if period_s > 0 and abs(gap - period_s) <= 0.25 * period_s:
        return f"; history agrees: {runs.size} earlier runs about every {gap / 3600:.3g} h"
    return (f"; history disagrees: earlier runs about every {gap / 3600:.3g} h, the schedule every "
            f"{period_s / 3600:.3g} h (the schedule wins)")
