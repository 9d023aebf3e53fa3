"""Real CI run histories (and cluster job traces) read into :class:`~greenci.jobs.JobTable`.

Why: the simulator, the scheduler and the reports must never know which file a history came from
(DESIGN.md, "Semantics"), so every importer here produces the same columnar record and says, in
``JobTable.notes`` and in :class:`TraceReadResult.problems`, what it could not take over as is.

Formats (``detect_trace_format`` returns the name on the left; ``read_trace`` picks it per file):

``ghaminer``
    GHAminer CSV exports (``repo``, ``id_build``, ``workflow_name``, ``workflow_event_trigger``,
    ``branch``, ``created_at``, ``updated_at``, ``build_duration``, ...): one row a workflow run.
    Several files of one export are merged and de-duplicated on (repo, id_build).
``github_rest``
    GitHub REST API JSON as saved by ``gh api --paginate`` (or :func:`fetch_runs`) from
    ``/repos/{owner}/{repo}/actions/runs`` and ``/actions/runs/{id}/jobs``.
``plain_csv``
    A plain table: ``repo, workflow, job, event, started_at, completed_at, conclusion`` (+ optional
    ``duration_estimate_s``, ``deadline``, ``allowed_regions``, ``carbon_aware``, ...).
``gaia``
    GAIA cluster traces (``arrival_time``, ``length`` in hours, ``cpus``).

Reading contract: a file of the wrong format or lacking a needed column raises
:class:`~greenci.errors.DataFormatError` and nothing of it is returned; a single row that cannot be
used (bad time, no duration, run still in progress) is left out and reported as a
:class:`RowProblem` (file, row, reason), never dropped silently. CSV rows count as an editor shows
them: the header is row 1, the first data row is row 2. JSON rows are the 1-based position of the
run or job among all runs/jobs of that file.

Importing this package loads neither pandas nor httpx; the readers load them when they run.
"""

from __future__ import annotations

import importlib
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from greenci.errors import DataFormatError, InputError
from greenci.jobs import JobTable

if TYPE_CHECKING:
    import pandas as pd

    from greenci.traces.cleaning import (
        GITHUB_JOB_LIMIT_S,
        WEEK_S,
        ImplausibleRuns,
        align_into,
        align_to_weeks,
        clean_implausible,
        find_implausible,
        shift_weeks,
    )
    from greenci.traces.gaia import GAIA_W_PER_CPU, read_gaia
    from greenci.traces.ghaminer import default_branch_mask, read_ghaminer
    from greenci.traces.github_rest import FetchResult, fetch_runs, github_token_from_env, read_github_rest
    from greenci.traces.plain_csv import read_plain_csv

PathLike = str | os.PathLike[str]

#: format name -> (module, reader); the reader takes a list of paths (ghaminer, github_rest: the
#: files are read together, because runs span files) or one path (plain_csv, gaia).
FORMATS: dict[str, tuple[str, str]] = {
    "ghaminer": ("greenci.traces.ghaminer", "read_ghaminer"),
    "github_rest": ("greenci.traces.github_rest", "read_github_rest"),
    "plain_csv": ("greenci.traces.plain_csv", "read_plain_csv"),
    "gaia": ("greenci.traces.gaia", "read_gaia"),
}
_MULTI_FILE = frozenset({"ghaminer", "github_rest"})
_FORMAT_HELP = (
    "ghaminer (repo, id_build, created_at, updated_at, build_duration), "
    "github_rest (JSON pages of /actions/runs or /actions/runs/{id}/jobs), "
    "plain_csv (repo, workflow, job, event, started_at, completed_at, conclusion), "
    "gaia (arrival_time, length, cpus)"
)

_LAZY: dict[str, str] = {
    "GITHUB_JOB_LIMIT_S": "cleaning", "WEEK_S": "cleaning", "ImplausibleRuns": "cleaning",
    "align_into": "cleaning", "align_to_weeks": "cleaning", "clean_implausible": "cleaning",
    "find_implausible": "cleaning", "shift_weeks": "cleaning",
    "GAIA_W_PER_CPU": "gaia", "read_gaia": "gaia",
    "default_branch_mask": "ghaminer", "read_ghaminer": "ghaminer",
    "FetchResult": "github_rest", "fetch_runs": "github_rest", "github_token_from_env": "github_rest",
    "read_github_rest": "github_rest",
    "read_plain_csv": "plain_csv",
}


