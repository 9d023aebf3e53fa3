"""Run histories as job-graph nodes: greenci's trace readers plus the columns a JobTable does not keep.

Why a module of its own: the failure model needs the commit, the attempt, the runner and the queue wait
of every run or job, which the scheduler's :class:`~greenci.jobs.JobTable` drops. The rows themselves
(which runs exist, their times, durations, cleaning and de-duplication) come only from
:func:`greenci.traces.read_trace`; this module reads the *extra* columns from the same files with the
traces' own CSV/JSON helpers and joins them onto the kept rows by id, so the readers' rules are never
duplicated.

Extra columns by format (unknown values are NaN or ``""``, never guessed):

* ``ghaminer``: ``commit_sha``, ``workflow_id``, ``workflow_size``, ``test_framework``. No queue wait,
  runner or attempt (GHAminer has no ``run_attempt``).
* ``github_rest``: runs: ``head_sha``, ``workflow_id``, ``run_attempt``, queue = ``run_started_at -
  created_at``; jobs: ``head_sha``, ``run_attempt``, runner = ``labels`` (else ``runner_group_name``),
  queue = ``started_at - created_at``, matrix leg = the parenthesised part of the job name.
* ``zuul``: commit = ``newrev`` (else ``change,patchset``), runner = ``nodeset``, run = the buildset uuid,
  attempt from ``final: false`` retries.

Energy, CPU, memory, network and disk come from greenci energy records (``greenci measure`` and the
telemetry readers) whose ``resource_id`` is a node's id: :func:`attach_records`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from greenci.errors import InputError

PathLike = str | os.PathLike[str]

#: conclusions that count as a failure (the label of the failure model)
FAILED = ("failure", "timed_out", "startup_failure")
_MATRIX_RE = re.compile(r"\(([^()]*)\)\s*$")


@dataclass(frozen=True, eq=False)
class JobNodes:
    """One row per run or job, aligned columns (arrival order). Times are epoch seconds (UTC).

    NaN in a float column and ``""`` in a text column mean "not known in this history".
    """

    ids: np.ndarray
    repo: np.ndarray
    workflow: np.ndarray
    workflow_id: np.ndarray
    job_name: np.ndarray
    commit: np.ndarray
    run_id: np.ndarray
    event: np.ndarray
    default_branch: np.ndarray
    submitted_s: np.ndarray
    duration_s: np.ndarray
    queue_s: np.ndarray
    attempt: np.ndarray
    runner: np.ndarray
    matrix_leg: np.ndarray
    workflow_size: np.ndarray
    test_framework: np.ndarray
    conclusion: np.ndarray
    cpu_s: np.ndarray
    memory_mb: np.ndarray
    network_bytes: np.ndarray
    disk_bytes: np.ndarray
    energy_kwh: np.ndarray
    synthetic: bool = False
    source: str = ""
    notes: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        n = len(self.ids)
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if isinstance(value, np.ndarray) and len(value) != n:
                raise InputError(f"job nodes column {name} has {len(value)} rows, expected {n}", field=name)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def failed(self) -> np.ndarray:
        """The label: True where the conclusion is a failure (:data:`FAILED`)."""
        return np.isin(np.char.lower(self.conclusion.astype(str)), FAILED)

    @property
    def labelled(self) -> np.ndarray:
        """Nodes with a conclusion at all (a format without one gives no label, not 'success')."""
        return self.conclusion.astype(str) != ""


def nodes_from_columns(n: int, **columns: Any) -> JobNodes:
    """JobNodes from the columns given; the rest filled with 'unknown' (NaN, "" or False)."""
    text = ("ids", "repo", "workflow", "workflow_id", "job_name", "commit", "run_id", "event", "runner",
            "matrix_leg", "test_framework", "conclusion")
    numbers = ("duration_s", "queue_s", "attempt", "workflow_size", "cpu_s", "memory_mb", "network_bytes",
               "disk_bytes", "energy_kwh")
    built: dict[str, Any] = {}
    for name in text:
        v = columns.pop(name, None)
        built[name] = np.full(n, "", dtype=object) if v is None else np.asarray(v, dtype=object)
    for name in numbers:
        v = columns.pop(name, None)
        built[name] = np.full(n, np.nan) if v is None else np.asarray(v, dtype=np.float64)
    sub = columns.pop("submitted_s", None)
    if sub is None:
        raise InputError("job nodes need submitted_s (epoch seconds)", field="submitted_s")
    built["submitted_s"] = np.asarray(sub, dtype=np.int64)
    d = columns.pop("default_branch", None)
    built["default_branch"] = np.zeros(n, dtype=bool) if d is None else np.asarray(d, dtype=bool)
    if np.all(built["ids"] == ""):
        built["ids"] = np.arange(n).astype(str).astype(object)
    return JobNodes(**built, **columns)


def read_history(paths: Sequence[PathLike]) -> JobNodes:
    """Read run histories (any format :func:`greenci.traces.read_trace` knows) into job-graph nodes."""
    from greenci.traces import read_trace

    result = read_trace(list(paths))
    jobs = result.jobs
    n = len(jobs)
    extras = _Extras(n)
    by_repo_id = {(str(r), str(i)): k for k, (r, i) in enumerate(zip(jobs.repo, jobs.ids, strict=True))}
    by_id = {str(i): k for k, i in enumerate(jobs.ids)}
    for path, fmt in sorted(result.formats.items()):
        if fmt == "ghaminer":
            _ghaminer_extras(path, by_repo_id, extras)
        elif fmt == "github_rest":
            _github_extras(path, by_id, extras)
        elif fmt == "zuul":
            _zuul_extras(path, by_id, extras)
    run_id = jobs.run_ids if jobs.run_ids is not None else np.full(n, "", dtype=object)
    run_id = np.where(extras.text["run_id"] != "", extras.text["run_id"], run_id)
    job_name = jobs.job_name.astype(object)
    leg = np.array([m.group(1).strip() if (m := _MATRIX_RE.search(str(j))) else "" for j in job_name], dtype=object)
    leg = np.where(extras.text["matrix_leg"] != "", extras.text["matrix_leg"], leg)
    wf_id = np.where(extras.text["workflow_id"] != "", extras.text["workflow_id"], jobs.workflow)
    notes = list(jobs.notes)
    known = {k: int((v != "").sum()) for k, v in extras.text.items()}
    notes.append(f"job graph extras: commit known for {known['commit']:,} of {n:,} nodes, runner for "
                 f"{known['runner']:,}, queue wait for {int(np.isfinite(extras.num['queue_s']).sum()):,}")
    return JobNodes(
        ids=jobs.ids.astype(object), repo=jobs.repo.astype(object), workflow=jobs.workflow.astype(object),
        workflow_id=wf_id.astype(object), job_name=job_name, commit=extras.text["commit"], run_id=run_id.astype(object),
        event=jobs.event.astype(object), default_branch=np.asarray(jobs.default_branch, dtype=bool),
        submitted_s=np.asarray(jobs.submitted_s, dtype=np.int64), duration_s=np.asarray(jobs.duration_s, np.float64),
        queue_s=extras.num["queue_s"], attempt=extras.num["attempt"], runner=extras.text["runner"],
        matrix_leg=leg.astype(object), workflow_size=extras.num["workflow_size"],
        test_framework=extras.text["test_framework"], conclusion=np.asarray(result.conclusion, dtype=object),
        cpu_s=np.full(n, np.nan), memory_mb=np.full(n, np.nan), network_bytes=np.full(n, np.nan),
        disk_bytes=np.full(n, np.nan), energy_kwh=np.full(n, np.nan), synthetic=jobs.synthetic,
        source=jobs.source, notes=tuple(notes),
    )


class _Extras:
    """Extra columns being filled, aligned with the trace's kept rows."""

    def __init__(self, n: int) -> None:
        self.text = {k: np.full(n, "", dtype=object)
                     for k in ("commit", "workflow_id", "test_framework", "runner", "matrix_leg", "run_id")}
        self.num = {k: np.full(n, np.nan) for k in ("queue_s", "attempt", "workflow_size")}

    def put(self, rows: np.ndarray, name: str, values: np.ndarray) -> None:
        target = self.text.get(name)
        if target is None:
            self.num[name][rows] = np.asarray(values, dtype=np.float64)
        else:
            target[rows] = np.asarray(values, dtype=object)


