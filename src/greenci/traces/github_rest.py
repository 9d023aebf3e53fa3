"""GitHub Actions run histories from the REST API: a reader for saved JSON and a small fetch client.

Why: a user's own history is the best input for duration estimates and a replay, and
``gh api --paginate`` (or :func:`fetch_runs`) is the simplest way to get it.

Files read (``read_github_rest``), shapes as documented for API version 2022-11-28:

* ``GET /repos/{owner}/{repo}/actions/runs`` -> ``{"total_count", "workflow_runs": [run, ...]}``; a run
  has ``id``, ``name`` (the workflow's name), ``path``, ``workflow_id``, ``event``, ``head_branch``,
  ``status``, ``conclusion``, ``created_at``, ``updated_at``, ``run_started_at``, ``run_attempt`` and
  ``repository.full_name``.
* ``GET /repos/{owner}/{repo}/actions/runs/{run_id}/jobs`` -> ``{"total_count", "jobs": [job, ...]}``; a
  job has ``id``, ``run_id``, ``run_url``, ``name``, ``status``, ``conclusion``, ``created_at``,
  ``started_at``, ``completed_at``, ``workflow_name``, ``head_branch``, ``run_attempt``.

A file may hold one page, a JSON array of pages (``gh api --paginate --slurp``, and what
:func:`fetch_runs` writes), pages written back to back (``gh api --paginate``), or bare run/job
objects (``--jq '.workflow_runs[]'``).

Runs -> rows: submitted = ``run_started_at`` (``created_at`` when absent); duration = ``updated_at -
run_started_at``, the wall clock of the **latest attempt**, with queue time between its jobs and any
later update of the run inside; for a re-run (``run_attempt > 1``) the earlier attempts are not in
the listing and not counted. Implausible values are detected and handled afterwards (:mod:`greenci.traces.cleaning`).

Jobs -> rows: submitted = the job's ``created_at`` (queued; ``started_at`` when absent), duration =
``completed_at - started_at``: true runner time, no queue. A job takes its repository, workflow
name, event and branch from its run when the runs are in the files too (else from ``run_url``,
``workflow_name`` and ``head_branch``). When any jobs are given, the table holds the jobs and runs
only describe them (a note counts runs without jobs). Skipped jobs (0 s) are left out and reported.

Events keep GitHub's names. ``default_branch`` uses ``repository.default_branch`` when the payload
has it, else the rule of :func:`greenci.traces.ghaminer.default_branch_mask`.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd

from greenci.config import Secret, as_secret
from greenci.errors import ConfigError, DataFormatError, InputError, SourceError
from greenci.http import HttpSession
from greenci.outputs import atomic_open
from greenci.timeutil import iso, to_datetime64
from greenci.traces.ghaminer import NAMED_DEFAULT_BRANCHES, default_branch_mask
from greenci.traces.records import RowProblem, TraceReadResult
from greenci.traces.tables import duration_reason, first_reason, json_documents, sorted_result, utc_seconds

logger = logging.getLogger("greenci.traces.github_rest")

PathLike = str | os.PathLike[str]

DEFAULT_GITHUB_API = "https://api.github.com"
API_VERSION = "2022-11-28"
TOKEN_ENV = ("GREENCI_GITHUB_TOKEN", "GITHUB_TOKEN")
_REPO_RE = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_URL_REPO_RE = re.compile(r"([^/]+)/([^/]+)/actions/runs/")


# ====================================================================== reading saved JSON
def read_github_rest(paths: PathLike | Sequence[PathLike]) -> TraceReadResult:
    """Read saved runs and/or jobs pages (one or several files) into a TraceReadResult."""
    files = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    if not files:
        raise DataFormatError("no GitHub JSON files given")
    runs: list[tuple[int, int, Any]] = []  # (file index, 1-based position in its file, item)
    jobs: list[tuple[int, int, Any]] = []
    for fi, p in enumerate(files):
        found_runs: list[Any] = []
        found_jobs: list[Any] = []
        for doc in json_documents(p):
            _collect(doc, os.fspath(p), found_runs, found_jobs)
        runs += [(fi, i + 1, item) for i, item in enumerate(found_runs)]
        jobs += [(fi, i + 1, item) for i, item in enumerate(found_jobs)]
    names = [os.fspath(p) for p in files]
    problems: list[RowProblem] = []
    run_frame = _runs_frame(runs, names, problems)
    formats = {n: "github_rest" for n in names}
    source = "github_rest:" + ",".join(os.path.basename(n) for n in names)
    if jobs:
        return _jobs_result(jobs, run_frame, names, problems, formats, source)
    return _runs_result(run_frame, problems, formats, source, len(files))


def _collect(value: Any, path: str, runs: list[Any], jobs: list[Any]) -> None:
    """Sort a JSON value into runs and jobs; anything that is neither is a format error."""
    if isinstance(value, list):
        for v in value:
            _collect(v, path, runs, jobs)
        return
    if not isinstance(value, dict):
        raise DataFormatError(f"holds a JSON {type(value).__name__} where pages of workflow runs or jobs were "
                              "expected", path=path)
    if "workflow_runs" in value:
        items = value["workflow_runs"]
        if not isinstance(items, list):
            raise DataFormatError("field 'workflow_runs' is not a JSON array", path=path, column="workflow_runs")
        runs.extend(items)
    elif "jobs" in value and isinstance(value["jobs"], list):
        jobs.extend(value["jobs"])
    elif "run_id" in value and ("started_at" in value or "steps" in value):
        jobs.append(value)
    elif "run_started_at" in value or ("workflow_id" in value and "head_branch" in value):
        runs.append(value)
    elif "message" in value and len(value) <= 4:
        raise DataFormatError(f"holds a GitHub error answer, not runs: {str(value['message'])[:120]!r}: fetch the "
                              "runs again (check the token and the repository name)", path=path)
    else:
        keys = ", ".join(list(map(str, value))[:8])
        raise DataFormatError(
            f"holds a JSON object with keys ({keys}) that is neither a page of workflow runs "
            "({total_count, workflow_runs}) nor of jobs ({total_count, jobs})", path=path)


def _field(item: Any, key: str) -> str:
    if not isinstance(item, dict):
        return ""
    value = item.get(key)
    return "" if value is None else str(value).strip()


def _repo_of(item: Any, url_keys: Sequence[str]) -> str:
    if not isinstance(item, dict):
        return ""
    repo = item.get("repository")
    if isinstance(repo, dict) and repo.get("full_name"):
        return str(repo["full_name"])
    for k in url_keys:
        m = _URL_REPO_RE.search(str(item.get(k) or ""))
        if m:
            return f"{m.group(1)}/{m.group(2)}"
    return ""


def _runs_frame(runs: list[tuple[int, int, Any]], names: list[str], problems: list[RowProblem]) -> pd.DataFrame:
    """Readable runs (one per run id, columns below) and the problems of the others."""
    items = [r[2] for r in runs]
    n = len(items)
    f = {k: np.array([_field(it, k) for it in items], dtype=object)
         for k in ("id", "name", "path", "workflow_id", "event", "head_branch", "status", "conclusion",
                   "created_at", "updated_at", "run_started_at", "run_attempt")}
    repo = np.array([_repo_of(it, ("url", "html_url")) for it in items], dtype=object)
    default = np.array([str(it["repository"].get("default_branch") or "")
                        if isinstance(it, dict) and isinstance(it.get("repository"), dict) else ""
                        for it in items], dtype=object)
    started_txt = np.where(f["run_started_at"] != "", f["run_started_at"], f["created_at"])
    started, started_ok = utc_seconds(pd.Series(started_txt, dtype=object))
    updated, updated_ok = utc_seconds(pd.Series(f["updated_at"], dtype=object))
    duration = (updated - started).astype(np.float64)
    attempt = pd.to_numeric(pd.Series(f["run_attempt"], dtype=object), errors="coerce").fillna(1).to_numpy()
    workflow = np.where(f["name"] != "", f["name"], np.where(f["path"] != "", f["path"], f["workflow_id"]))
    is_obj = np.array([isinstance(it, dict) for it in items], dtype=bool)
    status = np.char.lower(f["status"].astype(str)).astype(object) if n else f["status"]
    reasons = first_reason(n, [
        (~is_obj, "item is not a JSON object"),
        (~pd.Series(f["id"], dtype=object).astype(str).str.fullmatch(r"\d+").to_numpy(dtype=bool),
         lambda idx: [f"run id {f['id'][i]!r} is not a number" for i in idx]),
        (repo == "", lambda idx: [f"run {f['id'][i]}: no repository.full_name or url to tell the repository"
                                  for i in idx]),
        (~started_ok, lambda idx: [f"run {f['id'][i]}: run_started_at/created_at {started_txt[i]!r} is not an "
                                   "ISO 8601 time" for i in idx]),
        ((status != "") & (status != "completed"),
         lambda idx: [f"run {f['id'][i]} not completed (status {status[i]!r}): its duration is not known yet"
                      for i in idx]),
        (~updated_ok, lambda idx: [f"run {f['id'][i]}: updated_at {f['updated_at'][i]!r} is not an ISO 8601 time"
                                   for i in idx]),
        (duration <= 0, lambda idx: [f"run {f['id'][i]}: updated_at is not after run_started_at "
                                     f"({duration[i]:g} s, conclusion {f['conclusion'][i] or 'none'!r}): nothing "
                                     "ran, so it is no job" for i in idx]),
        *duration_reason(duration, "updated_at - run_started_at"),
        (workflow == "", lambda idx: [f"run {f['id'][i]}: no name, path or workflow_id" for i in idx]),
    ])
    bad = np.flatnonzero(reasons != "")
    problems += [RowProblem(names[runs[i][0]], runs[i][1], str(reasons[i])) for i in bad]
    frame = pd.DataFrame({
        "id": f["id"], "repo": repo, "workflow": workflow, "event": np.where(f["event"] != "", f["event"], "other"),
        "branch": f["head_branch"], "default": default, "submitted": started, "duration": duration,
        "updated": updated, "attempt": attempt, "conclusion": f["conclusion"],
    })[reasons == ""]
    # the same run twice (pages shift while new runs arrive): latest attempt, then earliest update
    frame = frame.sort_values(["attempt", "updated"], ascending=[False, True], kind="stable")
    return frame.drop_duplicates(["repo", "id"]).sort_index()


def _branch_flags(frame: pd.DataFrame) -> np.ndarray:
    known = frame["default"].to_numpy(dtype=object) != ""
    guessed = default_branch_mask(frame["repo"].to_numpy(), frame["branch"].to_numpy(), frame["event"].to_numpy())
    return np.where(known, frame["branch"].to_numpy(dtype=object) == frame["default"].to_numpy(dtype=object),
                    guessed)


def _runs_result(frame: pd.DataFrame, problems: list[RowProblem], formats: dict[str, str], source: str,
                 n_files: int) -> TraceReadResult:
    rerun = int((frame["attempt"] > 1).sum())
    notes = [
        f"GitHub REST runs: {len(frame):,} runs from {n_files} file(s); submitted = run_started_at, duration = "
        "updated_at - run_started_at: the latest attempt's wall clock, queue time and late updates included"
        + (f"; {rerun:,} runs were re-run (run_attempt > 1), their earlier attempts are not counted" if rerun else ""),
    ]
    if problems:
        notes.append(f"{len(problems):,} run(s) left out (0 s, unfinished or unreadable): see problems")
    columns = dict(
        submitted_s=frame["submitted"].to_numpy(dtype=np.int64), duration_s=frame["duration"].to_numpy(np.float64),
        repo=frame["repo"].to_numpy(dtype=object), workflow=frame["workflow"].to_numpy(dtype=object),
        ids=frame["id"].to_numpy(dtype=object), job_name=np.full(len(frame), "", dtype=object),
        event=frame["event"].to_numpy(dtype=object), default_branch=_branch_flags(frame),
        source=source, notes=tuple(notes),
    )
    return sorted_result(columns, conclusion=frame["conclusion"].to_numpy(dtype=object), problems=problems,
                          formats=formats)


def _jobs_result(jobs: list[tuple[int, int, Any]], runs: pd.DataFrame, names: list[str],
                 problems: list[RowProblem], formats: dict[str, str], source: str) -> TraceReadResult:
    items = [j[2] for j in jobs]
    n = len(items)
    f = {k: np.array([_field(it, k) for it in items], dtype=object)
         for k in ("id", "run_id", "name", "status", "conclusion", "created_at", "started_at", "completed_at",
                   "workflow_name", "head_branch", "run_attempt")}
    url_repo = np.array([_repo_of(it, ("run_url", "html_url", "url")) for it in items], dtype=object)
    by_run = runs.drop_duplicates("id").set_index("id") if not runs.empty else None
    run_flags = pd.Series(_branch_flags(runs), index=runs["id"].to_numpy()) if not runs.empty else None

    def from_run(col: str) -> np.ndarray:
        if by_run is None:
            return np.full(n, "", dtype=object)
        return pd.Series(f["run_id"]).map(by_run[col]).fillna("").to_numpy(dtype=object)

    run_repo, run_wf, run_event = from_run("repo"), from_run("workflow"), from_run("event")
    repo = np.where(run_repo != "", run_repo, url_repo)
    workflow = np.where(run_wf != "", run_wf,
                        np.where(f["workflow_name"] != "", f["workflow_name"],
                                 np.char.add("run ", f["run_id"].astype(str)).astype(object)))
    event = np.where(run_event != "", run_event, "other")
    start, start_ok = utc_seconds(pd.Series(f["started_at"], dtype=object))
    end, end_ok = utc_seconds(pd.Series(f["completed_at"], dtype=object))
    queued, queued_ok = utc_seconds(pd.Series(f["created_at"], dtype=object))
    submitted = np.where(queued_ok, np.minimum(queued, start), start)
    duration = (end - start).astype(np.float64)
    status = np.array([s.lower() for s in f["status"]], dtype=object)
    is_obj = np.array([isinstance(it, dict) for it in items], dtype=bool)
    ids = pd.Series(f["id"], dtype=object).astype(str)
    reasons = first_reason(n, [
        (~is_obj, "item is not a JSON object"),
        (~ids.str.fullmatch(r"\d+").to_numpy(dtype=bool), lambda idx: [f"job id {f['id'][i]!r} is not a number"
                                                                       for i in idx]),
        (repo == "", lambda idx: [f"job {f['id'][i]}: its repository is unknown (no run_url, and run "
                                  f"{f['run_id'][i] or '?'} is not in the files): add the runs file" for i in idx]),
        ((status != "") & (status != "completed"),
         lambda idx: [f"job {f['id'][i]} not completed (status {status[i]!r}): its duration is not known yet"
                      for i in idx]),
        (~start_ok, lambda idx: [f"job {f['id'][i]}: started_at {f['started_at'][i]!r} is not an ISO 8601 time"
                                 for i in idx]),
        (~end_ok, lambda idx: [f"job {f['id'][i]}: completed_at {f['completed_at'][i]!r} is not an ISO 8601 time"
                               for i in idx]),
        (duration <= 0, lambda idx: [f"job {f['id'][i]} did not run ({duration[i]:g} s, conclusion "
                                     f"{f['conclusion'][i] or 'none'!r})" for i in idx]),
        *duration_reason(duration, "completed_at - started_at"),
    ])
    ok = reasons == ""
    bad = np.flatnonzero(~ok)
    problems += [RowProblem(names[jobs[i][0]], jobs[i][1], str(reasons[i])) for i in bad]
    attempt = pd.to_numeric(pd.Series(f["run_attempt"], dtype=object), errors="coerce").fillna(1).to_numpy()
    keep_frame = pd.DataFrame({"id": f["id"], "attempt": attempt})[ok]
    keep = np.sort(keep_frame.sort_values("attempt", ascending=False, kind="stable").drop_duplicates("id").index)
    if run_flags is not None:
        mapped = pd.Series(f["run_id"][keep]).map(run_flags)
        fallback = np.isin(f["head_branch"][keep], NAMED_DEFAULT_BRANCHES) | (f["head_branch"][keep] == "")
        default = np.where(mapped.notna().to_numpy(), mapped.fillna(False).to_numpy(dtype=bool), fallback)
    else:
        default = np.isin(f["head_branch"][keep], NAMED_DEFAULT_BRANCHES) | (f["head_branch"][keep] == "")
    runs_without = 0 if runs.empty else int((~runs["id"].isin(set(f["run_id"].tolist()))).sum())
    notes = [f"GitHub REST jobs: {keep.size:,} jobs; submitted = created_at (queued), duration = completed_at - "
             "started_at (runner time, no queue)"]
    if runs_without:
        notes.append(f"{runs_without:,} run(s) in the files have no jobs there and are not in the table "
                     "(fetch /actions/runs/{id}/jobs for them)")
    if problems:
        notes.append(f"{len(problems):,} run(s)/job(s) left out (skipped, unfinished or unreadable): see problems")
    columns = dict(
        submitted_s=submitted[keep], duration_s=duration[keep], repo=repo[keep], workflow=workflow[keep],
        ids=f["id"][keep], job_name=f["name"][keep], event=event[keep], default_branch=default,
        run_ids=np.array([f"{r}" for r in f["run_id"][keep]], dtype=object), source=source, notes=tuple(notes),
    )
    return sorted_result(columns, conclusion=f["conclusion"][keep], problems=problems, formats=formats)


# ====================================================================== fetching
@dataclass(frozen=True)
class FetchResult:
    """What :func:`fetch_runs` wrote: the file, how many pages and runs, and whether it got them all."""

    path: Path
    pages: int
    runs: int
    total_count: int | None
    complete: bool


def github_token_from_env(env: Mapping[str, str] | None = None) -> Secret | None:
    """The GitHub token from ``GREENCI_GITHUB_TOKEN``, else ``GITHUB_TOKEN``, as a Secret (or None)."""
    env = os.environ if env is None else env
    for name in TOKEN_ENV:
        value = env.get(name)
        if value:
            return Secret(value.strip())
    return None


class _RateLimited(Exception):
    """Raised by the response hook so a rate-limited request is never retried (GitHub asks not to)."""

    def __init__(self, status: int, reset: str | None, retry_after: str | None, secondary: bool) -> None:
        super().__init__(status)
        self.status, self.reset, self.retry_after, self.secondary = status, reset, retry_after, secondary


def _rate_limit_hook(response: httpx.Response) -> None:
    """403/429 with ``x-ratelimit-remaining: 0``, a Retry-After, or a rate-limit message is a limit."""
    if response.status_code not in (403, 429):
        return
    headers = response.headers
    remaining = headers.get("x-ratelimit-remaining")
    retry_after = headers.get("retry-after")
    if remaining != "0" and retry_after is None and response.status_code == 403:
        response.read()
        if "rate limit" not in response.text.lower():
            return  # a real permission problem: the session maps it to AuthenticationError
    raise _RateLimited(response.status_code, headers.get("x-ratelimit-reset"), retry_after, remaining != "0")


class _GitHubSession(HttpSession):
    """The shared HTTP layer plus GitHub's rate-limit rule (no retry into an exhausted limit)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._client.event_hooks = {"request": [], "response": [_rate_limit_hook]}


