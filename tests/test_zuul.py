"""Zuul: builds from the REST API as a run history, and zuul.yaml / zuul.d as job specs.

The builds are written in the shape of Zuul's ``/api/tenant/{tenant}/builds`` (``buildToDict`` with its
buildset fields); the configs in the shape of an OpenStack project's ``zuul.d``.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from greenci.errors import DataFormatError, InputError
from greenci.integrations.zuul import ZuulJobSpec, period_s, read_zuul_config, zuul_job_specs
from greenci.traces import detect_trace_format, read_trace
from greenci.traces.zuul import pipeline_event, read_zuul
from greenci.workflows import JobSpec

T0 = datetime(2024, 5, 2, 8, 0, 0, tzinfo=UTC)
PIPELINES = ("check", "gate", "post", "periodic", "periodic-weekly")


def _stamp(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S")  # as Zuul writes it: UTC, no zone


def _build(i: int, pipeline: str, *, minutes: float = 20.0, result: str | None = "SUCCESS", started: bool = True,
           ended: bool = True, duration: bool = True, job: str = "openstack-tox-py311",
           project: str = "openstack/nova", final: bool = True) -> dict[str, Any]:
    start = T0 + timedelta(minutes=37 * i)
    end = start + timedelta(minutes=minutes)
    return {
        "_id": i, "uuid": f"{i:032x}", "job_name": job, "result": result, "held": False,
        "start_time": _stamp(start) if started else None, "end_time": _stamp(end) if ended and started else None,
        "duration": (minutes * 60.0) if duration and started and ended else None,
        "voting": pipeline != "check" or i % 5 != 0,
        "log_url": f"https://logs.example.org/{i:02d}/{i:032x}/" if ended else None, "nodeset": "ubuntu-jammy",
        "error_detail": None, "final": final, "artifacts": [], "provides": [], "project": project,
        "branch": "master", "pipeline": pipeline, "change": 900000 + i if pipeline in ("check", "gate") else None,
        "patchset": "3" if pipeline in ("check", "gate") else None,
        "ref": f"refs/changes/{i:02d}/{900000 + i}/3" if pipeline in ("check", "gate") else "refs/heads/master",
        "newrev": None if pipeline in ("check", "gate") else f"{i:040x}", "ref_url": "https://review.example.org/",
        "event_id": f"ev{i}", "buildset": {"uuid": f"bs{i:030x}"},
    }


def _builds() -> list[dict[str, Any]]:
    """36 builds over five pipelines; 2 still running, 1 SKIPPED, 1 NODE_FAILURE that never started, 1 null
    duration whose times still give it, 1 retried attempt."""
    out = []
    for i in range(30):
        pipeline = PIPELINES[i % len(PIPELINES)]
        result = ("SUCCESS", "FAILURE", "POST_FAILURE", "TIMED_OUT", "RETRY_LIMIT", "SUCCESS")[i % 6]
        out.append(_build(i, pipeline, minutes=10 + i, result=result,
                          job=("openstack-tox-py311", "nova-tempest-full", "openstack-tox-docs")[i % 3]))
    out.append(_build(30, "check", result=None, ended=False))  # running
    out.append(_build(31, "gate", result=None, ended=False))  # running
    out.append(_build(32, "check", result="SKIPPED", started=False))
    out.append(_build(33, "gate", result="NODE_FAILURE", started=False))
    out.append(_build(34, "post", minutes=45, duration=False))  # null duration, times known
    out.append(_build(35, "check", minutes=5, result="RETRY", final=False))  # a retried attempt: it ran
    return out


def test_zuul_builds_read_through_read_trace(tmp_path: Path) -> None:
    path = tmp_path / "builds.json"
    path.write_text(json.dumps(_builds(), indent=1))
    assert detect_trace_format(path) == "zuul"
    res = read_trace(path)
    jobs = res.jobs
    assert len(jobs) == 32 and res.formats == {str(path): "zuul"}
    assert set(jobs.repo) == {"openstack/nova"}
    assert set(jobs.workflow) == set(PIPELINES)
    events = dict(zip(jobs.workflow, jobs.event, strict=True))
    assert events == {"check": "pull_request", "gate": "merge_group", "post": "push", "periodic": "schedule",
                      "periodic-weekly": "schedule"}
    by_id = {str(u): k for k, u in enumerate(jobs.ids)}
    k = by_id[f"{7:032x}"]
    assert jobs.duration_s[k] == 17 * 60 and jobs.job_name[k] == "nova-tempest-full"
    assert jobs.submitted_s[k] == int((T0 + timedelta(minutes=37 * 7)).timestamp())
    assert jobs.duration_s[by_id[f"{34:032x}"]] == 45 * 60  # null duration: from the times
    assert res.conclusion[by_id[f"{2:032x}"]] == "failure"  # POST_FAILURE
    assert res.conclusion[by_id[f"{3:032x}"]] == "timed_out"
    assert res.conclusion[by_id[f"{35:032x}"]] == "retry"
    assert np.all(np.diff(jobs.submitted_s) >= 0)
    assert jobs.default_branch[by_id[f"{2:032x}"]]  # post on master
    reasons = {p.row: p.reason for p in res.problems}
    assert sorted(reasons) == [31, 32, 33, 34]  # 1-based positions in the file
    assert "still running" in reasons[31] and "still running" in reasons[32]
    assert "SKIPPED" in reasons[33] and "never started" in reasons[34]
    notes = " ".join(jobs.notes)
    assert "4 build(s) left out (2 running, 1 skipped, 1 never started)" in notes
    assert "1 build(s) are retried attempts" in notes


def test_builds_wrapped_in_an_object_and_buildsets_read(tmp_path: Path) -> None:
    builds = _builds()[:10]
    wrapped = tmp_path / "wrapped.json"
    wrapped.write_text(json.dumps({"builds": builds}))
    assert detect_trace_format(wrapped) == "zuul"
    assert len(read_zuul(wrapped).jobs) == 10
    bare = [{k: v for k, v in b.items() if k not in ("project", "pipeline", "branch", "buildset")} for b in builds[:3]]
    buildset = tmp_path / "buildset.json"
    buildset.write_text(json.dumps({"uuid": "bs1", "result": "SUCCESS", "project": "openstack/neutron",
                                    "pipeline": "gate", "branch": "master", "builds": bare[:2],
                                    "retry_builds": bare[2:]}))
    res = read_zuul(buildset)
    assert list(res.jobs.repo) == ["openstack/neutron"] * 3 and set(res.jobs.event) == {"merge_group"}
    pages = tmp_path / "pages.json"  # pages saved as one array (a --slurp of several answers)
    pages.write_text(json.dumps([builds[:4], builds[4:]]))
    assert len(read_zuul(pages).jobs) == 10


def test_duplicate_builds_from_shifted_pages_count_once(tmp_path: Path) -> None:
    builds = _builds()[:8]
    (tmp_path / "p1.json").write_text(json.dumps(builds[:5]))
    (tmp_path / "p2.json").write_text(json.dumps(builds[4:]))
    res = read_trace(tmp_path)
    assert len(res.jobs) == 8 and len(set(res.jobs.ids)) == 8


def test_sniffers_tell_zuul_from_github_json(tmp_path: Path) -> None:
    runs = {"total_count": 1, "workflow_runs": [{
        "id": 1, "name": "CI", "event": "push", "status": "completed", "conclusion": "success",
        "head_branch": "main", "workflow_id": 5, "run_started_at": "2024-05-02T10:00:00Z",
        "created_at": "2024-05-02T10:00:00Z", "updated_at": "2024-05-02T10:05:00Z",
        "repository": {"full_name": "octo/app"}}]}
    jobs = {"total_count": 1, "jobs": [{
        "id": 7, "run_id": 1, "name": "build", "status": "completed", "conclusion": "success",
        "created_at": "2024-05-02T10:00:00Z", "started_at": "2024-05-02T10:00:05Z",
        "completed_at": "2024-05-02T10:04:00Z", "workflow_name": "CI", "head_branch": "main",
        "run_url": "https://api.github.com/repos/octo/app/actions/runs/1"}]}
    (tmp_path / "runs.json").write_text(json.dumps(runs))
    (tmp_path / "jobs.json").write_text(json.dumps(jobs))
    (tmp_path / "zuul.json").write_text(json.dumps(_builds()[:5]))
    assert detect_trace_format(tmp_path / "runs.json") == "github_rest"
    assert detect_trace_format(tmp_path / "jobs.json") == "github_rest"
    assert detect_trace_format(tmp_path / "zuul.json") == "zuul"
    res = read_trace(tmp_path)  # both formats in one folder, each read by its own reader
    assert sorted(set(res.formats.values())) == ["github_rest", "zuul"]
    assert "octo/app" in set(res.jobs.repo) and "openstack/nova" in set(res.jobs.repo)


def test_a_zuul_file_of_only_running_builds_is_refused_with_the_reasons(tmp_path: Path) -> None:
    path = tmp_path / "running.json"
    path.write_text(json.dumps([_build(i, "check", result=None, ended=False) for i in range(3)]))
    with pytest.raises(DataFormatError, match="all 3 row.*still running"):
        read_trace(path)


def test_json_that_is_not_builds_names_the_endpoint(tmp_path: Path) -> None:
    path = tmp_path / "other.json"
    path.write_text(json.dumps({"builds": "nope", "job_name": "x"}))
    with pytest.raises(DataFormatError, match="not a JSON array"):
        read_zuul(path)
    path.write_text(json.dumps([{"job_name": "x", "pipeline": "check"}, 5]))
    res = read_zuul(path)
    assert len(res.problems) == 2 and "not a JSON object" in res.problems[1].reason


@pytest.mark.parametrize(("pipeline", "event"), [
    ("check", "pull_request"), ("gate", "merge_group"), ("post", "push"), ("promote", "push"),
    ("periodic", "schedule"), ("periodic-weekly", "schedule"), ("periodic-stable", "schedule"),
    ("release", "release"), ("tag", "release"), ("experimental", "pull_request"), ("gate-arm64", "merge_group"),
    ("third-party-check", "pull_request"), ("nightly-something", "pull_request"),
])
def test_pipelines_map_onto_greenci_events(pipeline: str, event: str) -> None:
    from greenci.usecases.inputs import EVENTS

    assert pipeline_event(pipeline) == event and event in EVENTS


# ====================================================================== configuration
ZUUL_YAML = """\
- job:
    name: nova-base
    parent: devstack-tempest
    timeout: 7200
    vars:
      allowed-regions: [DE-LU, FR]

