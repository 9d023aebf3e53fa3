"""What every trace reader returns: the jobs, and every row it had to leave out (file, row, reason)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from greenci.errors import InputError
from greenci.jobs import JobTable


@dataclass(frozen=True)
class RowProblem:
    """One row that could not be used: where it is and why (the fix is usually in the reason)."""

    path: str
    row: int | None
    reason: str

    def __str__(self) -> str:
        where = self.path if self.row is None else f"{self.path} row {self.row}"
        return f"{where}: {self.reason}"


@dataclass(frozen=True, eq=False)
class TraceReadResult:
    """What a trace reader produced: the jobs, and every row it had to leave out.

    ``conclusion`` holds each job's outcome (``success``, ``failure``, ...; ``""`` when the format
    has none), aligned with the rows of ``jobs``: JobTable has no column for it yet.
    ``formats`` maps each file read to its format name.
    """

    jobs: JobTable
    problems: list[RowProblem] = field(default_factory=list)
    conclusion: np.ndarray | None = None
    formats: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.conclusion is None:
            object.__setattr__(self, "conclusion", np.full(len(self.jobs), "", dtype=object))
        elif len(self.conclusion) != len(self.jobs):
            raise InputError(f"conclusion has {len(self.conclusion)} rows, the job table {len(self.jobs)}")

    def summary(self) -> str:
        """One line for logs and the CLI: how many jobs, from what, and how many rows were left out."""
        files = len(self.formats)
        kinds = ", ".join(sorted(set(self.formats.values()))) or "no files"
        return (f"{len(self.jobs):,} jobs from {files} file(s) ({kinds}); "
                f"{len(self.problems):,} row(s) left out (see problems)")


def merge_results(results: Sequence[TraceReadResult]) -> TraceReadResult:
    """One result from several: rows merged in arrival order, problems, notes and sources kept."""
    if not results:
        raise InputError("no trace was read: pass at least one trace file")
    if len(results) == 1:
        return results[0]
    tables = [r.jobs for r in results]
    sub = np.concatenate([t.submitted_s for t in tables])
    order = np.argsort(sub, kind="stable")

    def cat(name: str) -> np.ndarray:
        return np.concatenate([getattr(t, name) for t in tables])[order]

    allowed: tuple[tuple[str, ...] | None, ...] | None = None
    if any(t.allowed_regions is not None for t in tables):
        merged: list[tuple[str, ...] | None] = []
        for t in tables:
            merged += list(t.allowed_regions) if t.allowed_regions is not None else [None] * len(t)
        allowed = tuple(merged[i] for i in order)
    runs = None
    if any(t.run_ids is not None for t in tables):
        runs = np.concatenate([t.run_ids if t.run_ids is not None else np.full(len(t), "", dtype=object)
                               for t in tables])[order]
    notes: list[str] = []
    for t in tables:
        notes += [n for n in t.notes if n not in notes]
    jobs = JobTable.build(
        submitted_s=sub[order], duration_s=cat("duration_s"), repo=cat("repo"), workflow=cat("workflow"),
        ids=cat("ids"), job_name=cat("job_name"), event=cat("event"), user_estimate_s=cat("user_estimate_s"),
        deadline_s=cat("deadline_s"), buffer_s=cat("buffer_s"), carbon_aware=cat("carbon_aware"),
        power_kw=cat("power_kw"), interruptible=cat("interruptible"), default_branch=cat("default_branch"),
        opted_in=cat("opted_in"), capped=cat("capped"),
        allowed_regions=allowed, run_ids=runs, synthetic=any(t.synthetic for t in tables),
        source=" + ".join(t.source for t in tables if t.source), notes=tuple(notes),
    )
    conclusion = np.concatenate([np.asarray(r.conclusion, dtype=object) for r in results])[order]
    formats: dict[str, str] = {}
    for r in results:
        formats.update(r.formats)
    return TraceReadResult(jobs=jobs, problems=[p for r in results for p in r.problems], conclusion=conclusion,
                           formats=formats)