def _ghaminer_extras(path: str, index: dict[tuple[str, str], int], out: _Extras) -> None:
    import pandas as pd

    from greenci.traces.tables import numbers, read_csv_text

    cols = ("repo", "id_build", "commit_sha", "workflow_id", "workflow_size", "test_framework")
    df = read_csv_text(path, columns=cols)
    for c in cols:
        if c not in df.columns:
            df[c] = ""
    df = df.assign(repo=df["repo"].str.strip(), id_build=df["id_build"].str.strip())
    df = df.drop_duplicates(["repo", "id_build"])  # copies of one run share its commit and workflow
    rows = pd.Series(list(zip(df["repo"], df["id_build"], strict=True)), dtype=object).map(index)
    hit = rows.notna().to_numpy()
    at = rows[hit].to_numpy(dtype=np.int64)
    out.put(at, "commit", df["commit_sha"].str.strip().to_numpy(dtype=object)[hit])
    out.put(at, "workflow_id", df["workflow_id"].str.strip().to_numpy(dtype=object)[hit])
    out.put(at, "workflow_size", numbers(df["workflow_size"])[hit])
    tf = df["test_framework"].str.strip().str.strip("[]").str.replace("'", "", regex=False).str.strip()
    out.put(at, "test_framework", tf.to_numpy(dtype=object)[hit])


def _seconds(text: Sequence[str]) -> np.ndarray:
    import pandas as pd

    from greenci.traces.tables import utc_seconds

    secs, ok = utc_seconds(pd.Series(list(text), dtype=object))
    return np.where(ok, secs.astype(np.float64), np.nan)


