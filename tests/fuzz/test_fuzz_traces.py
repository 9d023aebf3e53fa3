"""Fuzz every CI trace format through :func:`greenci.traces.read_trace`, the entry point of simulate and schedule.

Good inputs are small literal samples modelled on the real files (GHAminer export, GitHub REST runs and
jobs pages, a plain CSV, a GAIA trace). Trace readers leave a bad row out and report it (file, row,
reason) instead of refusing the whole file, so a mutant that must be refused passes when it is either a
:class:`~greenci.errors.GreenciError` naming the file, or a result whose reported problems name the file
(counted as "reported"); a result with nothing reported is "silent". Besides ``corrupt.py``'s mutations,
this file adds the ones the trace readers promise: an absurd duration (a run of centuries, one that ends
before it starts), a page with no runs at all.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from corrupt import EXAMPLES, Mutant, Outcome, byte_mutants, csv_mutants, json_mutants, outcome_of, record
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from greenci.errors import GreenciError
from greenci.traces import TRACE_FORMATS, align_to_weeks, clean_implausible, detect_trace_format, read_trace

FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _lines(*lines: str) -> bytes:
    return ("\n".join(lines) + "\n").encode("utf-8")


GHA_HEADER = ("repo,id_build,workflow_id,issuer_name,branch,commit_sha,languages,status,workflow_event_trigger,"
              "conclusion,created_at,updated_at,build_duration,total_builds,gh_first_commit_created_at,"
              "build_language,dependencies_count,workflow_size,test_framework,workflow_name,fetch_duration")


def _gha(run_id: int, created: str, updated: str, duration: str, event: str = "push") -> str:
    return (f"facebook/react,{run_id},94341022,poteto,main,0a5fb67d,JavaScript,completed,{event},success,{created},"
            f"{updated},{duration},25,2025-10-29T19:05:04Z,,0,205.0,\"['jest']\",(DevTools) Regression Tests,0.24")


def _run(run_id: int, started: str, updated: str) -> dict[str, Any]:
    return {"id": run_id, "name": "CI", "head_branch": "main", "path": ".github/workflows/ci.yml", "event": "push",
            "status": "completed", "conclusion": "success", "workflow_id": 99, "created_at": started,
            "updated_at": updated, "run_attempt": 1, "run_started_at": started,
            "url": f"https://api.github.com/repos/o/r/actions/runs/{run_id}",
            "repository": {"full_name": "o/r", "default_branch": "main"}}


def _job(job_id: int, run_id: int, started: str, completed: str) -> dict[str, Any]:
    return {"id": job_id, "run_id": run_id, "run_url": f"https://api.github.com/repos/o/r/actions/runs/{run_id}",
            "run_attempt": 1, "status": "completed", "conclusion": "success", "created_at": started,
            "started_at": started, "completed_at": completed, "name": "test", "workflow_name": "CI",
            "head_branch": "main", "steps": []}


@dataclass(frozen=True)
class Sample:
    name: str  # the file name
    data: bytes
    fmt: str  # the registry's format
    required: tuple[str, ...] = ()  # CSV columns whose loss must be refused
    values: tuple[str, ...] = ()  # CSV numeric columns the reader checks
    times: Callable[[Any], list[tuple[dict, str, str]]] | None = None  # JSON: (object, key, absurd value)


RUNS = [_run(1, "2024-03-01T10:00:00Z", "2024-03-01T10:05:00Z"),
        _run(2, "2024-03-01T11:00:00Z", "2024-03-01T11:02:30Z"),
        _run(3, "2024-03-02T09:00:00Z", "2024-03-02T09:10:00Z")]
JOBS = [_job(11, 1, "2024-03-01T10:00:10Z", "2024-03-01T10:03:00Z"),
        _job(12, 1, "2024-03-01T10:00:20Z", "2024-03-01T10:04:00Z"),
        _job(21, 2, "2024-03-01T11:00:05Z", "2024-03-01T11:02:00Z")]
def _build(k: int, pipeline: str, start: str, end: str) -> dict[str, Any]:
    """A build as Zuul's GET /api/tenant/{tenant}/builds answers it."""
    return {"uuid": f"{k:032x}", "job_name": f"tox-py3{k}", "result": "SUCCESS", "held": False, "start_time": start,
            "end_time": end, "duration": None, "voting": True, "log_url": f"https://logs.example.org/{k}/",
            "nodeset": "ubuntu-jammy", "error_detail": None, "final": True, "artifacts": [], "provides": [],
            "project": "openstack/nova", "branch": "master", "pipeline": pipeline, "change": 900000 + k,
            "patchset": "1", "ref": f"refs/changes/00/{900000 + k}/1", "newrev": None,
            "ref_url": f"https://review.example.org/{900000 + k}", "event_id": f"e{k}", "buildset": {"uuid": f"b{k}"}}


