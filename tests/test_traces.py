"""Trace importers (GHAminer, GitHub REST, plain CSV, GAIA), cleaning and week alignment.

Small traces are written in each test (tmp_path); the fetch client talks to a real HTTP server on
127.0.0.1 that speaks the documented GitHub shapes (Link pagination, rate-limit headers). Real-data
tests read ../shared/data and skip with a reason when it is absent.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest
from loopback import loopback_server

from greenci.errors import AuthenticationError, ConfigError, DataFormatError, InputError, SourceError
from greenci.jobs import JobTable
from greenci.traces import (
    WEEK_S,
    RowProblem,
    align_into,
    align_to_weeks,
    clean_implausible,
    default_branch_mask,
    detect_trace_format,
    fetch_runs,
    find_implausible,
    github_token_from_env,
    read_gaia,
    read_ghaminer,
    read_github_rest,
    read_plain_csv,
    read_trace,
    shift_weeks,
)
from greenci.traces.cleaning import leave_one_out_quantile

GHA_HEADER = ("repo,id_build,workflow_id,issuer_name,branch,commit_sha,languages,status,workflow_event_trigger,"
              "conclusion,created_at,updated_at,build_duration,total_builds,gh_first_commit_created_at,"
              "build_language,dependencies_count,workflow_size,test_framework,workflow_name,fetch_duration")
TOKEN = "ghp_SECRET_token_0123456789abcdef"


def _epoch(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).replace(tzinfo=UTC).timestamp())


def _gha_row(repo: str, run_id: int, created: str, updated: str, duration: float | str, *, event: str = "push",
             branch: str = "main", status: str = "completed", conclusion: str = "success",
             workflow: str = "CI", workflow_id: int = 7) -> str:
    return (f"{repo},{run_id},{workflow_id},someone,{branch},abc123,Python,{status},{event},{conclusion},{created},"
            f"{updated},{duration},1,{created},,0,10.0,\"['pytest', 'pytest']\",{workflow},0.25")


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# ====================================================================== GHAminer
def test_ghaminer_files_are_merged_and_deduplicated(tmp_path: Path) -> None:
    a = _write(tmp_path / "builds_features_a.csv", [
        GHA_HEADER,
        _gha_row("o/r", 1, "2024-10-14 00:11:22", "2025-11-18T00:19:37Z", 34560495.0, event="schedule"),
        _gha_row("o/r", 2, "2024-10-15 09:00:00", "2024-10-15T09:02:00Z", 120.0),
        _gha_row("o/x", 1, "2024-10-15 10:00:00", "2024-10-15T10:01:00Z", 60.0, event="pull_request",
                 branch="feat"),
    ])
    b = _write(tmp_path / "builds_features_b.csv", [
        GHA_HEADER,
        _gha_row("o/r", 1, "2024-10-14T00:11:22Z", "2024-10-14T00:16:09Z", 287.0, event="schedule"),
        _gha_row("o/r", 2, "2024-10-15T09:00:00Z", "2024-10-15T09:02:00Z", 120.0),
        _gha_row("o/r", 3, "2024-10-16T09:00:00Z", "2024-10-16T09:05:00Z", 300.0, workflow=""),
    ])
    res = read_ghaminer([a, b])
    jobs = res.jobs
    # (o/r, 1) and (o/r, 2) are in both files; id 1 of o/x is another run (other repo)
    assert len(jobs) == 4 and res.problems == []
    assert sorted(zip(jobs.repo, jobs.ids, strict=True)) == [("o/r", "1"), ("o/r", "2"), ("o/r", "3"), ("o/x", "1")]
    one = int(np.flatnonzero((jobs.repo == "o/r") & (jobs.ids == "1"))[0])
    assert jobs.duration_s[one] == 287.0  # the copy with the earliest updated_at, not the 400-day one
    assert jobs.submitted_s[one] == _epoch("2024-10-14T00:11:22Z")
    assert jobs.workflow[jobs.ids == "3"][0] == "7"  # empty workflow_name -> workflow_id
    assert jobs.job_name.tolist() == [""] * 4
    assert res.conclusion.tolist() == ["success"] * 4
    assert np.all(np.diff(jobs.submitted_s) >= 0)
    assert "4 distinct runs" in jobs.notes[0] and "2 rows repeated" in jobs.notes[0]
    assert "1 runs differ between copies" in jobs.notes[0]
    assert any("queue time, re-runs and late updates" in n for n in jobs.notes)
    assert res.formats == {str(a): "ghaminer", str(b): "ghaminer"}


def test_ghaminer_created_at_with_and_without_z_is_utc(tmp_path: Path) -> None:
    f = _write(tmp_path / "g.csv", [
        GHA_HEADER,
        _gha_row("o/r", 10, "2024-03-01 10:00:00", "2024-03-01T10:01:00Z", 60.0),
        _gha_row("o/r", 11, "2024-03-01T10:00:00Z", "2024-03-01T10:01:00Z", 60.0),
        _gha_row("o/r", 12, "2024-03-01T12:00:00+02:00", "2024-03-01T10:01:00Z", 60.0),
    ])
    jobs = read_trace(f).jobs
    assert jobs.submitted_s.tolist() == [_epoch("2024-03-01T10:00:00Z")] * 3


def test_ghaminer_unreadable_rows_are_reported_with_row_numbers(tmp_path: Path) -> None:
    f = _write(tmp_path / "g.csv", [
        GHA_HEADER,
        _gha_row("o/r", 1, "2024-03-01 10:00:00", "2024-03-01T10:01:00Z", 60.0),
        _gha_row("o/r", 2, "yesterday", "2024-03-01T10:01:00Z", 60.0),              # row 3
        _gha_row("o/r", 3, "2024-03-01 10:00:00", "2024-03-01T10:00:00Z", 0.0,      # row 4
                 conclusion="action_required"),
        _gha_row("o/r", 4, "2024-03-01 10:00:00", "2024-03-01T10:00:30Z", 30.0,     # row 5
                 status="in_progress", conclusion=""),
        _gha_row("o/r", "x5", "2024-03-01 10:00:00", "2024-03-01T10:01:00Z", 60.0),  # type: ignore[arg-type]
        _gha_row("o/r", 6, "2024-03-01 10:00:00", "2024-03-01T10:03:00Z", ""),       # computed: 180 s
    ])
    res = read_ghaminer(f)
    assert res.jobs.ids.tolist() == ["1", "6"]
    assert res.jobs.duration_s.tolist() == [60.0, 180.0]
    by_row = {p.row: p.reason for p in res.problems}
    assert set(by_row) == {3, 4, 5, 6}
    assert "created_at 'yesterday' is not an ISO 8601 time" in by_row[3]
    assert "0 s" in by_row[4] and "action_required" in by_row[4]
    assert "in_progress" in by_row[5]
    assert "'x5' is not a run id" in by_row[6]
    assert all(p.path == str(f) for p in res.problems)
    assert str(res.problems[0]).startswith(f"{f} row 3: ")
    assert "4 row(s) left out" in res.jobs.notes[-1]


def test_ghaminer_readable_copy_wins_over_unreadable_copy(tmp_path: Path) -> None:
    a = _write(tmp_path / "a.csv", [GHA_HEADER, _gha_row("o/r", 1, "2024-03-01 10:00:00", "2024-03-01T10:00:00Z", 0.0)])
    b = _write(tmp_path / "b.csv", [GHA_HEADER, _gha_row("o/r", 1, "2024-03-01 10:00:00", "2024-03-01T11:00:00Z",
                                                         3600.0)])
    res = read_ghaminer([a, b])
    assert len(res.jobs) == 1 and res.jobs.duration_s[0] == 3600.0 and res.problems == []


def test_ghaminer_file_without_needed_columns_raises(tmp_path: Path) -> None:
    f = _write(tmp_path / "g.csv", ["repo,id_build,created_at,updated_at", "o/r,1,2024-01-01,2024-01-01"])
    with pytest.raises(DataFormatError, match="build_duration|workflow_event_trigger") as info:
        read_ghaminer(f)
    assert str(f) in str(info.value)


def test_default_branch_rule() -> None:
    repo = np.array(["a", "a", "a", "a", "b", "b", "b", "c"], dtype=object)
    branch = np.array(["main", "dev", "dev", "feat", "trunk", "trunk", "x", "release"], dtype=object)
    event = np.array(["push", "push", "push", "pull_request", "schedule", "push", "push", "pull_request"],
                     dtype=object)
    got = default_branch_mask(repo, branch, event)
    # a: main always; dev is the most common push branch; b: the scheduled-run branch; c: nothing known
    assert got.tolist() == [True, True, True, False, True, True, False, False]


# ====================================================================== plain CSV, GAIA, detection
def test_plain_csv_reads_required_and_optional_columns(tmp_path: Path) -> None:
    f = _write(tmp_path / "jobs.csv", [
        "repo,workflow,job,event,started_at,completed_at,conclusion,duration_estimate_s,deadline,allowed_regions,"
        "carbon_aware,extra",
        "o/r,CI,test,push,2024-03-01T10:00:00Z,2024-03-01T10:10:00Z,success,900,2024-03-01T18:00:00Z,DE;FR,false,x",
        "o/r,CI,lint,pull_request,2024-03-01 09:00:00,2024-03-01 09:01:00,failure,,,,,y",
        "o/r,CI,bad,push,2024-03-01T10:00:00Z,2024-03-01T09:00:00Z,success,,,,,",
        "o/r,CI,bad2,push,2024-03-01T10:00:00Z,2024-03-01T10:01:00Z,success,-5,,,,",
        "o/r,CI,bad3,push,2024-03-01T10:00:00Z,2024-03-01T10:01:00Z,success,,,,maybe,",
    ])
    assert detect_trace_format(f) == "plain_csv"
    res = read_trace(f)
    jobs = res.jobs
    assert jobs.job_name.tolist() == ["lint", "test"]  # arrival order
    assert jobs.duration_s.tolist() == [60.0, 600.0]
    assert np.isnan(jobs.user_estimate_s[0]) and jobs.user_estimate_s[1] == 900.0
    assert np.isnan(jobs.deadline_s[0]) and jobs.deadline_s[1] == _epoch("2024-03-01T18:00:00Z")
    assert jobs.allowed_regions == (None, ("DE", "FR"))
    assert jobs.carbon_aware.tolist() == [True, False]
    assert res.conclusion.tolist() == ["failure", "success"]
    assert jobs.ids.tolist() == ["jobs.csv:3", "jobs.csv:2"]
    reasons = {p.row: p.reason for p in res.problems}
    assert set(reasons) == {4, 5, 6}
    assert "not after started_at" in reasons[4]
    assert "duration_estimate_s '-5'" in reasons[5]
    assert "carbon_aware" in reasons[6]


def test_plain_csv_missing_column_raises(tmp_path: Path) -> None:
    f = _write(tmp_path / "jobs.csv", ["repo,workflow,job,event,started_at,completed_at", "o/r,CI,t,push,a,b"])
    with pytest.raises(DataFormatError, match="conclusion"):
        read_plain_csv(f)


def test_gaia_trace_is_placed_at_start_with_power_per_cpu(tmp_path: Path) -> None:
    f = _write(tmp_path / "tiny-100k.csv", ["arrival_time,length,cpus", "0.0,0.5,4", "1.5,2.0,1", "2.0,-1,2",
                                            "3.0,1.0,"])
    res = read_gaia(f, start="2022-03-07T00:00:00Z")
    jobs = res.jobs
    t0 = _epoch("2022-03-07T00:00:00Z")
    assert jobs.submitted_s.tolist() == [t0, t0 + 5400]
    assert jobs.duration_s.tolist() == [1800.0, 7200.0]
    assert jobs.power_kw.tolist() == [0.04, 0.01]  # 10 W per CPU
    assert set(jobs.repo) == {"tiny"} and set(jobs.workflow) == {"batch"} and set(jobs.event) == {"batch"}
    assert jobs.ids.tolist() == ["tiny:0", "tiny:1"]
    assert [(p.row, p.reason.split(" ")[0]) for p in res.problems] == [(4, "length"), (5, "cpus")]
    assert "2022-03-07T00:00:00Z" in jobs.notes[0] and "10 W per CPU" in jobs.notes[0]
    assert read_gaia(f, w_per_cpu=25).jobs.power_kw[0] == 0.1


def test_unknown_trace_format_names_the_supported_ones(tmp_path: Path) -> None:
    f = _write(tmp_path / "x.csv", ["a,b,c", "1,2,3"])
    with pytest.raises(DataFormatError, match="ghaminer .*gaia"):
        read_trace(f)
    with pytest.raises(InputError, match="unknown"):
        read_trace(f, fmt="yaml")
    with pytest.raises(InputError, match="no such file"):
        read_trace(tmp_path / "missing.csv")


def test_read_trace_merges_a_directory_of_mixed_formats(tmp_path: Path) -> None:
    _write(tmp_path / "g.csv", [GHA_HEADER, _gha_row("o/r", 1, "2024-03-01 10:00:00", "2024-03-01T10:01:00Z", 60.0)])
    _write(tmp_path / "p.csv", ["repo,workflow,job,event,started_at,completed_at,conclusion",
                                "o/p,CI,t,push,2024-03-01T09:00:00Z,2024-03-01T09:02:00Z,success"])
    (tmp_path / "runs.json").write_text(json.dumps(_runs_page([_run(5, "2024-03-01T11:00:00Z", 90)])))
    (tmp_path / "LICENSE.txt").write_text("not a trace")
    res = read_trace(tmp_path)
    assert res.jobs.repo.tolist() == ["o/p", "o/r", "o/r"]
    assert sorted(res.formats.values()) == ["ghaminer", "github_rest", "plain_csv"]
    assert res.conclusion.tolist() == ["success", "success", "success"]
    assert "ghaminer:" in res.jobs.source and "plain_csv:" in res.jobs.source
    assert "3 jobs from 3 file(s)" in res.summary()


# ====================================================================== nothing usable, absurd rows, garbage
def test_a_trace_whose_every_row_is_bad_is_refused_with_counts_and_reasons(tmp_path: Path) -> None:
    f = _write(tmp_path / "g.csv", [
        GHA_HEADER,
        _gha_row("o/r", 1, "2024-03-01 10:00:00", "2024-03-01T10:00:00Z", 0.0, conclusion="action_required"),
        _gha_row("o/r", 2, "yesterday", "2024-03-01T10:01:00Z", 60.0),
        _gha_row("o/r", 3, "2024-03-01 10:00:00", "2024-03-01T10:00:30Z", 30.0, status="queued", conclusion=""),
        _gha_row("o/r", 4, "2024-03-01 10:00:00", "2024-03-01T10:00:30Z", "nan"),
    ])
    with pytest.raises(DataFormatError) as err:
        read_trace(f)
    msg = str(err.value)
    assert msg.startswith(f"{f}: no usable run or job: all 4 row(s) were left out, e.g. {f} row 2: ")
    assert "row 3: created_at 'yesterday'" in msg and "(and 1 more)" in msg


def test_ghaminer_durations_that_cannot_be_runs_are_left_out_and_reported(tmp_path: Path) -> None:
    f = _write(tmp_path / "g.csv", [
        GHA_HEADER,
        _gha_row("o/r", 1, "2024-03-01 10:00:00", "2024-03-01T10:01:00Z", 60.0),                   # row 2: fine
        _gha_row("o/r", 2, "2024-03-01 10:00:00", "2024-03-01T10:01:00Z", "nan"),                   # a word
        _gha_row("o/r", 3, "2024-03-01 10:00:00", "2024-03-01T10:01:00Z", "inf"),
        _gha_row("o/r", 4, "2024-03-01 10:00:00", "2024-03-01T10:01:00Z", "1e308"),
        _gha_row("o/r", 5, "2024-03-01 10:00:00", "2024-03-01T09:01:00Z", 60.0),                   # ends first
        _gha_row("o/r", 6, "2024-03-01 10:00:00", "2024-03-01T10:01:00Z", -60.0),
        _gha_row("o/r", 7, "2020-03-01 10:00:00", "2024-03-01T10:00:00Z", ""),                      # 4 years
        _gha_row("o/r", 8, "2024-03-01 10:00:00", "2025-04-05T10:00:00Z", 34560000.0),              # 400 d: kept
    ])
    res = read_ghaminer(f)
    assert res.jobs.ids.tolist() == ["1", "8"]  # the 400-day run is for the implausible-runtime rule to handle
    by_row = {p.row: p.reason for p in res.problems}
    assert "build_duration 'nan' is not a number of seconds" in by_row[3]
    assert "inf s is not a finite number" in by_row[4]
    assert "is absurd: no run lasts over 2 years" in by_row[5]
    assert "is before created_at" in by_row[6]
    assert "is negative" in by_row[7]
    assert "is absurd" in by_row[8]


def test_rows_cut_short_are_left_out_and_rows_keep_their_file_lines(tmp_path: Path) -> None:
    good = _gha_row("o/r", 1, "2024-03-01 10:00:00", "2024-03-01T10:01:00Z", 60.0)
    cut = ",".join(_gha_row("o/r", 2, "2024-03-01 10:00:00", "2024-03-01T10:01:00Z", 60.0).split(",")[:13])
    f = _write(tmp_path / "g.csv", [GHA_HEADER, good, "", cut])
    res = read_ghaminer(f)
    assert res.jobs.ids.tolist() == ["1"]
    [problem] = res.problems
    assert problem.row == 4 and "the row has 13 of the header's 21 cells: it is cut short" in problem.reason
    p = _write(tmp_path / "jobs.csv", ["repo,workflow,job,event,started_at,completed_at,conclusion",
                                       "o/p,CI,t,push,2024-03-01T09:00:00Z,2024-03-01T09:02:00Z,success", "",
                                       "o/p,CI,t,push,2024-03-01T09:00:00Z,2024-03-01T09:02:00Z"])
    [problem] = read_plain_csv(p).problems
    assert problem.row == 4 and "6 of the header's 7 cells" in problem.reason


def test_plain_csv_and_gaia_refuse_absurd_numbers(tmp_path: Path) -> None:
    p = _write(tmp_path / "jobs.csv", [
        "repo,workflow,job,event,started_at,completed_at,conclusion,duration_estimate_s,power_kw",
        "o/p,CI,a,push,2024-03-01T09:00:00Z,2024-03-01T09:02:00Z,success,1e308,",
        "o/p,CI,b,push,2024-03-01T09:00:00Z,2024-03-01T09:02:00Z,success,,1e308",
        "o/p,CI,c,push,1990-03-01T09:00:00Z,2024-03-01T09:02:00Z,success,,",
        "o/p,CI,d,push,2024-03-01T09:00:00Z,2024-03-01T09:02:00Z,success,120,2",
    ])
    res = read_plain_csv(p)
    assert res.jobs.job_name.tolist() == ["d"]
    reasons = {x.row: x.reason for x in res.problems}
    assert "duration_estimate_s '1e308'" in reasons[2] and "power_kw '1e308'" in reasons[3]
    assert "is absurd" in reasons[4]
    g = _write(tmp_path / "t.csv", ["arrival_time,length,cpus", "1e308,1,1", "0,1e308,1", "0,1,1e308", "inf,1,1",
                                    "1,1,1"])
    res = read_gaia(g)
    assert len(res.jobs) == 1 and [x.row for x in res.problems] == [2, 3, 4, 5]


@pytest.mark.parametrize(("data", "message"), [
    (b"repo,id_build\n\x00\x01\x02binary", "holds NUL bytes: it is a binary file"),
    ("repo,workflow\n".encode("utf-16"), "is UTF-16 text"),
    (b"\xff\xfe\xfa garbage", "is UTF-16 text"),
    (b"\xc3\x28 not utf-8 at all", "is not UTF-8 text"),
    (b"abc" * 30000, "hold no line break"),
    (b"", "is empty"),
])
def test_garbage_is_refused_before_parsing_naming_the_file_and_the_formats(tmp_path: Path, data: bytes,
                                                                          message: str) -> None:
    f = tmp_path / "runs.csv"
    f.write_bytes(data)
    for fmt in (None, "ghaminer", "github_rest"):
        with pytest.raises(DataFormatError, match=message) as err:
            read_trace(f, fmt=fmt)
        assert str(f) in str(err.value)
        if message != "is empty":
            assert "ghaminer" in str(err.value) and "gaia" in str(err.value)


def test_github_runs_with_absurd_times_are_left_out(tmp_path: Path) -> None:
    runs = [_run(1, "2024-03-01T10:00:00Z", 60), _run(2, "2024-03-01T10:00:00Z", 60)]
    runs[1]["updated_at"] = "2199-01-01T00:00:00Z"
    f = tmp_path / "runs.json"
    f.write_text(json.dumps(_runs_page(runs)))
    res = read_trace(f)
    assert res.jobs.ids.tolist() == ["1"]
    [problem] = res.problems
    assert problem.row == 2 and "is absurd" in problem.reason


# ====================================================================== cleaning
def _table(durations: list[float], workflows: list[str] | None = None) -> JobTable:
    n = len(durations)
    return JobTable.build(submitted_s=np.arange(n) * 600 + _epoch("2024-09-30T08:00:00Z"), duration_s=durations,
                          repo=["o/r"] * n, workflow=workflows or ["CI"] * n, ids=[f"r{i}" for i in range(n)])


def test_leave_one_out_quantile_matches_brute_force() -> None:
    rng = np.random.default_rng(7)
    keys = rng.integers(0, 6, size=300)
    values = rng.lognormal(5, 1, size=300)
    got, others = leave_one_out_quantile(keys, values, 0.95)
    for i in range(values.size):
        rest = values[(keys == keys[i]) & (np.arange(values.size) != i)]
        assert others[i] == rest.size
        assert got[i] == pytest.approx(np.quantile(rest, 0.95), rel=1e-12)
    q, m = leave_one_out_quantile(np.array([1, 2, 2]), np.array([5.0, 1.0, 3.0]), 0.5)
    assert np.isnan(q[0]) and m.tolist() == [0, 1, 1] and q[1:].tolist() == [3.0, 1.0]


def test_implausible_runs_are_found_capped_and_excluded() -> None:
    normal = [300.0 + i for i in range(40)]  # P95 ~ 340 s, so the relative bound is the 1 h floor
    durations = [*normal, 30 * 86400.0, 7200.0, 3000.0]  # a month (job limit), 2 h (> 1 h), plausible
    jobs = _table(durations)
    found = find_implausible(jobs)
    assert sorted(found.ids.tolist()) == ["r40", "r41"]
    assert found.over_job_limit.tolist() == [True, False] or found.over_job_limit.tolist() == [False, True]
    rows = found.rows()
    assert rows[0]["id"] == "r40" and "over the 6 h job limit" in str(rows[0]["reason"])
    assert rows[1]["id"] == "r41" and "relative limit" in str(rows[1]["reason"])
    assert found.by_repo() == {"o/r": 2}
    assert "2 implausible runs" in found.summary()

    capped, _ = clean_implausible(jobs, policy="cap")
    assert len(capped) == len(jobs)
    i40, i41 = (int(np.flatnonzero(capped.ids == k)[0]) for k in ("r40", "r41"))
    assert capped.duration_s[i40] == pytest.approx(found.limit_s[found.ids == "r40"][0])
    assert capped.duration_s[i40] <= 6 * 3600 and capped.duration_s[i41] == pytest.approx(3600.0)
    assert "2 implausible runs (1 over the 6 h job limit, 1 over 10 x P95" in capped.notes[-1]
    at_limit, _ = clean_implausible(jobs, policy="cap", cap_s=6 * 3600)
    assert at_limit.duration_s[i40] == 6 * 3600 and at_limit.duration_s[i41] == 7200.0
    assert at_limit.notes[-1].endswith("capped at 6 h")

    dropped, _ = clean_implausible(jobs, policy="exclude")
    assert len(dropped) == len(jobs) - 2 and "r40" not in dropped.ids and "r41" not in dropped.ids
    assert dropped.notes[-1].startswith("2 implausible runs") and "excluded" in dropped.notes[-1]
    with pytest.raises(InputError, match="policy"):
        clean_implausible(jobs, policy="drop")


def test_short_histories_only_face_the_job_limit() -> None:
    jobs = _table([60.0, 60.0, 5 * 3600.0, 7 * 3600.0])  # 3 other runs < min_history 5
    found = find_implausible(jobs)
    assert found.ids.tolist() == ["r3"]
    clean, _ = clean_implausible(_table([60.0, 70.0]), policy="exclude")
    assert len(clean) == 2 and clean.notes[-1].startswith("no implausible runs")


# ====================================================================== week alignment
def _weekday_and_second(ts: np.ndarray) -> list[tuple[int, int]]:
    return [(int((t // 86400 + 3) % 7), int(t % 86400)) for t in ts]


def test_align_to_weeks_keeps_weekday_and_time_of_day() -> None:
    jobs = _table([60.0] * 5)  # starts Monday 2024-09-30 08:00 UTC
    jobs = JobTable.build(submitted_s=jobs.submitted_s, duration_s=jobs.duration_s, repo=jobs.repo,
                          workflow=jobs.workflow, deadline_s=jobs.submitted_s + 3600.0)
    shifted, shift = align_to_weeks(jobs, "2022-01-01T00:00:00Z")
    assert shift % WEEK_S == 0 and shift < 0
    first = shifted.submitted_s[0]
    assert _epoch("2022-01-01T00:00:00Z") <= first < _epoch("2022-01-01T00:00:00Z") + WEEK_S
    assert datetime.fromtimestamp(int(first), UTC) == datetime(2022, 1, 3, 8, 0, tzinfo=UTC)  # a Monday, 08:00
    assert _weekday_and_second(shifted.submitted_s) == _weekday_and_second(jobs.submitted_s)
    np.testing.assert_array_equal(shifted.deadline_s - shifted.submitted_s, jobs.deadline_s - jobs.submitted_s)
    weeks = shift // WEEK_S
    assert shifted.notes[-1] == (f"trace shifted by {weeks} weeks ({shift:,} s) to align with the intensity data; "
                                 "weekday and time of day (UTC) kept")
    assert shift_weeks(jobs, 0).notes[-1].startswith("trace not shifted")


def test_align_into_picks_the_smallest_whole_week_shift_that_fits() -> None:
    jobs = _table([60.0] * 3)  # 2024-09-30 08:00 .. 08:21
    t, s = align_into(jobs, "2024-01-01T00:00:00Z", "2025-01-01T00:00:00Z")
    assert s == 0 and t.notes[-1].startswith("trace not shifted")
    t, s = align_into(jobs, "2022-01-01T00:00:00Z", "2024-01-01T00:00:00Z")
    last_monday = _epoch("2023-12-25T08:00:00Z")  # the latest week that still holds the whole trace
    assert t.submitted_s[0] == last_monday and s == last_monday - jobs.submitted_s[0]
    assert s == -40 * WEEK_S and "-40 weeks (-24,192,000 s)" in t.notes[-1]
    # a span ending inside the trace: the jobs past its end are noted, or dropped on request
    end = "2022-01-03T08:15:00Z"
    t, s = align_into(jobs, "2022-01-01T00:00:00Z", end)
    assert _weekday_and_second(t.submitted_s) == _weekday_and_second(jobs.submitted_s)
    assert "1 of 3 jobs run past the end" in t.notes[-1]
    t2, _ = align_into(jobs, "2022-01-01T00:00:00Z", end, drop_outside=True)
    assert len(t2) == 2 and t2.notes[-1].endswith("left out")
    with pytest.raises(InputError, match="shorter than a week"):
        align_into(jobs, "2022-01-04T00:00:00Z", "2022-01-05T00:00:00Z")


# ====================================================================== GitHub REST JSON
def _run(run_id: int, started: str, seconds: int, *, repo: str = "o/r", name: str = "CI", event: str = "push",
         branch: str = "main", attempt: int = 1, status: str = "completed", conclusion: str | None = "success",
         created: str | None = None) -> dict[str, Any]:
    t = datetime.fromisoformat(started.replace("Z", "+00:00"))
    return {
        "id": run_id, "name": name, "node_id": "WFR_x", "head_branch": branch, "head_sha": "abc",
        "path": ".github/workflows/ci.yml", "display_title": "a commit", "run_number": run_id, "event": event,
        "status": status, "conclusion": conclusion, "workflow_id": 99,
        "url": f"https://api.github.com/repos/{repo}/actions/runs/{run_id}",
        "html_url": f"https://github.com/{repo}/actions/runs/{run_id}",
        "created_at": created or started, "updated_at": (t + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "run_attempt": attempt, "run_started_at": started,
        "repository": {"id": 1, "name": repo.split("/")[1], "full_name": repo},
    }


def _runs_page(runs: list[dict[str, Any]], total: int | None = None) -> dict[str, Any]:
    return {"total_count": len(runs) if total is None else total, "workflow_runs": runs}


def _job(job_id: int, run_id: int, name: str, created: str, started: str, seconds: int, *,
         repo: str = "o/r", conclusion: str = "success", status: str = "completed") -> dict[str, Any]:
    t = datetime.fromisoformat(started.replace("Z", "+00:00"))
    return {
        "id": job_id, "run_id": run_id, "run_url": f"https://api.github.com/repos/{repo}/actions/runs/{run_id}",
        "run_attempt": 1, "node_id": "CR_x", "head_sha": "abc", "status": status, "conclusion": conclusion,
        "created_at": created, "started_at": started,
        "completed_at": (t + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ"), "name": name,
        "steps": [], "labels": ["ubuntu-latest"], "runner_name": "GitHub Actions 2", "workflow_name": "CI (jobs)",
        "head_branch": "main",
    }


def test_github_runs_concatenated_pages(tmp_path: Path) -> None:
    p1 = _runs_page([_run(3, "2024-05-02T10:00:00Z", 300), _run(2, "2024-05-01T10:00:00Z", 120, event="schedule")],
                    total=5)
    p2 = _runs_page([
        _run(2, "2024-05-01T10:00:00Z", 120, event="schedule"),  # repeated across a page boundary
        _run(1, "2024-04-30T10:00:00Z", 60, event="pull_request", branch="feat", attempt=2,
             created="2024-04-30T09:00:00Z"),
        _run(0, "2024-04-29T10:00:00Z", 0, conclusion="skipped"),
        _run(9, "2024-04-29T11:00:00Z", 30, status="in_progress", conclusion=None),
    ], total=5)
    f = tmp_path / "runs.json"
    f.write_text(json.dumps(p1, indent=2) + json.dumps(p2))  # gh api --paginate: pages back to back
    assert detect_trace_format(f) == "github_rest"
    res = read_trace(f)
    jobs = res.jobs
    assert jobs.ids.tolist() == ["1", "2", "3"]
    assert jobs.duration_s.tolist() == [60.0, 120.0, 300.0]
    assert jobs.submitted_s[0] == _epoch("2024-04-30T10:00:00Z")  # run_started_at of the latest attempt
    assert jobs.event.tolist() == ["pull_request", "schedule", "push"]
    assert jobs.default_branch.tolist() == [False, True, True]
    assert set(jobs.repo) == {"o/r"} and set(jobs.workflow) == {"CI"} and set(jobs.job_name) == {""}
    assert [(p.row, "skipped" in p.reason or "in_progress" in p.reason) for p in res.problems] == [(5, True), (6, True)]
    assert "1 runs were re-run" in jobs.notes[0]
    # the same pages as a JSON array (gh api --paginate --slurp) and as bare runs give the same table
    g = tmp_path / "slurped.json"
    g.write_text(json.dumps([p1, p2]))
    assert read_github_rest(g).jobs.ids.tolist() == ["1", "2", "3"]
    h = tmp_path / "bare.json"
    h.write_text("\n".join(json.dumps(r) for r in p1["workflow_runs"]))
    assert read_github_rest(h).jobs.ids.tolist() == ["2", "3"]


def test_github_jobs_take_workflow_from_their_runs(tmp_path: Path) -> None:
    runs = tmp_path / "runs.json"
    runs.write_text(json.dumps(_runs_page([_run(1, "2024-05-01T10:00:00Z", 900, name="Build", event="schedule"),
                                           _run(2, "2024-05-01T11:00:00Z", 60)])))
    jobs_file = tmp_path / "jobs.json"
    jobs_file.write_text(json.dumps({"total_count": 3, "jobs": [
        _job(11, 1, "compile", "2024-05-01T10:00:00Z", "2024-05-01T10:00:30Z", 400),
        _job(12, 1, "test", "2024-05-01T10:07:00Z", "2024-05-01T10:08:00Z", 300),
        _job(13, 1, "docs", "2024-05-01T10:07:00Z", "2024-05-01T10:07:00Z", 0, conclusion="skipped"),
    ]}))
    res = read_trace([runs, jobs_file])
    jobs = res.jobs
    assert jobs.ids.tolist() == ["11", "12"]
    assert jobs.job_name.tolist() == ["compile", "test"]
    assert jobs.workflow.tolist() == ["Build", "Build"] and jobs.event.tolist() == ["schedule", "schedule"]
    assert jobs.submitted_s[0] == _epoch("2024-05-01T10:00:00Z")  # queued at created_at
    assert jobs.duration_s.tolist() == [400.0, 300.0]  # runner time, no queue
    assert [p.row for p in res.problems] == [3] and "did not run" in res.problems[0].reason
    assert any("1 run(s) in the files have no jobs" in n for n in jobs.notes)
    # without the runs file the job's own fields stand in
    alone = read_github_rest(jobs_file).jobs
    assert alone.repo.tolist() == ["o/r", "o/r"] and alone.workflow.tolist() == ["CI (jobs)"] * 2
    assert alone.event.tolist() == ["other", "other"]


@pytest.mark.parametrize(
    "text, message",
    [
        ('{"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"}', "Bad credentials"),
        ('{"total_count": 1, "workflow_runs": {"id": 1}}', "not a JSON array"),
        ('{"total_count": 1, "items": []}', "neither a page of workflow runs"),
        ('{"total_count": 1, "workflow_runs": [] ', "not valid JSON"),
        ("[1, 2]", "JSON int"),
    ],
)
def test_github_json_of_the_wrong_shape_raises(tmp_path: Path, text: str, message: str) -> None:
    f = tmp_path / "runs.json"
    f.write_text(text)
    with pytest.raises(DataFormatError, match=message):
        read_trace(f)


# ====================================================================== fetch client against a local server
@dataclass
class FakeGitHub:
    """Routes of a tiny GitHub: paged runs with Link headers, auth, scripted rate limits."""

    url: str = ""
    runs: list[dict[str, Any]] = field(default_factory=list)
    seen: list[tuple[str, dict[str, list[str]], dict[str, str]]] = field(default_factory=list)
    scripted: list[tuple[int, dict[str, str], dict[str, Any]]] = field(default_factory=list)
    next_host: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, path: str, query: dict[str, list[str]],
               headers: dict[str, str]) -> tuple[int, dict[str, str], dict[str, Any]]:
        with self.lock:
            self.seen.append((path, query, headers))
            if self.scripted and len(self.seen) > 1:
                return self.scripted.pop(0)
        if headers.get("authorization") != f"Bearer {TOKEN}":
            return 401, {}, {"message": "Bad credentials", "echo": headers.get("authorization", "")}
        if not path.endswith("/actions/runs"):
            return 404, {}, {"message": "Not Found"}
        per_page = int(query.get("per_page", ["30"])[0])
        page = int(query.get("page", ["1"])[0])
        chunk = self.runs[(page - 1) * per_page: page * per_page]
        hdr = {"x-ratelimit-limit": "5000", "x-ratelimit-remaining": "4999"}
        links = []
        base = self.next_host or self.url
        if page * per_page < len(self.runs):
            links.append(f'<{base}/repositories/1/actions/runs?per_page={per_page}&page={page + 1}>; rel="next"')
            last = (len(self.runs) + per_page - 1) // per_page
            links.append(f'<{base}/repositories/1/actions/runs?per_page={per_page}&page={last}>; rel="last"')
        if links:
            hdr["Link"] = ", ".join(links)
        return 200, hdr, _runs_page(chunk, total=len(self.runs))


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    fake = FakeGitHub()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            parts = urlsplit(self.path)
            status, headers, body = fake.answer(parts.path, parse_qs(parts.query),
                                                {k.lower(): v for k, v in self.headers.items()})
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            return

    fake.runs = [_run(1000 - i, (datetime(2024, 5, 1, tzinfo=UTC) - timedelta(hours=i)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                      60 + i) for i in range(250)]
    with loopback_server(Handler) as url:
        fake.url = url
        yield fake




def test_fetch_runs_follows_link_headers_and_writes_what_the_reader_reads(
        github: FakeGitHub, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    out = tmp_path / "sub" / "runs.json"
    got = fetch_runs("o/r", out=out, token=TOKEN, base_url=github.url, since="2024-01-01T00:00Z", retries=0)
    assert (got.pages, got.runs, got.total_count, got.complete, got.path) == (3, 250, 250, True, out)
    paths = [s[0] for s in github.seen]
    assert paths == ["/repos/o/r/actions/runs", "/repositories/1/actions/runs", "/repositories/1/actions/runs"]
    first_query, first_headers = github.seen[0][1], github.seen[0][2]
    assert first_query["per_page"] == ["100"] and first_query["page"] == ["1"]
    assert first_query["created"] == [">=2024-01-01T00:00:00Z"]
    assert [s[1]["page"] for s in github.seen[1:]] == [["2"], ["3"]]
    assert all(s[2]["authorization"] == f"Bearer {TOKEN}" for s in github.seen)
    assert first_headers["x-github-api-version"] == "2022-11-28"
    assert first_headers["accept"] == "application/vnd.github+json"
    res = read_trace(out)
    assert len(res.jobs) == 250 and res.problems == []
    assert TOKEN not in caplog.text and TOKEN not in out.read_text()


def test_fetch_runs_stops_at_max_pages(github: FakeGitHub, tmp_path: Path) -> None:
    got = fetch_runs("o/r", out=tmp_path / "r.json", token=TOKEN, base_url=github.url, max_pages=2, retries=0)
    assert (got.pages, got.runs, got.complete) == (2, 200, False)
    assert len(read_github_rest(got.path).jobs) == 200


def test_fetch_runs_bad_token_is_an_authentication_error_without_the_token(
        github: FakeGitHub, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "ghp_WRONG_secret_token_42"
    with pytest.raises(AuthenticationError) as info:
        fetch_runs("o/r", out=tmp_path / "r.json", token=wrong, base_url=github.url, retries=0)
    text = str(info.value)
    assert "HTTP 401" in text and "GREENCI_GITHUB_TOKEN" in text
    assert wrong not in text and wrong not in caplog.text
    assert not (tmp_path / "r.json").exists()


def test_fetch_runs_rate_limit_says_when_it_resets_and_keeps_the_pages(
        github: FakeGitHub, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    reset = int(datetime(2030, 1, 1, 12, 0, tzinfo=UTC).timestamp())
    github.scripted.append((403, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset),
                                  "x-ratelimit-limit": "5000"},
                            {"message": f"API rate limit exceeded for {TOKEN}"}))
    out = tmp_path / "r.json"
    with pytest.raises(SourceError) as info:
        fetch_runs("o/r", out=out, token=TOKEN, base_url=github.url, retries=3, sleep=lambda s: None)
    text = str(info.value)
    assert not isinstance(info.value, AuthenticationError)
    assert "rate limit" in text and "HTTP 403" in text and "2030-01-01T12:00:00Z" in text and "page 2" in text
    assert "1 page(s) fetched before were saved" in text
    assert len(github.seen) == 2  # not retried into an exhausted limit
    assert len(read_github_rest(out).jobs) == 100
    assert TOKEN not in text and TOKEN not in caplog.text


def test_fetch_runs_secondary_rate_limit_names_the_wait(github: FakeGitHub, tmp_path: Path) -> None:
    github.scripted.append((429, {"retry-after": "60"}, {"message": "You have exceeded a secondary rate limit"}))
    with pytest.raises(SourceError, match="secondary rate limit.*retry after 60 s"):
        fetch_runs("o/r", out=tmp_path / "r.json", token=TOKEN, base_url=github.url, retries=3,
                   sleep=lambda s: None)
    assert len(github.seen) == 2


def test_fetch_runs_forbidden_without_rate_limit_is_an_authentication_error(github: FakeGitHub,
                                                                           tmp_path: Path) -> None:
    github.scripted.append((403, {"x-ratelimit-remaining": "4000"},
                            {"message": "Resource not accessible by personal access token"}))
    with pytest.raises(AuthenticationError, match="HTTP 403.*read access to the Actions of o/r"):
        fetch_runs("o/r", out=tmp_path / "r.json", token=TOKEN, base_url=github.url, retries=0)


def test_a_repository_without_runs_reads_as_an_empty_table_but_is_no_trace(tmp_path: Path) -> None:
    f = tmp_path / "r.json"
    f.write_text(json.dumps([_runs_page([])]))
    res = read_github_rest(f)  # the reader says what is there: nothing
    assert len(res.jobs) == 0 and res.problems == []
    with pytest.raises(InputError, match="empty"):
        align_to_weeks(res.jobs, "2022-01-01T00:00Z")
    with pytest.raises(DataFormatError, match=r"r\.json: holds no run or job at all"):
        read_trace(f)  # the entry point of simulate and schedule refuses it before anything indexes it


def test_fetch_runs_refuses_to_send_the_token_to_another_host(github: FakeGitHub, tmp_path: Path) -> None:
    github.next_host = "http://127.0.0.2:9"
    with pytest.raises(SourceError, match="refusing to send the token"):
        fetch_runs("o/r", out=tmp_path / "r.json", token=TOKEN, base_url=github.url, retries=0)
    assert len(github.seen) == 1


def test_fetch_runs_token_comes_from_the_environment(github: FakeGitHub, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GREENCI_GITHUB_TOKEN", raising=False)
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    with pytest.raises(ConfigError, match="GREENCI_GITHUB_TOKEN or GITHUB_TOKEN"):
        fetch_runs("o/r", out=tmp_path / "r.json", base_url=github.url)
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    got = fetch_runs("o/r", out=tmp_path / "r.json", base_url=github.url, max_pages=1, retries=0)
    assert got.runs == 100
    secret = github_token_from_env({"GREENCI_GITHUB_TOKEN": "a", "GITHUB_TOKEN": "b"})
    assert secret is not None and secret.reveal() == "a" and str(secret) == repr(secret) == "***"
    with pytest.raises(InputError, match="owner/name"):
        fetch_runs("not a repo", out=tmp_path / "r.json", token=TOKEN)


# ====================================================================== real data
@pytest.mark.shared
def test_real_gha_dashboard_export(shared_data: Path) -> None:
    folder = shared_data / "jobs" / "github-actions" / "gha-dashboard"
    res = read_trace(folder)
    jobs = res.jobs
    assert set(res.formats.values()) == {"ghaminer"} and len(res.formats) == 4
    assert "10,823 distinct runs" in jobs.notes[0]
    left_out = {(Path(p.path).name, p.row) for p in res.problems}
    assert len(jobs) == 10_760 and len(left_out) == 81  # 0 s runs (approval, skipped) and 2 in progress
    assert all("0 s" in p.reason or "in_progress" in p.reason for p in res.problems)
    repos = Counter(jobs.repo.tolist())
    # INDEX.md counts distinct runs; those minus the few 0 s / unfinished ones left out
    expected = {"facebook/react": 6409, "rust-lang/crates.io": 1677, "psf/requests": 962, "actions/runner": 542,
                "sogou/workflow": 441, "changesets/action": 340, "openconfig/public": 292}
    for repo, runs in expected.items():
        assert runs - 45 <= repos[repo] <= runs
    assert repos["facebook/react"] == 6369
    events = Counter(jobs.event.tolist())
    assert 6550 <= events["pull_request"] <= 6630 and 2900 <= events["push"] <= 2938 and events["schedule"] == 871
    d = jobs.duration_s
    assert np.median(d) == pytest.approx(99, abs=3) and np.percentile(d, 90) == pytest.approx(556, abs=10)
    assert np.all(jobs.default_branch[jobs.event == "schedule"])

    found = find_implausible(jobs)
    assert len(found) == 353 and int(found.over_job_limit.sum()) == 336
    assert found.by_repo()["facebook/react"] == 258 and found.by_repo()["psf/requests"] == 45
    assert found.duration_s.max() > 365 * 86400  # the year-long "runs" INDEX.md warns about
    cleaned, _ = clean_implausible(jobs, policy="exclude")
    aligned, shift = align_into(cleaned, "2022-01-01T00:00:00Z", "2024-01-01T00:00:00Z")
    assert shift % WEEK_S == 0 and shift < 0
    assert aligned.submitted_s[0] >= _epoch("2022-01-01T00:00:00Z")
    assert (aligned.submitted_s + aligned.duration_s).max() <= _epoch("2024-01-01T00:00:00Z")
    assert _weekday_and_second(aligned.submitted_s[:50]) == _weekday_and_second(cleaned.submitted_s[:50])


@pytest.mark.shared
@pytest.mark.parametrize("trace, rows, median_min", [("azure", 99_988, 35), ("pai", 99_998, 40),
                                                      ("mustang-trace-2015", 100_000, 11)])
def test_real_gaia_traces(shared_data: Path, trace: str, rows: int, median_min: float) -> None:
    res = read_trace(shared_data / "jobs" / "gaia" / f"{trace}-100k.csv")
    jobs = res.jobs
    assert len(jobs) == rows and res.problems == []
    assert np.median(jobs.duration_s) / 60 == pytest.approx(median_min, abs=0.5)
    assert jobs.submitted_s[0] == _epoch("2022-01-01T00:00:00Z")
    assert jobs.submitted_s[-1] < _epoch("2023-01-01T00:00:00Z")
    assert set(jobs.repo) == {trace} and np.all(jobs.power_kw >= 0.01)


def test_row_problem_text() -> None:
    assert str(RowProblem("a.csv", 7, "bad time")) == "a.csv row 7: bad time"
    assert str(RowProblem("a.json", None, "empty")) == "a.json: empty"