def fetch_runs(owner_repo: str, *, out: PathLike, token: str | Secret | None = None, since: object = None,
               max_pages: int = 10, per_page: int = 100, base_url: str = DEFAULT_GITHUB_API,
               transport: httpx.BaseTransport | None = None, timeout_s: float = 30.0, retries: int = 2,
               backoff_s: float = 1.0, sleep: Callable[[float], None] = time.sleep) -> FetchResult:
    """Page through ``GET /repos/{owner}/{repo}/actions/runs`` and save the pages as one JSON array.

    Pages are followed through the ``Link: <...>; rel="next"`` header, at most ``max_pages`` of
    ``per_page`` (<= 100) runs each; ``since`` adds ``created=>=<time>`` (GitHub then returns at most
    1,000 runs). The token comes from ``token`` or ``GREENCI_GITHUB_TOKEN`` / ``GITHUB_TOKEN``; it is sent
    as ``Authorization: Bearer`` and never appears in messages or logs. A rate limit (HTTP 403/429
    with ``x-ratelimit-remaining: 0``, or a secondary limit) stops at once with a SourceError naming
    the reset time; pages fetched before it are saved and the message says so. The file is what
    :func:`read_github_rest` reads.
    """
    if not _REPO_RE.match(owner_repo or ""):
        raise InputError(f"repository {owner_repo!r} is not owner/name, e.g. psf/requests")
    if max_pages < 1:
        raise InputError(f"max_pages {max_pages} must be at least 1", field="max_pages")
    if not 1 <= per_page <= 100:
        raise InputError(f"per_page {per_page} must be between 1 and 100 (GitHub's maximum)")
    secret = as_secret(token) if token is not None else github_token_from_env()
    if not secret:
        raise ConfigError("GitHub needs a token to list workflow runs: set GREENCI_GITHUB_TOKEN or GITHUB_TOKEN "
                          "(a token with read access to the repository's Actions)")
    first: dict[str, Any] = {"per_page": per_page, "page": 1}
    if since is not None:
        first["created"] = f">={iso(to_datetime64(since))}"
    params: dict[str, Any] | None = first
    session = _GitHubSession(
        base_url, label="github-api", timeout_s=timeout_s, retries=retries, backoff_s=backoff_s, sleep=sleep,
        transport=transport, secrets=[secret],
        headers={"Authorization": f"Bearer {secret.reveal()}", "X-GitHub-Api-Version": API_VERSION,
                 "Accept": "application/vnd.github+json"},
        auth_hint="the token in GREENCI_GITHUB_TOKEN or GITHUB_TOKEN (it needs read access to the Actions of "
                  f"{owner_repo})",
    )
    target = Path(out)
    pages: list[Any] = []
    url = f"/repos/{owner_repo}/actions/runs"
    complete = False
    try:
        while True:
            page_no = len(pages) + 1
            try:
                response = session.request("GET", url, params=params)
            except _RateLimited as rl:
                raise SourceError(_rate_limit_message(rl, session.host, owner_repo, page_no)) from None
            payload = _page_json(response, session, page_no)
            pages.append(payload)
            logger.info("github-api: page %d of %s runs (%d runs)", page_no, owner_repo,
                        len(payload["workflow_runs"]))
            nxt = response.links.get("next", {}).get("url")
            if not nxt:
                complete = True
                break
            if len(pages) >= max_pages:
                break
            if httpx.URL(nxt).netloc.decode() != session.host:
                raise SourceError(f"github-api: the next page link points at {httpx.URL(nxt).host}, not "
                                  f"{session.host}: refusing to send the token there")
            url, params = nxt, None
    except SourceError as exc:
        if pages:
            _write_pages(target, pages)
            raise type(exc)(f"{exc}; the {len(pages)} page(s) fetched before were saved to {target} "
                            "(incomplete)") from None
        raise
    finally:
        session.close()
    _write_pages(target, pages)
    total = pages[0].get("total_count") if isinstance(pages[0].get("total_count"), int) else None
    runs = sum(len(p["workflow_runs"]) for p in pages)
    if not complete:
        logger.warning("github-api: stopped after max_pages=%d pages (%d of %s runs of %s)", max_pages, runs,
                       total if total is not None else "?", owner_repo)
    return FetchResult(path=target, pages=len(pages), runs=runs, total_count=total, complete=complete)