def __getattr__(name: str) -> Any:
    """Load the reader modules (and pandas/httpx with them) only when one is used."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'greenci.traces' has no attribute {name!r}")
    return getattr(importlib.import_module(f"greenci.traces.{module}"), name)


# ---------------------------------------------------------------------------------------- records
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


# ---------------------------------------------------------------------------------------- public API
def read_trace(paths: PathLike | Iterable[PathLike], *, fmt: str | None = None) -> TraceReadResult:
    """Read run histories from files or directories, detecting each file's format, and merge them.

    Directories contribute their ``*.csv`` and ``*.json`` files (recursively, sorted). Files of
    the ``ghaminer`` format are read together (one export split over files is merged and
    de-duplicated), as are ``github_rest`` files (so jobs find their runs in another file).
    ``fmt`` forces one format for every file.
    """
    files = trace_files(paths)
    if fmt is not None and fmt not in FORMATS:
        raise InputError(f"trace format {fmt!r} is unknown: use one of {', '.join(FORMATS)}")
    groups: dict[str, list[Path]] = {}
    for f in files:
        groups.setdefault(fmt or detect_trace_format(f), []).append(f)
    results: list[TraceReadResult] = []
    for name in FORMATS:  # a fixed order, so the merged notes read the same every time
        if name not in groups:
            continue
        module, func = FORMATS[name]
        reader = getattr(importlib.import_module(module), func)
        if name in _MULTI_FILE:
            results.append(reader(groups[name]))
        else:
            results += [reader(f) for f in groups[name]]
    return merge_results(results)


def trace_files(paths: PathLike | Iterable[PathLike]) -> list[Path]:
    """Files named in ``paths``, directories expanded to their ``*.csv``/``*.json`` files, no repeats."""
    given = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    if not given:
        raise InputError("no trace files given: pass CSV/JSON files or a directory holding them")
    out: list[Path] = []
    seen: set[Path] = set()
    for g in given:
        p = Path(g)
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in (".csv", ".json"))
            if not found:
                raise InputError(f"{os.fspath(g)}: directory holds no *.csv or *.json trace files")
        elif p.is_file():
            found = [p]
        else:
            raise InputError(f"{os.fspath(g)}: no such file or directory: check the path")
        for f in found:
            key = f.resolve()
            if key not in seen:
                seen.add(key)
                out.append(f)
    return out


def detect_trace_format(path: PathLike) -> str:
    """The trace format of one file, told from its first character (JSON) or its CSV header."""
    name = os.fspath(path)
    try:
        with open(name, encoding="utf-8-sig", newline="") as fh:
            head = fh.read(65536)
    except OSError as exc:
        raise InputError(f"{name}: cannot be read ({exc.strerror}): check the path") from None
    except UnicodeDecodeError:
        raise DataFormatError("is not UTF-8 text: a trace is a CSV or JSON file", path=name) from None
    stripped = head.lstrip()
    if not stripped:
        raise DataFormatError("is empty: a trace needs a header row or JSON", path=name)
    if stripped[0] in "[{":
        return "github_rest"
    header = {h.strip().lower() for h in _first_csv_record(stripped)}
    if {"id_build", "build_duration"} <= header or {"id_build", "created_at", "updated_at"} <= header:
        return "ghaminer"
    if {"arrival_time", "length", "cpus"} <= header:
        return "gaia"
    if {"repo", "workflow", "started_at", "completed_at"} <= header:
        return "plain_csv"
    shown = ", ".join(sorted(header)[:10])
    raise DataFormatError(f"the header ({shown}) matches no trace format: supported formats are {_FORMAT_HELP}",
                          path=name)


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
    notes: list[str] = []
    for t in tables:
        notes += [n for n in t.notes if n not in notes]
    jobs = JobTable.build(
        submitted_s=sub[order], duration_s=cat("duration_s"), repo=cat("repo"), workflow=cat("workflow"),
        ids=cat("ids"), job_name=cat("job_name"), event=cat("event"), user_estimate_s=cat("user_estimate_s"),
        deadline_s=cat("deadline_s"), buffer_s=cat("buffer_s"), carbon_aware=cat("carbon_aware"),
        power_kw=cat("power_kw"), interruptible=cat("interruptible"), default_branch=cat("default_branch"),
        allowed_regions=allowed, synthetic=any(t.synthetic for t in tables),
        source=" + ".join(t.source for t in tables if t.source), notes=tuple(notes),
    )
    conclusion = np.concatenate([np.asarray(r.conclusion, dtype=object) for r in results])[order]
    formats: dict[str, str] = {}
    for r in results:
        formats.update(r.formats)
    return TraceReadResult(jobs=jobs, problems=[p for r in results for p in r.problems], conclusion=conclusion,
                           formats=formats)


# ---------------------------------------------------------------------------------------- reader helpers
def _first_csv_record(text: str) -> list[str]:
    import csv

    for record in csv.reader(text.splitlines()[:1]):
        return record
    return []


def _read_csv_text(path: PathLike, *, as_text: bool = True, columns: Iterable[str] | None = None) -> pd.DataFrame:
    """A CSV file as strings (nothing guessed), or a DataFormatError saying why it cannot be read.

    ``as_text=False`` lets pandas parse numbers (fast path for large numeric traces); a column
    with a stray text then stays text and :func:`_numbers` reports its rows. ``columns`` reads only
    those (the others are skipped unparsed; absent ones are simply not there, callers check).
    """
    import pandas as pd

    name = os.fspath(path)
    options: dict[str, Any] = {"dtype": str, "keep_default_na": False} if as_text else {}
    if columns is not None:
        wanted = frozenset(columns)
        options["usecols"] = lambda name: name in wanted
    try:
        return pd.read_csv(name, encoding="utf-8-sig", **options)
    except FileNotFoundError:
        raise InputError(f"{name}: no such file: check the path") from None
    except pd.errors.EmptyDataError:
        raise DataFormatError("is empty: a trace needs a header row", path=name) from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise DataFormatError(f"is not a readable CSV table ({str(exc).strip()[:200]})", path=name) from None


def _require_columns(df: pd.DataFrame, required: Iterable[str], path: PathLike, fmt: str) -> None:
    missing = [c for c in required if c not in df.columns]
    if missing:
        have = ", ".join(map(str, df.columns[:12]))
        raise DataFormatError(
            f"lacks column(s) {', '.join(missing)} needed by the {fmt} format (columns present: {have})",
            path=os.fspath(path), column=missing[0],
        )


def _utc_seconds(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """ISO 8601 texts (``Z``, an offset, or none = UTC; ``T`` or a space) as epoch seconds + ok mask."""
    import pandas as pd

    text = values.astype(str).str.strip()
    parsed = pd.to_datetime(text.where(text != "", None), utc=True, format="ISO8601", errors="coerce")
    ok = parsed.notna().to_numpy()
    secs = np.zeros(len(values), dtype=np.int64)
    if ok.any():
        naive = parsed[ok].dt.tz_localize(None).to_numpy().astype("datetime64[s]")
        secs[ok] = naive.astype(np.int64)
    return secs, ok


def _numbers(values: pd.Series) -> np.ndarray:
    """Texts as floats; empty or non-numeric text becomes NaN (callers report it)."""
    import pandas as pd

    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        return np.array(values, dtype=np.float64)
    return np.array(pd.to_numeric(values.astype(str).str.strip(), errors="coerce"), dtype=np.float64)


def _problems(path: PathLike, rows: np.ndarray, reasons: np.ndarray) -> list[RowProblem]:
    name = os.fspath(path)
    return [RowProblem(name, int(r), str(why)) for r, why in zip(rows, reasons, strict=True)]


def _first_reason(n: int, checks: Sequence[tuple[np.ndarray, Any]]) -> np.ndarray:
    """Per row, the reason of the first failed check (``""`` when all pass), vectorised.

    ``checks`` are (failed mask, reason) pairs in priority order; a reason is a string, or a
    callable that gets the failing row positions and returns one text per row (so per-row texts
    are only built for the few rows that fail).
    """
    out = np.full(n, "", dtype=object)
    for failed, reason in reversed(checks):
        idx = np.flatnonzero(np.asarray(failed, dtype=bool))
        if idx.size == 0:
            continue
        out[idx] = np.asarray(list(reason(idx)), dtype=object) if callable(reason) else reason
    return out


def _sorted_result(columns: dict[str, Any], *, conclusion: np.ndarray, problems: list[RowProblem],
                   formats: dict[str, str]) -> TraceReadResult:
    """Build the JobTable in arrival order with ``conclusion`` kept aligned to it."""
    sub = np.asarray(columns["submitted_s"], dtype=np.int64)
    order = np.argsort(sub, kind="stable")
    built: dict[str, Any] = {}
    for key, value in columns.items():
        if isinstance(value, np.ndarray) and value.shape == sub.shape:
            built[key] = value[order]
        elif key == "allowed_regions" and value is not None:
            built[key] = tuple(value[i] for i in order)
        else:
            built[key] = value
    jobs = JobTable.build(**built)
    return TraceReadResult(jobs=jobs, problems=problems, conclusion=np.asarray(conclusion, dtype=object)[order],
                           formats=formats)


def _json_documents(path: PathLike) -> list[Any]:
    """Every top-level JSON value of a file: one value, a JSON array, or values written back to back
    (``gh api --paginate`` writes one object a page with nothing between them)."""
    name = os.fspath(path)
    try:
        text = Path(name).read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise InputError(f"{name}: cannot be read ({exc.strerror}): check the path") from None
    except UnicodeDecodeError:
        raise DataFormatError("is not UTF-8 text: expected JSON", path=name) from None
    decoder = json.JSONDecoder()
    docs: list[Any] = []
    pos, end = 0, len(text)
    while True:
        while pos < end and text[pos] in " \t\r\n":
            pos += 1
        if pos >= end:
            break
        try:
            value, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            raise DataFormatError(f"is not valid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}",
                                  path=name) from None
        docs.append(value)
    if not docs:
        raise DataFormatError("is empty: expected JSON pages of GitHub runs or jobs", path=name)
    return docs


__all__ = [
    "FORMATS",
    "GAIA_W_PER_CPU",
    "GITHUB_JOB_LIMIT_S",
    "WEEK_S",
    "FetchResult",
    "ImplausibleRuns",
    "RowProblem",
    "TraceReadResult",
    "align_into",
    "align_to_weeks",
    "clean_implausible",
    "default_branch_mask",
    "detect_trace_format",
    "fetch_runs",
    "find_implausible",
    "github_token_from_env",
    "merge_results",
    "read_gaia",
    "read_ghaminer",
    "read_github_rest",
    "read_plain_csv",
    "read_trace",
    "shift_weeks",
    "trace_files",
]