- job:
    name: nova-tempest-full
    parent: nova-base
    voting: true
    vars:
      duration: 1h30m

- job:
    name: nova-docs-nightly
    run: playbooks/docs.yaml
    timeout: 1800
    vars:
      carbon-aware: no

- nodeset:
    name: ubuntu-jammy
    nodes:
      - name: controller
        label: ubuntu-jammy

- project:
    templates:
      - openstack-python3-jobs
      - nova-extra
    vars:
      allowed_regions: [GB]
    check:
      jobs:
        - openstack-tox-pep8
        - nova-tempest-full:
            voting: false
            dependencies:
              - openstack-tox-pep8
    gate:
      jobs:
        - openstack-tox-pep8
        - nova-tempest-full:
            dependencies: [{name: openstack-tox-pep8, soft: true}]
    periodic:
      jobs:
        - nova-tempest-full
        - nova-docs-nightly
    periodic-weekly:
      jobs:
        - nova-tempest-full:
            vars:
              deadline: 2d
"""

TEMPLATE_YAML = """\
- project-template:
    name: nova-extra
    check:
      jobs:
        - nova-lower-constraints
    post:
      jobs:
        - publish-openstack-docs
"""


def _repo(tmp_path: Path) -> Path:
    repo = tmp_path / "nova"
    (repo / "zuul.d").mkdir(parents=True)
    (repo / "zuul.d" / "jobs.yaml").write_text(ZUUL_YAML.split("- project:")[0])
    (repo / "zuul.d" / "project.yaml").write_text("- project:" + ZUUL_YAML.split("- project:")[1])
    (repo / "zuul.d" / "templates.yml").write_text(TEMPLATE_YAML)
    return repo


def test_single_zuul_yaml_gives_specs_with_periodic_windows(tmp_path: Path) -> None:
    path = tmp_path / "zuul.yaml"
    path.write_text(ZUUL_YAML)
    specs = read_zuul_config(path, project="openstack/nova")
    got = {(s.pipeline, s.job): s for s in specs}
    assert list(got) == [
        ("check", "openstack-tox-pep8"), ("check", "nova-tempest-full"), ("gate", "openstack-tox-pep8"),
        ("gate", "nova-tempest-full"), ("periodic", "nova-tempest-full"), ("periodic", "nova-docs-nightly"),
        ("periodic-weekly", "nova-tempest-full"),
    ]  # nova-extra is not in this file: its jobs are not read
    assert all(s.project == "openstack/nova" and s.source == str(path) for s in specs)
    check = got[("check", "nova-tempest-full")]
    assert check == ZuulJobSpec(
        project="openstack/nova", pipeline="check", job="nova-tempest-full", event="pull_request", periodic=False,
        timeout_s=7200.0, dependencies=("openstack-tox-pep8",), source=str(path), line=37, voting=False,
        carbon_aware=None, duration_s=5400.0, deadline_after_s=None, deadline_at=None,
        allowed_regions=("DE-LU", "FR"), defined_in=str(path))  # the job's vars win over the project's
    assert got[("gate", "nova-tempest-full")].dependencies == ("openstack-tox-pep8",)
    assert got[("gate", "nova-tempest-full")].event == "merge_group"
    pep8 = got[("check", "openstack-tox-pep8")]  # defined in another repository
    assert pep8.defined_in is None and pep8.timeout_s is None and pep8.allowed_regions == ("GB",)
    nightly = got[("periodic", "nova-tempest-full")]
    assert nightly.periodic and nightly.event == "schedule" and nightly.carbon_aware is True
    assert nightly.deadline_after_s == 86400.0
    weekly = got[("periodic-weekly", "nova-tempest-full")]
    assert weekly.deadline_after_s == 2 * 86400.0  # the entry's vars: deadline 2d instead of the week
    docs = got[("periodic", "nova-docs-nightly")]
    assert docs.carbon_aware is False and docs.deadline_after_s == 86400.0 and docs.timeout_s == 1800.0


def test_zuul_d_folder_resolves_templates_across_files(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    for given in (repo, repo / "zuul.d"):
        specs = read_zuul_config(given)
        got = {(s.pipeline, s.job): s for s in specs}
        assert ("check", "nova-lower-constraints") in got and ("post", "publish-openstack-docs") in got
        assert got[("post", "publish-openstack-docs")].event == "push"
        assert got[("post", "publish-openstack-docs")].source == str(repo / "zuul.d" / "templates.yml")
        assert {s.project for s in specs} == {"nova"}  # no name: the repository's folder
        assert got[("check", "nova-tempest-full")].defined_in == str(repo / "zuul.d" / "jobs.yaml")
        assert got[("periodic-weekly", "nova-tempest-full")].timeout_s == 7200.0  # from its parent
    assert period_s("periodic-weekly") == 7 * 86400 and period_s("periodic") == 86400 and period_s("check") is None


def test_zuul_job_specs_are_planner_job_specs(tmp_path: Path) -> None:
    from greenci.usecases.inputs import JobRequest, job_from_request

    path = tmp_path / "zuul.yaml"
    path.write_text(ZUUL_YAML)
    specs = zuul_job_specs(path)
    assert all(isinstance(s, JobSpec) for s in specs)
    weekly = next(s for s in specs if s.workflow == "periodic-weekly")
    assert weekly == JobSpec(workflow="periodic-weekly", job="nova-tempest-full", triggers=("schedule",), crons=(),
                             carbon_aware=True, duration_s=5400.0, deadline_after_s=172800.0, deadline_at=None,
                             allowed_regions=("DE-LU", "FR"), source=str(path))
    job = job_from_request(JobRequest(repo="openstack/nova"), weekly, now=T0)
    assert job.event == "schedule" and job.deadline == T0 + timedelta(days=2) and job.carbon_aware
    check = next(s for s in specs if s.workflow == "check" and s.job == "nova-tempest-full")
    assert job_from_request(JobRequest(event="pull_request"), check, now=T0).event == "pull_request"
    assert zuul_job_specs(read_zuul_config(path)) == specs


def _error(tmp_path: Path, text: str) -> DataFormatError:
    path = tmp_path / "zuul.yaml"
    path.write_text(text)
    with pytest.raises(DataFormatError) as info:
        read_zuul_config(path)
    assert info.value.path == str(path)
    return info.value


@pytest.mark.parametrize(("text", "expected"), [
    ("job:\n  name: x\n", r"line 1: a Zuul config file is a YAML list of items"),
    ("- job:\n    name: a\n- build:\n    name: b\n", r"line 3: 'build' is no Zuul config item: use one of job"),
    ("- job:\n    name: a\n  project:\n    name: b\n", r"line 1: an item is a mapping with one key"),
    ("- job:\n    run: x.yaml\n", r"line 2: a job needs a name"),
    ("- project:\n    check:\n      jobs:\n        - a\n        - b: 3\n", r"line 5: a check jobs entry is a job name"),
    ("- project:\n    check:\n      jobs:\n        - a: {}\n          b: {}\n", r"line 4: a check jobs entry"),
    ("- project:\n    gate: [a, b]\n", r"line 2: pipeline 'gate' must be a mapping with a jobs list"),
    ("- project:\n    check:\n      jobs: tox\n", r"line 3: check.jobs must be a list"),
    ("- job:\n    name: a\n    timeout: soon\n- project:\n    check: {jobs: [a]}\n",
     r"line 3: timeout of 'a' must be a positive number of seconds"),
    ("- job:\n    name: a\n    vars:\n      carbon-aware: maybe\n- project:\n    check: {jobs: [a]}\n",
     r"line 4: carbon-aware of 'a' must be yes or no"),
    ("- project:\n    periodic:\n      jobs:\n        - a:\n            vars: {duration: 30h}\n",
     r"line 4: job 'a' in periodic: duration 30 h is longer than its deadline 24 h"),
    ("- project:\n    check:\n      jobs:\n        - a:\n            dependencies: [{soft: true}]\n",
     r"line 5: a dependency of 'a' is a job name"),
    ("- job:\n    name: a\n    parent: b\n- job:\n    name: b\n    parent: a\n- project:\n    check: {jobs: [a]}\n",
     r"is its own ancestor \(a -> b -> a\)"),
    ("- job:\n    name: a\n   timeout: 3\n", r"line 3: not valid YAML"),
])
def test_config_errors_name_the_file_the_line_and_the_fix(tmp_path: Path, text: str, expected: str) -> None:
    err = _error(tmp_path, text)
    assert err.path is not None and str(err).startswith(err.path)
    assert re.search(expected, str(err)), str(err)


def test_bad_window_vars_name_the_field(tmp_path: Path) -> None:
    err = _error(tmp_path, "- job:\n    name: a\n    vars:\n      allowed-regions: []\n"
                           "- project:\n    check: {jobs: [a]}\n")
    assert err.field == "allowed-regions" and "line 4" in str(err)
    err = _error(tmp_path, "- project:\n    periodic:\n      jobs:\n        - a:\n            vars:\n"
                           "              deadline: whenever\n")
    assert err.field == "deadline" and "line 6" in str(err)


def test_zuul_tags_and_skipped_items_read(tmp_path: Path) -> None:
    path = tmp_path / ".zuul.yaml"
    path.write_text("- secret:\n    name: creds\n    data:\n      token: !encrypted/pkcs1-oaep\n        - abc==\n"
                    "- job:\n    name: a\n    files: !inherit [src/.*]\n- project:\n    name: org/app\n"
                    "    post:\n      jobs: [a]\n")
    assert [(s.project, s.pipeline, s.job) for s in read_zuul_config(tmp_path)] == [("org/app", "post", "a")]


def test_missing_config_paths_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such Zuul config"):
        read_zuul_config(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="holds no zuul.yaml"):
        read_zuul_config(tmp_path / "empty")


PLANNED_ZUUL = """\
- job:
    name: unit
    vars: {duration: 20m}