def _items(path: str, key: str) -> list[dict[str, Any]]:
    """Every JSON object holding ``key`` in a saved file, at any depth (pages, lists, buildsets)."""
    from greenci.traces.tables import json_documents

    found: list[dict[str, Any]] = []
    stack: list[Any] = list(json_documents(path))
    while stack:
        v = stack.pop()
        if isinstance(v, list):
            stack.extend(v)
        elif isinstance(v, dict):
            if key in v:
                found.append(v)
            stack.extend(x for x in v.values() if isinstance(x, (list, dict)) and x is not v.get("repository"))
    return found


def _github_extras(path: str, index: dict[str, int], out: _Extras) -> None:
    items = [it for it in _items(path, "id") if "run_id" in it or "workflow_id" in it]
    rows = [index.get(str(it.get("id", ""))) for it in items]
    pairs = [(r, it) for r, it in zip(rows, items, strict=True) if r is not None]
    if not pairs:
        return
    at = np.array([r for r, _ in pairs], dtype=np.int64)
    get = [it for _, it in pairs]

    def s(it: dict[str, Any], k: str) -> str:
        v = it.get(k)
        return "" if v is None else str(v).strip()

    out.put(at, "commit", np.array([s(it, "head_sha") for it in get], dtype=object))
    out.put(at, "workflow_id", np.array([s(it, "workflow_id") for it in get], dtype=object))
    out.put(at, "attempt", np.array([float(it.get("run_attempt") or "nan") for it in get]))
    is_job = np.array(["run_id" in it for it in get], dtype=bool)
    started = _seconds([s(it, "started_at") if "run_id" in it else s(it, "run_started_at") for it in get])
    created = _seconds([s(it, "created_at") for it in get])
    out.put(at, "queue_s", np.maximum(started - created, 0.0))
    labels = [",".join(map(str, it.get("labels") or [])) or s(it, "runner_group_name") for it in get]
    out.put(at[is_job], "runner", np.array(labels, dtype=object)[is_job])


def _zuul_extras(path: str, index: dict[str, int], out: _Extras) -> None:
    builds = [b for b in _items(path, "job_name") if "uuid" in b]
    pairs = [(index.get(str(b.get("uuid"))), b) for b in builds]
    pairs = [(r, b) for r, b in pairs if r is not None]
    if not pairs:
        return
    at = np.array([r for r, _ in pairs], dtype=np.int64)

    def s(b: dict[str, Any], k: str) -> str:
        v = b.get(k)
        return "" if v is None else str(v).strip()

    commit = [s(b, "newrev") or (f"{s(b, 'change')},{s(b, 'patchset')}" if s(b, "change") else "") for _, b in pairs]
    out.put(at, "commit", np.array(commit, dtype=object))
    nodeset = [b.get("nodeset") for _, b in pairs]
    out.put(at, "runner", np.array([str(x.get("name", "")) if isinstance(x, dict) else ("" if x is None else str(x))
                                    for x in nodeset], dtype=object))
    bs = [b.get("buildset") for _, b in pairs]
    out.put(at, "run_id", np.array([str(x.get("uuid", "")) if isinstance(x, dict) else "" for x in bs], dtype=object))


def attach_records(nodes: JobNodes, records: Sequence[Any]) -> JobNodes:
    """Energy and usage from greenci records whose ``resource_id`` is a node's id (else left unknown).

    Energy intervals are summed per node; usage metrics are told by their name: ``cpu`` (seconds; ``ns``
    units converted), ``mem`` (the largest value, MB as given), ``net``/``network`` and ``disk`` (summed,
    in the record's unit). Records of no node are counted in the notes.
    """
    from greenci.energy.records import EnergyRecord, UsageRecord

    index = {str(i): k for k, i in enumerate(nodes.ids)}
    cols = {k: getattr(nodes, k).copy() for k in ("energy_kwh", "cpu_s", "memory_mb", "network_bytes", "disk_bytes")}
    unmatched = 0
    for r in records:
        k = index.get(str(getattr(r, "resource_id", "")))
        if k is None:
            unmatched += 1
            continue
        if isinstance(r, EnergyRecord):
            if r.is_interval and r.energy_kwh is not None:
                cols["energy_kwh"][k] = np.nansum([cols["energy_kwh"][k], r.energy_kwh])
        elif isinstance(r, UsageRecord):
            name = r.metric.lower()
            if "cpu" in name:
                v = r.value / 1e9 if r.unit.lower() == "ns" else r.value
                cols["cpu_s"][k] = np.nansum([cols["cpu_s"][k], v])
            elif "mem" in name:
                cols["memory_mb"][k] = np.nanmax([cols["memory_mb"][k], r.value])
            elif "net" in name:
                cols["network_bytes"][k] = np.nansum([cols["network_bytes"][k], r.value])
            elif "disk" in name:
                cols["disk_bytes"][k] = np.nansum([cols["disk_bytes"][k], r.value])
    matched = int(np.isfinite(cols["energy_kwh"]).sum())
    note = (f"energy records: {matched:,} nodes with measured energy; {unmatched:,} record(s) name no node "
            "(their resource_id is not a run or job id of the history)")
    return replace(nodes, **cols, notes=(*nodes.notes, note))


__all__ = ["FAILED", "JobNodes", "attach_records", "nodes_from_columns", "read_history"]
