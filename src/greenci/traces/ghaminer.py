"""GHAminer CSV exports (``builds_features*.csv``): one row a GitHub Actions workflow run.

Why a reader of its own: the export is the largest public set of real CI runs we have, and it has
traps a replay must not trust blindly (see ``../shared/data/INDEX.md``):

* One export is often split over several files that overlap: files are merged and de-duplicated on
  (``repo``, ``id_build``). When copies of a run disagree, the copy with the **earliest**
  ``updated_at`` is kept: a later ``updated_at`` means the run was touched again (re-run, approval,
  late update), which is not the run itself. A readable copy always beats an unreadable one.
* ``created_at`` is written with or without ``Z`` (``2025-10-30 00:13:10`` or
  ``2025-10-30T00:13:10Z``); both are UTC.
* ``build_duration`` (seconds) is ``updated_at - created_at``: queue time, approval waits, re-runs and
  late updates are inside it, so a few runs "last" days or a year. This reader keeps them as they
  are and says so; :func:`greenci.traces.cleaning.clean_implausible` finds and handles them.

Mapping to :class:`~greenci.jobs.JobTable`: ``repo`` -> repo; ``workflow_name`` (or ``workflow_id``
when the name is empty) -> workflow; job_name ``""`` (runs, not jobs); ``workflow_event_trigger`` ->
event, kept as GitHub names it (``push``, ``pull_request``, ``schedule``, ``issues``, ``dynamic``, ...;
empty -> ``other``); ``created_at`` -> submitted; ``build_duration`` -> duration (computed from the two
times when empty); ``id_build`` -> ids.

``default_branch`` is True when the run's ``branch`` is ``main`` or ``master``, or the repository's
default branch as the data shows it: the branch of its ``schedule`` runs (GitHub runs scheduled
workflows on the default branch), else its most common ``push`` branch. Pull-request runs carry their
head branch, so they are mostly False, which the preprocessor treats like any pull request.

Rows left out (reported as :class:`~greenci.traces.RowProblem`): empty repo, non-numeric id_build,
unparseable created_at, no duration, a run not completed (``status`` ``in_progress``/``queued``),
negative duration, and 0 s runs (created_at equals updated_at: approval pending or skipped; nothing
ran, so it is no job to schedule).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import pandas as pd

from greenci.errors import DataFormatError
from greenci.traces.records import RowProblem, TraceReadResult
from greenci.traces.tables import (
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

REQUIRED = ("repo", "id_build", "workflow_event_trigger", "branch", "created_at", "updated_at", "build_duration")
OPTIONAL = ("workflow_name", "workflow_id", "status", "conclusion")
NAMED_DEFAULT_BRANCHES = ("main", "master")


def read_ghaminer(paths: PathLike | Sequence[PathLike]) -> TraceReadResult:
    """Read one GHAminer export (one or several files), merged and de-duplicated on (repo, id_build)."""
    files = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    if not files:
        raise DataFormatError("no GHAminer files given")
    frames = []
    for i, p in enumerate(files):
        df = read_csv_text(p, columns=(*REQUIRED, *OPTIONAL))
        require_columns(df, REQUIRED, p, "ghaminer")
        if "workflow_name" not in df.columns and "workflow_id" not in df.columns:
            raise DataFormatError("has neither workflow_name nor workflow_id: one of them names the workflow",
                                  path=os.fspath(p), column="workflow_name")
        part = df[[c for c in (*REQUIRED, *OPTIONAL) if c in df.columns]].copy()
        for c in OPTIONAL:
            if c not in part.columns:
                part[c] = ""
        rows, cells, width = csv_layout(p, len(part))
        part["_file"] = i
        part["_row"] = rows  # as an editor shows them: the header is row 1
        part["_cells"] = cells
        part["_width"] = width
        frames.append(part)
    df = pd.concat(frames, ignore_index=True)
    n = len(df)

    repo = df["repo"].astype(str).str.strip().to_numpy(dtype=object)
    run_id = df["id_build"].astype(str).str.strip()
    created, created_ok = utc_seconds(df["created_at"])
    updated, updated_ok = utc_seconds(df["updated_at"])
    raw_duration = df["build_duration"].astype(str).str.strip().to_numpy(dtype=object)
    duration = numbers(df["build_duration"])
    from_times = (raw_duration == "") & created_ok & updated_ok  # an empty cell only: a word is refused
    duration[from_times] = (updated - created)[from_times]

    status = df["status"].astype(str).str.strip().str.lower().to_numpy(dtype=object)
    conclusion = df["conclusion"].astype(str).str.strip().to_numpy(dtype=object)
    name = df["workflow_name"].astype(str).str.strip().to_numpy(dtype=object)
    wf_id = df["workflow_id"].astype(str).str.strip().to_numpy(dtype=object)
    workflow = np.where(name != "", name, wf_id)
    raw_created = df["created_at"].to_numpy(dtype=object)
    raw_id = run_id.to_numpy(dtype=object)

    reasons = first_reason(n, [
        short_reason(df["_cells"].to_numpy(dtype=np.int64), df["_width"].to_numpy(dtype=np.int64)),
        (repo == "", "repo is empty: the run cannot be attributed to a repository"),
        (~run_id.str.fullmatch(r"\d+").to_numpy(dtype=bool),
         lambda idx: [f"id_build {raw_id[i]!r} is not a run id (digits)" for i in idx]),
        (~created_ok, lambda idx: [f"created_at {raw_created[i]!r} is not an ISO 8601 time" for i in idx]),
        (np.isnan(duration) & (raw_duration != ""),
         lambda idx: [f"build_duration {raw_duration[i]!r} is not a number of seconds" for i in idx]),
        (np.isnan(duration), "build_duration is empty and updated_at - created_at cannot stand in"),
        ((status != "") & (status != "completed"),
         lambda idx: [f"run not completed (status {status[i]!r}): its duration is not known yet" for i in idx]),
        (created_ok & updated_ok & (updated < created),
         lambda idx: [f"updated_at {df['updated_at'].iloc[i]!r} is before created_at {raw_created[i]!r}: the run "
                      "would end before it starts" for i in idx]),
        *duration_reason(duration, "build_duration"),
        (duration == 0, lambda idx: [f"build_duration 0 s (created_at equals updated_at, conclusion "
                                     f"{conclusion[i] or 'none'!r}): nothing ran, so it is no job" for i in idx]),
        (workflow == "", "neither workflow_name nor workflow_id is given"),
    ])
    valid = reasons == ""
    key = np.char.add(np.char.add(repo.astype(str), "\x1f"), raw_id.astype(str))

    # De-duplicate the readable rows: earliest updated_at first, then file order, then row order.
    vidx = np.flatnonzero(valid)
    upd_rank = np.where(updated_ok, updated, np.iinfo(np.int64).max)[vidx]
    order = vidx[np.lexsort((df["_row"].to_numpy()[vidx], df["_file"].to_numpy()[vidx], upd_rank, key[vidx]))]
    ks = key[order]
    first = np.r_[True, ks[1:] != ks[:-1]] if ks.size else np.zeros(0, dtype=bool)
    keep = order[first]
    copies_valid = int(order.size - keep.size)
    # runs whose copies disagree on what matters to a replay
    sig = pd.DataFrame({"k": ks, "d": duration[order], "c": conclusion[order].astype(str)})
    differing = int((sig.drop_duplicates().groupby("k").size() > 1).sum()) if ks.size else 0

    kept_keys = set(key[keep].tolist())
    bad = np.flatnonzero(~valid)
    covered = np.array([key[i] in kept_keys for i in bad], dtype=bool)
    bad_report = bad[~covered]
    paths_by_file = [os.fspath(p) for p in files]
    file_of = df["_file"].to_numpy()
    row_of = df["_row"].to_numpy()
    problems: list[RowProblem] = []
    for fi, path in enumerate(paths_by_file):
        sel = bad_report[file_of[bad_report] == fi]
        problems += row_problems(path, row_of[sel], reasons[sel])

    distinct_runs = len(set(key.tolist()))
    notes = [
        f"GHAminer export: {n:,} rows in {len(files)} file(s), {distinct_runs:,} distinct runs (repo, id_build); "
        f"{copies_valid + int(covered.sum()):,} rows repeated a run already read and were merged"
        + (f"; {differing:,} runs differ between copies, the copy with the earliest updated_at is kept"
           if differing else ""),
        "durations are GHAminer build_duration = updated_at - created_at: queue time, re-runs and late updates "
        "included; implausible runs are detected and handled afterwards (greenci.traces.cleaning)",
        "default_branch: main/master, or the repository's scheduled-run branch, else its most common push branch",
    ]
    if problems:
        notes.append(f"{len(problems):,} row(s) left out (0 s, unfinished or unreadable runs): see problems")

    event = df["workflow_event_trigger"].astype(str).str.strip().to_numpy(dtype=object)[keep]
    event = np.where(event == "", "other", event)
    branch = df["branch"].astype(str).str.strip().to_numpy(dtype=object)[keep]
    columns = dict(
        submitted_s=created[keep], duration_s=duration[keep], repo=repo[keep], workflow=workflow[keep],
        ids=raw_id[keep], job_name=np.full(keep.size, "", dtype=object), event=event,
        default_branch=default_branch_mask(repo[keep], branch, event),
        source="ghaminer:" + ",".join(os.path.basename(p) for p in paths_by_file), notes=tuple(notes),
    )
    return sorted_result(columns, conclusion=conclusion[keep], problems=problems,
                          formats={p: "ghaminer" for p in paths_by_file})


def default_branch_mask(repo: np.ndarray, branch: np.ndarray, event: np.ndarray) -> np.ndarray:
    """True where a run is on its repository's default branch (rule in the module docstring).

    Ties between equally common branches go to the alphabetically first, so the answer is stable.
    """
    df = pd.DataFrame({"repo": np.asarray(repo, dtype=str), "branch": np.asarray(branch, dtype=str),
                       "event": np.asarray(event, dtype=str)})
    named = df["branch"].isin(NAMED_DEFAULT_BRANCHES).to_numpy()
    if df.empty:
        return named

    def mode(rows: pd.DataFrame) -> pd.Series:
        rows = rows[rows["branch"] != ""]
        if rows.empty:
            return pd.Series(dtype=str)
        counts = rows.groupby(["repo", "branch"]).size().reset_index(name="n")
        counts = counts.sort_values(["repo", "n", "branch"], ascending=[True, False, True], kind="stable")
        return counts.drop_duplicates("repo").set_index("repo")["branch"]

    scheduled = mode(df[df["event"] == "schedule"])
    pushed = mode(df[df["event"] == "push"])
    default = scheduled.combine_first(pushed) if not scheduled.empty else pushed
    mapped = df["repo"].map(default) if not default.empty else pd.Series([None] * len(df))
    return named | (df["branch"].to_numpy() == mapped.to_numpy(dtype=object))


__all__ = ["NAMED_DEFAULT_BRANCHES", "default_branch_mask", "read_ghaminer"]