- job:
    name: tempest
    vars: {duration: 1h}
- job:
    name: docs-nightly
    vars: {duration: 30m}
- project:
    check:
      jobs:
        - unit
        - tempest:
            dependencies: [unit]
    periodic:
      jobs:
        - docs-nightly
        - tempest:
            dependencies: [{name: unit, soft: true}]
"""


def test_greenci_plan_over_a_zuul_config(tmp_path: Path) -> None:
    """Each pipeline planned with its own event: check jobs run now (after their dependencies), periodic
    jobs wait for cleaner hours within their day; a soft dependency the pipeline does not run is no need."""
    import json

    from synthetic_intensity import write_em_folder
    from typer.testing import CliRunner

    from greenci.cli import app

    write_em_folder(tmp_path / "intensity")
    (tmp_path / "zuul.yaml").write_text(PLANNED_ZUUL)
    args = ["plan", "--zuul", str(tmp_path / "zuul.yaml"), "--at", "2022-10-12T21:00Z", "--intensity",
            str(tmp_path / "intensity"), "--regions", "DE-LU,GB", "--forecast", "seasonal-naive", "--format", "json"]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    jobs = {(j["workflow"], j["job"]): j for j in json.loads(r.stdout)["jobs"]}
    assert {k: j["event"] for k, j in jobs.items()} == {
        ("check", "unit"): "pull_request", ("check", "tempest"): "pull_request",
        ("periodic", "docs-nightly"): "schedule", ("periodic", "tempest"): "schedule"}
    unit, tempest = jobs["check", "unit"], jobs["check", "tempest"]
    assert not unit["eligible"] and unit["wait_s"] == 0
    assert tempest["wait_s"] == unit["duration_estimate_s"] and "after unit" in tempest["window"]
    assert jobs["periodic", "docs-nightly"]["eligible"] and jobs["periodic", "docs-nightly"]["wait_s"] > 0
    assert jobs["periodic", "tempest"]["needs"] == ["unit"] and "after" not in jobs["periodic", "tempest"]["window"]
    both = CliRunner().invoke(app, ["plan", str(tmp_path), "--zuul", str(tmp_path / "zuul.yaml")])
    assert both.exit_code == 2 and "one of them" in both.output
