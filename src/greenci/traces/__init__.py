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
``zuul``
    Zuul builds JSON (OpenStack's CI) as ``GET /api/tenant/{tenant}/builds`` answers it: ``job_name``,
    ``project``, ``pipeline``, ``start_time``, ``end_time``, ``result`` (see :mod:`greenci.traces.zuul`).

The registry of formats is :mod:`greenci.traces.formats`; records are in :mod:`greenci.traces.records`.

Reading contract: a file of the wrong format or lacking a needed column raises
:class:`~greenci.errors.DataFormatError` and nothing of it is returned; so does a file that is no
trace at all (empty, binary, UTF-16, no header line), refused from its first 64 KiB before any parsing.
A single row that cannot be used (bad time, no duration, run still in progress, a duration that is
negative, not finite or absurd, i.e. over 2 years, a row with fewer cells than the header) is left out
and reported as a :class:`RowProblem` (file, row, reason), never dropped silently. When nothing usable
remains, :func:`read_trace` (the entry point of simulate and schedule) raises a DataFormatError naming
the files, how many rows were left out and the first reasons. CSV rows count as an editor shows
them: the header is row 1, the first data row is row 2. JSON rows are the 1-based position of the
run or job among all runs/jobs of that file.

Importing this package loads neither pandas nor httpx; the readers load them when they run.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from greenci.traces.formats import FORMATS, TRACE_FORMATS, TraceFormat, detect_trace_format, read_trace, trace_files
from greenci.traces.records import RowProblem, TraceReadResult, merge_results

if TYPE_CHECKING:
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


__all__ = [
    "FORMATS",
    "TRACE_FORMATS",
    "TraceFormat",
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
