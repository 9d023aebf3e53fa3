"""A plain CSV of CI jobs: the format to hand-write or export from any CI system.

Why: not every CI system has an importer here; a small table with these columns is enough for the
simulator and the scheduler. Columns (names are case-sensitive; extra columns are ignored):

=====================  ========  ================================================================
column                 needed    meaning
=====================  ========  ================================================================
repo                   yes       repository, e.g. ``octo/app``
workflow               yes       workflow name
job                    yes       job name (may be empty: the row is a whole run)
event                  yes       trigger (``push``, ``pull_request``, ``schedule``, ...; empty -> ``push``)
started_at             yes       ISO 8601 start, ``Z``/offset or none (= UTC); submission time
completed_at           yes       ISO 8601 end; duration = completed_at - started_at (must be > 0)
conclusion             yes       ``success``, ``failure``, ... (may be empty)
id                     no        job id (default ``<file name>:<row>``)
duration_estimate_s    no        the user's duration estimate in seconds (> 0, at most 2 years)
deadline               no        ISO 8601 time the job must finish by (after started_at)
allowed_regions        no        regions it may run in, separated by ``;`` (empty = any)
carbon_aware           no        yes/no, true/false, 1/0: yes opts in to waiting even when someone waits
                                 for the run, no opts out; empty = the event's default
default_branch         no        true/false (empty = true)
power_kw               no        average power in kW (> 0, at most 1,000; empty = 1)
=====================  ========  ================================================================

A row with an unreadable time, a non-positive or absurd (over 2 years) duration, a bad estimate,
deadline, flag or power, or fewer cells than the header (cut short) is left out and reported with its
row number (the header is row 1).
"""

from __future__ import annotations

import os

import numpy as np

from greenci.traces.records import TraceReadResult
from greenci.traces.tables import (
    ABSURD_DURATION_S,
    csv_layout,
    duration_reason,
    first_reason,
    numbers,
    read_csv_text,
    require_columns,
    row_problems,
    short_reason,
    sorted_result,
    utc_seconds,
)

PathLike = str | os.PathLike[str]

REQUIRED = ("repo", "workflow", "job", "event", "started_at", "completed_at", "conclusion")
#: a CI job drawing more than this is a wrong unit (W for kW) or a corrupted cell: the row is left out
MAX_POWER_KW = 1000.0
_TRUE = frozenset({"true", "t", "yes", "y", "1"})
_FALSE = frozenset({"false", "f", "no", "n", "0"})


def read_plain_csv(path: PathLike) -> TraceReadResult:
    """Read one plain job CSV (columns in the module docstring) into a TraceReadResult."""
    name = os.fspath(path)
    df = read_csv_text(path)
    require_columns(df, REQUIRED, path, "plain_csv")
    n = len(df)
    rows, cells, width = csv_layout(path, n)

    def text(col: str) -> np.ndarray:
        if col not in df.columns:
            return np.full(n, "", dtype=object)
        return df[col].astype(str).str.strip().to_numpy(dtype=object)

    repo, workflow, job, event = text("repo"), text("workflow"), text("job"), text("event")
    start, start_ok = utc_seconds(df["started_at"])
    end, end_ok = utc_seconds(df["completed_at"])
    duration = (end - start).astype(np.float64)
    raw_start, raw_end = text("started_at"), text("completed_at")

    est_raw = text("duration_estimate_s")
    est = numbers(df["duration_estimate_s"]) if "duration_estimate_s" in df.columns else np.full(n, np.nan)
    est_bad = (est_raw != "") & ~((est > 0) & (est <= ABSURD_DURATION_S))
    dl_raw = text("deadline")
    if "deadline" in df.columns:
        dl, dl_ok = utc_seconds(df["deadline"])
    else:
        dl, dl_ok = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=bool)
    dl_bad = (dl_raw != "") & (~dl_ok | (dl <= start))
    aware, aware_bad = _flags(text("carbon_aware"))
    default, default_bad = _flags(text("default_branch"))
    power_raw = text("power_kw")
    power = numbers(df["power_kw"]) if "power_kw" in df.columns else np.full(n, np.nan)
    power_bad = (power_raw != "") & ~((power > 0) & (power <= MAX_POWER_KW))

    reasons = first_reason(n, [
        short_reason(cells, width),
        (repo == "", "repo is empty"),
        (workflow == "", "workflow is empty"),
        (~start_ok, lambda idx: [f"started_at {raw_start[i]!r} is not an ISO 8601 time" for i in idx]),
        (~end_ok, lambda idx: [f"completed_at {raw_end[i]!r} is not an ISO 8601 time (an unfinished job has "
                               "no duration)" for i in idx]),
        (duration <= 0, lambda idx: [f"completed_at is not after started_at ({duration[i]:g} s)" for i in idx]),
        *duration_reason(duration, "completed_at - started_at"),
        (est_bad, lambda idx: [f"duration_estimate_s {est_raw[i]!r} is not a number of seconds > 0 and at most "
                               f"{ABSURD_DURATION_S:,} (2 years)" for i in idx]),
        (dl_bad, lambda idx: [f"deadline {dl_raw[i]!r} is not an ISO 8601 time after started_at" for i in idx]),
        (aware_bad, "carbon_aware is not true/false"),
        (default_bad, "default_branch is not true/false"),
        (power_bad, lambda idx: [f"power_kw {power_raw[i]!r} is not a number > 0 and at most {MAX_POWER_KW:g} kW"
                                 for i in idx]),
    ])
    ok = reasons == ""
    keep = np.flatnonzero(ok)
    problems = row_problems(name, rows[~ok], reasons[~ok])

    allowed = None
    if "allowed_regions" in df.columns:
        regions = text("allowed_regions")[keep]
        allowed = [tuple(r.strip() for r in str(v).split(";") if r.strip()) or None for v in regions]
    ids = text("id")
    ids = np.where(ids != "", ids, np.char.add(f"{os.path.basename(name)}:", rows.astype(str)).astype(object))
    notes = [f"plain CSV {os.path.basename(name)}: {keep.size:,} jobs; duration = completed_at - started_at"]
    if problems:
        notes.append(f"{len(problems):,} row(s) of {os.path.basename(name)} left out: see problems")
    columns = dict(
        submitted_s=start[keep], duration_s=duration[keep], repo=repo[keep], workflow=workflow[keep],
        ids=ids[keep], job_name=job[keep], event=np.where(event[keep] == "", "push", event[keep]),
        user_estimate_s=np.where(est_raw[keep] != "", est[keep], np.nan),
        deadline_s=np.where(dl_raw[keep] != "", dl[keep].astype(np.float64), np.nan),
        carbon_aware=aware[keep], opted_in=(aware[keep] & (text("carbon_aware")[keep] != "")),
        default_branch=default[keep],
        power_kw=np.where(power_raw[keep] != "", power[keep], 1.0),
        allowed_regions=allowed, source=f"plain_csv:{os.path.basename(name)}", notes=tuple(notes),
    )
    return sorted_result(columns, conclusion=text("conclusion")[keep], problems=problems,
                          formats={name: "plain_csv"})


def _flags(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """true/false texts as booleans (empty = True) and the mask of texts that are neither."""
    low = np.array([str(v).lower() for v in values], dtype=object)
    is_true = np.isin(low, list(_TRUE)) | (low == "")
    is_false = np.isin(low, list(_FALSE))
    return is_true, ~(is_true | is_false)


__all__ = ["REQUIRED", "read_plain_csv"]