BUILDS = [_build(1, "check", "2024-05-02T10:00:00", "2024-05-02T10:25:00"),
          _build(2, "gate", "2024-05-02T11:00:00", "2024-05-02T11:40:00"),
          _build(3, "periodic", "2024-05-03T02:00:00", "2024-05-03T03:10:00")]
SAMPLES: dict[str, Sample] = {
    "reader ghaminer csv": Sample(
        "builds_features_6172e1a.csv",
        _lines(GHA_HEADER,
               _gha(18925710722, "2025-10-30 00:13:10", "2025-10-30T00:20:14Z", "424.0", "schedule"),
               _gha(18892902067, "2025-10-29 00:13:05", "2025-10-29T00:20:09Z", "424.0", "schedule"),
               _gha(18859774978, "2025-10-28T00:12:12Z", "2025-10-28T00:23:00Z", "648.0"),
               _gha(18825832718, "2025-10-27 00:13:29", "2025-10-27T00:20:33Z", "424.0", "pull_request")),
        "ghaminer",
        required=("repo", "id_build", "workflow_event_trigger", "branch", "created_at", "updated_at",
                  "build_duration"),
        values=("build_duration",)),
    "reader github rest runs json": Sample(
        "runs.json", json.dumps({"total_count": 3, "workflow_runs": RUNS}).encode(), "github_rest",
        times=lambda d: [(r, "updated_at", "2299-01-01T00:00:00Z") for r in d["workflow_runs"]]
        + [(r, "run_started_at", "1700-01-01T00:00:00Z") for r in d["workflow_runs"]]
        + [(r, "updated_at", "2000-01-01T00:00:00Z") for r in d["workflow_runs"]]),
    "reader github rest jobs json": Sample(
        "jobs.json", json.dumps({"total_count": 3, "jobs": JOBS}).encode(), "github_rest",
        times=lambda d: [(j, "completed_at", "2299-01-01T00:00:00Z") for j in d["jobs"]]
        + [(j, "completed_at", "2000-01-01T00:00:00Z") for j in d["jobs"]]),
    "reader zuul builds json": Sample(
        "builds.json", json.dumps({"builds": BUILDS}).encode(), "zuul",
        times=lambda d: [(b, "end_time", "2299-01-01T00:00:00") for b in d["builds"]]
        + [(b, "end_time", "2000-01-01T00:00:00") for b in d["builds"]]),
    "reader plain csv": Sample(
        "jobs.csv",
        _lines("repo,workflow,job,event,started_at,completed_at,conclusion,duration_estimate_s,power_kw",
               "o/r,CI,test,push,2024-03-01T10:00:00Z,2024-03-01T10:10:00Z,success,900,0.2",
               "o/r,CI,lint,pull_request,2024-03-01 09:00:00,2024-03-01 09:01:00,failure,60,0.1",
               "o/r,Nightly,build,schedule,2024-03-02T02:00:00Z,2024-03-02T03:00:00Z,success,3600,1.5"),
        "plain_csv",
        required=("repo", "workflow", "job", "event", "started_at", "completed_at", "conclusion"),
        values=("duration_estimate_s", "power_kw")),
    "reader gaia csv": Sample(
        "azure-100k.csv",
        _lines("arrival_time,length,cpus", "0.0,0.75,4", "0.0,19.083333333333332,4", "0.5,1.25,8", "2.25,0.1,1"),
        "gaia", required=("arrival_time", "length", "cpus"), values=("arrival_time", "length", "cpus")),
}