def _page_json(response: httpx.Response, session: HttpSession, page_no: int) -> dict[str, Any]:
    try:
        payload = response.json()
    except ValueError:
        raise SourceError(f"github-api: page {page_no} from {session.host} is not JSON") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("workflow_runs"), list):
        keys = ", ".join(map(str, payload))[:120] if isinstance(payload, dict) else type(payload).__name__
        raise SourceError(f"github-api: page {page_no} has no 'workflow_runs' array (got {keys}): the base URL "
                          "may point at another service")
    return payload


def _rate_limit_message(rl: _RateLimited, host: str, repo: str, page_no: int) -> str:
    kind = "secondary rate limit" if rl.secondary else "rate limit"
    head = f"github-api: {kind} reached at {host} (HTTP {rl.status}) while fetching the runs of {repo} (page {page_no})"
    if rl.retry_after is not None:
        return f"{head}: retry after {rl.retry_after} s; requests before then only prolong the limit"
    if rl.reset is not None and rl.reset.strip().isdigit():
        reset = int(rl.reset)
        when = datetime.fromtimestamp(reset, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        minutes = max(0.0, (reset - time.time()) / 60.0)
        return (f"{head}: the limit resets at {when} (in {minutes:.0f} min); wait until then, or use a token with a "
                "higher limit (GREENCI_GITHUB_TOKEN)")
    return f"{head}: wait at least a minute before retrying, longer each time it repeats"


def _write_pages(path: Path, pages: list[Any]) -> None:
    """Write atomically, so an interrupted fetch never leaves half a JSON file behind."""
    with atomic_open(path) as fh:
        json.dump(pages, fh)


__all__ = ["API_VERSION", "DEFAULT_GITHUB_API", "TOKEN_ENV", "FetchResult", "fetch_runs", "github_token_from_env",
           "read_github_rest"]
