"""The registry of CI trace formats, and reading trace files or folders through it.

Each :class:`TraceFormat` says how its files are told (a sniffer over the first characters and the CSV
header), whether its files are read together (an export split over files, jobs that find their runs in
another file) and which reader takes them, named by module so that importing this module loads neither
pandas nor httpx. Adding a format is one reader module plus one line in :data:`TRACE_FORMATS`.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from greenci.csvutil import first_csv_record
from greenci.errors import DataFormatError, InputError
from greenci.textfiles import text_head
from greenci.traces.records import TraceReadResult, merge_results

PathLike = str | os.PathLike[str]


@dataclass(frozen=True)
class TraceFormat:
    """One trace format: its name, how it is told, how it is read."""

    name: str
    columns: str  # shown in errors
    sniff: Callable[[str, frozenset[str]], bool]  # (first characters, lower-case CSV header names)
    reader: str  # "module:function"
    multi_file: bool = False  # the reader takes all files of the format at once

    def read(self, files: list[Path]) -> list[TraceReadResult]:
        module, func = self.reader.split(":")
        reader = getattr(importlib.import_module(module), func)
        return [reader(files)] if self.multi_file else [reader(f) for f in files]


def _zuul(head: str) -> bool:
    """Zuul builds, told from GitHub's JSON by their keys (job_name with log_url/buildset/pipeline, no run ids)."""
    from greenci.traces.zuul import looks_like_zuul

    return looks_like_zuul(head)


TRACE_FORMATS: tuple[TraceFormat, ...] = (
    TraceFormat("ghaminer", "repo, id_build, created_at, updated_at, build_duration",
                lambda head, cols: {"id_build", "build_duration"} <= cols or {"id_build", "created_at",
                                                                              "updated_at"} <= cols,
                "greenci.traces.ghaminer:read_ghaminer", multi_file=True),
    TraceFormat("zuul", "JSON of Zuul's /api/tenant/{tenant}/builds (uuid, job_name, pipeline, start_time, end_time)",
                lambda head, cols: _zuul(head), "greenci.traces.zuul:read_zuul", multi_file=True),
    TraceFormat("github_rest", "JSON pages of /actions/runs or /actions/runs/{id}/jobs",
                lambda head, cols: head[:1] in ("[", "{") and not _zuul(head),
                "greenci.traces.github_rest:read_github_rest", multi_file=True),
    TraceFormat("plain_csv", "repo, workflow, job, event, started_at, completed_at, conclusion",
                lambda head, cols: {"repo", "workflow", "started_at", "completed_at"} <= cols,
                "greenci.traces.plain_csv:read_plain_csv"),
    TraceFormat("gaia", "arrival_time, length, cpus",
                lambda head, cols: {"arrival_time", "length", "cpus"} <= cols,
                "greenci.traces.gaia:read_gaia"),
)
FORMATS: dict[str, TraceFormat] = {f.name: f for f in TRACE_FORMATS}


def format_help() -> str:
    return ", ".join(f"{f.name} ({f.columns})" for f in TRACE_FORMATS)


def read_trace(paths: PathLike | Iterable[PathLike], *, fmt: str | None = None) -> TraceReadResult:
    """Read run histories from files or directories, detecting each file's format, and merge them.

    Directories contribute their ``*.csv`` and ``*.json`` files (recursively, sorted). Files of a
    multi-file format are read together (one GHAminer export split over files is merged and
    de-duplicated; GitHub jobs find their runs in another file). ``fmt`` forces one format for every file.
    """
    files = trace_files(paths)
    if fmt is not None and fmt not in FORMATS:
        raise InputError(f"trace format {fmt!r} is unknown: use one of {', '.join(FORMATS)}", field="fmt")
    groups: dict[str, list[Path]] = {}
    for f in files:
        head = sniff_trace(f)
        groups.setdefault(fmt or _format_of(os.fspath(f), head), []).append(f)
    results: list[TraceReadResult] = []
    for f in TRACE_FORMATS:  # a fixed order, so the merged notes read the same every time
        if f.name in groups:
            results += f.read(groups[f.name])
    merged = merge_results(results)
    if len(merged.jobs) == 0:
        raise nothing_usable(files, merged)
    return merged


def nothing_usable(files: list[Path], result: TraceReadResult) -> DataFormatError:
    """The error for traces that hold no run or job a replay could use: how many rows were left out and why."""
    names = ", ".join(os.fspath(f) for f in files)
    if not result.problems:
        return DataFormatError("holds no run or job at all (an empty page or table?): give a trace with runs in one "
                               f"of these formats: {format_help()}", path=names)
    shown = "; ".join(str(p) for p in result.problems[:3])
    more = f" (and {len(result.problems) - 3:,} more)" if len(result.problems) > 3 else ""
    return DataFormatError(f"no usable run or job: all {len(result.problems):,} row(s) were left out, e.g. "
                           f"{shown}{more}; fix those rows or give another trace", path=names)


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


def sniff_trace(path: PathLike) -> str:
    """The first 64 KiB of a trace file as text, or a DataFormatError at once for what is no trace at all
    (see :func:`greenci.textfiles.text_head`; a first line that long is fine when it is JSON)."""
    return text_head(path, expected=f"a trace is CSV or JSON text in one of these formats: {format_help()}",
                     json_allowed=True)


def detect_trace_format(path: PathLike) -> str:
    """The trace format of one file, told from its first characters (JSON) or its CSV header."""
    return _format_of(os.fspath(path), sniff_trace(path))


def _format_of(name: str, head: str) -> str:
    stripped = head.lstrip()
    header = frozenset(h.strip().lower() for h in first_csv_record(stripped)) if stripped[0] not in "[{" \
        else frozenset()
    for f in TRACE_FORMATS:
        if f.sniff(stripped, header):
            return f.name
    shown = ", ".join(sorted(header)[:10])
    raise DataFormatError(f"the header ({shown}) matches no trace format: supported formats are {format_help()}",
                          path=name)