def test_every_trace_format_has_a_sample(tmp_path: Path) -> None:
    assert {f.name for f in TRACE_FORMATS} == {s.fmt for s in SAMPLES.values()}
    for sample in SAMPLES.values():  # each good sample is of its format, and reads without a problem
        path = tmp_path / sample.name
        path.write_bytes(sample.data)
        assert detect_trace_format(path) == sample.fmt
        got = read_trace(path)
        assert len(got.jobs) >= 3 and got.problems == [], got.problems


def _check(name: str, path: Path, mutant: Mutant) -> None:
    """The invariant, with "reported" for a must-refuse mutant whose bad rows were left out and named."""
    result: list[Any] = []

    def read() -> None:  # as simulate does: read, cap implausible runtimes, move onto the intensity years
        result.append(read_trace(path))
        jobs, _ = clean_implausible(result[0].jobs, policy="cap")
        align_to_weeks(jobs, "2022-01-03T00:00:00Z")

    got = outcome_of(read, mutant, names=(str(path),))
    if got.kind == "silent":
        problems = result[0].problems
        if problems and all(str(path) in str(p) for p in problems):
            got = Outcome("reported", f"{mutant.label}: left out and reported: {problems[0]}")
    record(name, got)
    assert got.kind in ("accepted", "clear-error", "reported"), got.detail


def _run_sample(name: str, tmp_path: Path, mutant: Mutant) -> None:
    path = tmp_path / SAMPLES[name].name
    path.write_bytes(mutant.data)
    _check(name, path, mutant)


@st.composite
def absurd_mutants(draw: st.DrawFn, sample: Sample) -> Mutant:
    """A run or job of centuries, or one that ends before it starts; or a page that holds no run at all."""
    if sample.times is None:  # CSV: an absurd number in a checked column
        text = sample.data.decode("utf-8").rstrip("\n").split("\n")
        header = text[0].split(",")
        col = header.index(draw(st.sampled_from(sample.values)))
        row = draw(st.integers(1, len(text) - 1))
        value = draw(st.sampled_from(["1e12", "99999999999", "-5", "1e308", "inf"]))
        cells = text[row].split(",")
        cells[col] = value
        text[row] = ",".join(cells)
        return Mutant(f"row {row + 1} {header[col]!r} = {value}", ("\n".join(text) + "\n").encode(), True)
    doc = json.loads(sample.data)
    if draw(st.integers(0, 4)) == 0:
        key = next(k for k in ("workflow_runs", "jobs", "builds") if k in doc)
        doc[key] = []
        return Mutant(f"{key} is empty", json.dumps(doc).encode(), True)
    spots = sample.times(doc)
    k = draw(st.integers(0, len(spots) - 1))
    obj, key, value = spots[k]
    obj[key] = value
    return Mutant(f"{key} of item {obj.get('id', obj.get('uuid'))} = {value}", json.dumps(doc).encode(), True)


@pytest.mark.parametrize("name", list(SAMPLES))
@FUZZ
@given(data=st.data())
def test_trace_readers_on_broken_bytes(name: str, tmp_path: Path, data: st.DataObject) -> None:
    _run_sample(name, tmp_path, data.draw(byte_mutants(SAMPLES[name].data)))


@pytest.mark.parametrize("name", list(SAMPLES))
@FUZZ
@given(data=st.data())
def test_trace_readers_on_broken_structure(name: str, tmp_path: Path, data: st.DataObject) -> None:
    sample = SAMPLES[name]
    if sample.times is None:
        mutant = data.draw(csv_mutants(sample.data, required=sample.required, value_columns=sample.values))
    else:
        mutant = data.draw(json_mutants(sample.data))
    _run_sample(name, tmp_path, mutant)


@pytest.mark.parametrize("name", list(SAMPLES))
@FUZZ
@given(data=st.data())
def test_trace_readers_on_absurd_runs(name: str, tmp_path: Path, data: st.DataObject) -> None:
    _run_sample(name, tmp_path, data.draw(absurd_mutants(SAMPLES[name])))


def test_no_usable_run_is_an_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "runs.json"
    path.write_text('{"workflow_runs": []}')
    with pytest.raises(GreenciError, match="runs.json: holds no run or job at all"):
        read_trace(path)
