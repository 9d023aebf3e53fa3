"""Zuul (OpenStack's CI) build histories, as saved from ``GET /api/tenant/{tenant}/builds``.

Why: Zuul projects keep months of builds in their SQL reporter and show them over the REST API; that
history is what duration estimates and replays need, read into the same records as any other trace.

Shape (``zuul/web`` ``buildToDict``): a JSON list of builds, each with ``uuid``, ``job_name``,
``result`` (``SUCCESS``, ``FAILURE``, ``POST_FAILURE``, ``RETRY_LIMIT``, ``TIMED_OUT``, ``NODE_FAILURE``,
``SKIPPED``, ``ABORTED``, ..., null while running), ``start_time``/``end_time`` (``2024-05-02T10:11:12``,
UTC without a zone), ``duration`` (seconds or null), ``voting``, ``log_url``, ``final`` and, from its
buildset, ``project``, ``branch``, ``pipeline``, ``change``, ``patchset``, ``ref``, ``newrev``,
``event_id``, ``buildset: {uuid}``. A file may hold that list, ``{"builds": [...]}``, one buildset
(``/buildset/{uuid}``: ``builds`` and ``retry_builds`` take the buildset's project and pipeline), or
several such documents back to back.

Builds -> rows: repo = ``project``, workflow = ``pipeline``, job = ``job_name``, id = ``uuid``,
submitted = ``start_time`` (a build has no queued time), duration = ``end_time - start_time`` (the
``duration`` field when the times give none), event from the pipeline (:func:`pipeline_event`),
conclusion from the result (:data:`CONCLUSIONS`). Builds still running (no ``end_time``), skipped or
never started (no ``start_time``, e.g. ``NODE_FAILURE``) are left out and reported. Retried attempts
(``final: false``) ran and used energy, so they stay.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from greenci.errors import DataFormatError
from greenci.traces.records import RowProblem, TraceReadResult
from greenci.traces.tables import duration_reason, first_reason, json_documents, sorted_result, utc_seconds

PathLike = str | os.PathLike[str]

#: Zuul's conventional pipeline names -> greenci's events (the GitHub Actions triggers the planner knows).
#: ``check`` reports on a proposed change (someone waits, like a pull request); ``gate`` tests an approved
#: change before it merges (a merge queue); ``post``/``promote`` run on the merged commit (a push);
#: ``periodic*`` run on a timer (a schedule); ``release``/``tag`` on a tag.
PIPELINE_EVENTS: dict[str, str] = {
    "check": "pull_request", "check-arm64": "pull_request", "experimental": "pull_request",
    "third-party-check": "pull_request", "gate": "merge_group", "post": "push", "promote": "push",
    "deploy": "push", "release": "release", "pre-release": "release", "tag": "release",
    "release-approval": "release",
}

#: Zuul results -> the conclusions other readers give (GitHub's words where one fits, else lower case)
CONCLUSIONS: dict[str, str] = {
    "SUCCESS": "success", "FAILURE": "failure", "POST_FAILURE": "failure", "RETRY_LIMIT": "failure",
    "NODE_FAILURE": "failure", "MERGE_CONFLICT": "failure", "MERGER_FAILURE": "failure", "MERGE_FAILURE": "failure",
    "CONFIG_ERROR": "failure", "ERROR": "failure", "DISK_FULL": "failure", "LOST": "failure",
    "TIMED_OUT": "timed_out", "ABORTED": "cancelled", "CANCELED": "cancelled", "DEQUEUED": "cancelled",
    "SKIPPED": "skipped", "RETRY": "retry",
}

_BUILDSET_KEYS = ("project", "branch", "pipeline", "change", "patchset", "ref", "newrev", "event_id")


def pipeline_event(pipeline: str) -> str:
    """The greenci event of a Zuul pipeline, from its name.

    Names outside :data:`PIPELINE_EVENTS` are told by their words (``periodic-weekly`` is a schedule,
    ``post-review`` a push, ``gate-arm64`` a merge queue); anything else is taken as a check that someone
    waits for (``pull_request``), so it is never delayed unless it opts in.
    """
    name = pipeline.strip().lower()
    if name in PIPELINE_EVENTS:
        return PIPELINE_EVENTS[name]
    if name.startswith("periodic") or "periodic" in name.split("-"):
        return "schedule"
    words = name.replace("_", "-").split("-")
    for word, event in (("gate", "merge_group"), ("post", "push"), ("promote", "push"), ("release", "release"),
                        ("tag", "release")):
        if word in words:
            return event
    return "pull_request"


def looks_like_zuul(head: str) -> bool:
    """Whether the first characters of a JSON file are Zuul builds (not GitHub's runs or jobs pages)."""
    text = head.lstrip()
    if text[:1] not in ("[", "{"):
        return False
    if '"workflow_runs"' in text or '"run_id"' in text or '"workflow_id"' in text:
        return False
    return '"job_name"' in text and any(f'"{k}"' in text for k in ("log_url", "buildset", "pipeline"))


def read_zuul(paths: PathLike | Sequence[PathLike]) -> TraceReadResult:
    """Read saved Zuul builds (one or several files) into a TraceReadResult."""
    files = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    if not files:
        raise DataFormatError("no Zuul builds files given")
    found: list[tuple[int, int, Any]] = []  # (file index, 1-based position in its file, build)
    for fi, p in enumerate(files):
        builds: list[Any] = []
        for doc in json_documents(p):
            _collect(doc, os.fspath(p), builds, {})
        found += [(fi, i + 1, b) for i, b in enumerate(builds)]
    names = [os.fspath(p) for p in files]
    return _result(found, names)


def _collect(value: Any, path: str, out: list[Any], inherited: dict[str, Any]) -> None:
    """Builds from a list, ``{"builds": [...]}`` or a buildset; anything else is no Zuul export."""
    if isinstance(value, list):
        for v in value:
            if isinstance(v, list) or (isinstance(v, dict) and "job_name" not in v
                                       and ("builds" in v or "retry_builds" in v)):
                _collect(v, path, out, inherited)  # pages saved as a list of lists, or buildsets
            else:
                out.append(_fill(v, inherited))
        return
    if isinstance(value, dict) and ("builds" in value or "retry_builds" in value):
        context = {**inherited, **{k: value[k] for k in _BUILDSET_KEYS if value.get(k) is not None}}
        if "uuid" in value and "job_name" not in value:
            context["buildset"] = {"uuid": value["uuid"]}
        for key in ("builds", "retry_builds"):
            items = value.get(key)
            if items is None:
                continue
            if not isinstance(items, list):
                raise DataFormatError(f"field {key!r} is not a JSON array of builds", path=path, column=key)
            _collect(items, path, out, context)
        return
    if isinstance(value, dict) and "job_name" in value:
        out.append(_fill(value, inherited))
        return
    what = f"a JSON object with keys ({', '.join(list(map(str, value))[:8])})" if isinstance(value, dict) \
        else f"a JSON {type(value).__name__}"
    raise DataFormatError(f"holds {what} where Zuul builds were expected: save the answer of "
                          "GET /api/tenant/{tenant}/builds (a list of builds with uuid, job_name, start_time, ...)",
                          path=path)


def _fill(build: Any, inherited: dict[str, Any]) -> Any:
    """A build with its buildset's fields where it has none of its own."""
    if not inherited or not isinstance(build, dict):
        return build
    return {**build, **{k: v for k, v in inherited.items() if build.get(k) is None}}


def _text(item: Any, key: str) -> str:
    value = item.get(key) if isinstance(item, dict) else None
    return "" if value is None else str(value).strip()


def _result(found: list[tuple[int, int, Any]], names: list[str]) -> TraceReadResult:
    import pandas as pd

    from greenci.traces.ghaminer import default_branch_mask

    items = [b[2] for b in found]
    n = len(items)
    f = {k: np.array([_text(it, k) for it in items], dtype=object)
         for k in ("uuid", "job_name", "result", "start_time", "end_time", "duration", "project", "pipeline",
                   "branch", "final")}
    is_obj = np.array([isinstance(it, dict) for it in items], dtype=bool)
    start, start_ok = utc_seconds(pd.Series(f["start_time"], dtype=object))
    end, end_ok = utc_seconds(pd.Series(f["end_time"], dtype=object))
    given = pd.to_numeric(pd.Series(f["duration"], dtype=object), errors="coerce").to_numpy(dtype=np.float64)
    duration = np.where(end_ok & start_ok, (end - start).astype(np.float64), given)
    result = np.array([r.upper() for r in f["result"]], dtype=object)
    running = (f["end_time"] == "") & ((result == "") | (result == "IN_PROGRESS"))
    skipped = result == "SKIPPED"
    unstarted = f["start_time"] == ""
    reasons = first_reason(n, [
        (~is_obj, "item is not a JSON object"),
        (f["uuid"] == "", "build has no uuid"),
        (skipped, lambda idx: [f"build {f['uuid'][i]} ({f['job_name'][i]}) was SKIPPED: it never ran" for i in idx]),
        (running, lambda idx: [f"build {f['uuid'][i]} ({f['job_name'][i]}) is still running (no end_time, no "
                               "result): its duration is not known yet" for i in idx]),
        (unstarted, lambda idx: [f"build {f['uuid'][i]} ({f['job_name'][i]}, {f['result'][i] or 'no result'}) has no "
                                 "start_time: it never started on a node" for i in idx]),
        (~start_ok, lambda idx: [f"build {f['uuid'][i]}: start_time {f['start_time'][i]!r} is not an ISO 8601 time"
                                 for i in idx]),
        (~end_ok & np.isnan(duration), lambda idx: [f"build {f['uuid'][i]}: end_time {f['end_time'][i]!r} is not an "
                                                    "ISO 8601 time and duration is null" for i in idx]),
        (f["project"] == "", lambda idx: [f"build {f['uuid'][i]}: no project (save builds with their buildset: "
                                          "the /builds endpoint, not /build/{uuid})" for i in idx]),
        (f["pipeline"] == "", lambda idx: [f"build {f['uuid'][i]}: no pipeline" for i in idx]),
        (f["job_name"] == "", lambda idx: [f"build {f['uuid'][i]}: no job_name" for i in idx]),
        (duration <= 0, lambda idx: [f"build {f['uuid'][i]}: end_time is not after start_time ({duration[i]:g} s): "
                                     "nothing ran, so it is no job" for i in idx]),
        *duration_reason(duration, "end_time - start_time"),
    ])
    ok = reasons == ""
    problems = [RowProblem(names[found[i][0]], found[i][1], str(reasons[i])) for i in np.flatnonzero(~ok)]
    keep = np.flatnonzero(ok)
    keep = keep[~pd.Series(f["uuid"][keep]).duplicated().to_numpy()]  # pages shift while builds arrive
    event = np.array([pipeline_event(p) for p in f["pipeline"][keep]], dtype=object)
    repo, branch = f["project"][keep], f["branch"][keep]
    counts = {"running": int(running.sum()), "skipped": int((skipped & ~running).sum()),
              "never started": int((unstarted & ~skipped & ~running).sum())}
    left = ", ".join(f"{v:,} {k}" for k, v in counts.items() if v)
    pipelines = ", ".join(f"{p} -> {pipeline_event(p)}" for p in sorted(set(f["pipeline"][keep])))
    notes = [f"Zuul builds: {keep.size:,} builds from {len(names)} file(s); submitted = start_time, duration = "
             f"end_time - start_time (node time, no queue); pipelines as events: {pipelines or 'none'}"]
    if problems:
        notes.append(f"{len(problems):,} build(s) left out ({left or 'unreadable'}"
                     + (", others unreadable" if left and sum(counts.values()) < len(problems) else "")
                     + "): see problems")
    retries = int((f["final"][keep] == "False").sum())
    if retries:
        notes.append(f"{retries:,} build(s) are retried attempts (final: false): they ran, so they are counted")
    conclusion = np.array([CONCLUSIONS.get(r, r.lower()) for r in result[keep]], dtype=object)
    columns = dict(
        submitted_s=start[keep], duration_s=duration[keep], repo=repo, workflow=f["pipeline"][keep],
        ids=f["uuid"][keep], job_name=f["job_name"][keep], event=event,
        default_branch=default_branch_mask(repo, branch, event),
        source="zuul:" + ",".join(os.path.basename(n) for n in names), notes=tuple(notes),
    )
    return sorted_result(columns, conclusion=conclusion, problems=problems, formats={n: "zuul" for n in names})


__all__ = ["CONCLUSIONS", "PIPELINE_EVENTS", "looks_like_zuul", "pipeline_event", "read_zuul"]
