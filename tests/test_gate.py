"""``greenci gate``: the verdict (an oracle of the documented formula), and end to end against a running service
with a loopback fake of GitHub's workflow_dispatch API.

Intensity: the SYNTHETIC Electricity Maps files of ``test_service`` (2022 data, so every decided start is
already due by the wall clock and the service's dispatcher calls the fake at once).
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, ClassVar

import pytest

pytest.importorskip("fastapi", reason="the service needs greenci[service]: pip install 'greenci[service]'")

from loopback import loopback_server  # noqa: E402
from test_service import intensity, serving  # noqa: E402, F401
from typer.testing import CliRunner  # noqa: E402

from greenci.cli import app  # noqa: E402
from greenci.errors import InputError  # noqa: E402
from greenci.integrations.github_gate import GitHubRun, gate, intensity_now, summary_markdown  # noqa: E402
from greenci.service import ServiceSettings  # noqa: E402
from greenci.service.dispatch import DispatchSettings  # noqa: E402

runner = CliRunner()

#: a flexible nightly job whose best start (on the synthetic data) is 10 min away, and one 2.2 h away
SHORT_WAIT = ["--at", "2022-10-12T01:50:00Z", "--duration", "30m", "--deadline", "1h"]
LONG_WAIT = ["--at", "2022-10-12T05:50:00Z", "--duration", "30m", "--deadline", "8h"]
GITHUB_VARS = ("GITHUB_REPOSITORY", "GITHUB_WORKFLOW", "GITHUB_JOB", "GITHUB_EVENT_NAME", "GITHUB_REF_NAME",
               "GITHUB_HEAD_REF", "GITHUB_WORKFLOW_REF", "GITHUB_RUN_ID", "GITHUB_RUN_ATTEMPT", "GITHUB_EVENT_PATH",
               "GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY", "GREENCI_JOB", "GREENCI_REGION", "GREENCI_SERVICE_URL",
               "GREENCI_SERVICE_TOKEN")


# ------------------------------------------------------------------------------------------ the verdict
def _decision(**kw: Any) -> dict[str, Any]:
    base = {"region": "GB", "start": "2022-10-12T02:00:00Z", "wait_s": 600.0, "duration_estimate_s": 1800.0,
            "expected_g": 150.0, "now_best_g": 160.0, "baseline_g": 200.0, "saving_g": 50.0,
            "reason": "shifted: flexible job, cleanest start and region in its window"}
    return {**base, **kw}


def test_intensity_now_is_the_baseline_per_kwh_unless_the_decision_gives_one() -> None:
    # 200 g for 1 kW x 0.5 h = 400 g/kWh; at 2 kW it is 200 g/kWh
    assert intensity_now(_decision()) == pytest.approx(400.0)
    assert intensity_now(_decision(), power_kw=2.0) == pytest.approx(200.0)
    assert intensity_now(_decision(intensity_g_per_kwh=321.0)) == 321.0
    assert intensity_now(_decision(duration_estimate_s=None)) is None


def test_a_short_wait_is_taken_only_when_it_saves_more_than_the_idle_runner_burns() -> None:
    # idle: 30 W x 600 s = 0.005 kWh x 400 g/kWh = 2 g; waiting saves now_best - expected = 10 g
    v = gate(_decision())
    assert (v.outcome, v.idle_g, v.shift_saving_g) == ("wait", pytest.approx(2.0), pytest.approx(10.0))
    # 300 W idle: 20 g > 10 g saved -> run now
    assert gate(_decision(), idle_power_w=300).outcome == "continue"
    # exactly equal is not worth it: 150 W -> 10 g
    assert gate(_decision(), idle_power_w=150).outcome == "continue"
    assert gate(_decision(), idle_power_w=149).outcome == "wait"


def test_continue_defer_and_the_dispatched_run() -> None:
    fail_fast = "not shifted: someone waits for this run (pull request, ...); runs now in the cleanest region"
    assert gate(_decision(reason=fail_fast, wait_s=0.0)).outcome == "continue"
    assert gate(_decision(reason=fail_fast)).why == fail_fast
    assert gate(_decision(wait_s=0.0)).outcome == "continue"
    assert gate(_decision(expected_g=170.0)).outcome == "continue"  # waiting costs more than running now
    assert gate(_decision(wait_s=3 * 3600.0)).outcome == "defer"
    assert gate(_decision(wait_s=3 * 3600.0), max_wait_s=4 * 3600.0).outcome == "continue"  # idle 36 g > 10 g
    assert gate(_decision(wait_s=3 * 3600.0), max_wait_s=4 * 3600.0, idle_power_w=1).outcome == "wait"
    cannot = gate(_decision(wait_s=3 * 3600.0), can_defer=False, defer_hint="give --service")
    assert cannot.outcome == "continue" and "give --service" in cannot.why
    assert gate(_decision(wait_s=3 * 3600.0), dispatched=True).outcome == "continue"
    with pytest.raises(InputError, match="idle_power_w"):
        gate(_decision(), idle_power_w=-1)


def test_the_run_is_read_from_github_variables(tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"repository": {"default_branch": "trunk"}}), encoding="utf-8")
    run = GitHubRun.from_env({"GITHUB_REPOSITORY": "acme/app", "GITHUB_WORKFLOW": "Nightly", "GITHUB_JOB": "build",
                              "GITHUB_EVENT_NAME": "pull_request", "GITHUB_REF_NAME": "7/merge",
                              "GITHUB_HEAD_REF": "feature", "GITHUB_EVENT_PATH": str(event),
                              "GITHUB_WORKFLOW_REF": "acme/app/.github/workflows/nightly.yml@refs/heads/feature",
                              "GITHUB_RUN_ID": "99", "GITHUB_RUN_ATTEMPT": "2"})
    assert (run.branch, run.default_branch, run.workflow_file) == ("feature", "trunk", "nightly.yml")
    assert run.idempotency_key() == "gh:acme/app:99:2:build"
    assert GitHubRun.from_env({}).idempotency_key() is None


# ------------------------------------------------------------------------------------------ end to end
class FakeGitHub(BaseHTTPRequestHandler):
    """GitHub's workflow_dispatch endpoint on loopback: records POSTs, answers 204."""

    calls: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:  # noqa: N802 - the http.server API
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        type(self).calls.append({"path": self.path, "body": json.loads(body)})
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def github() -> Iterator[tuple[str, type[FakeGitHub]]]:
    handler = type("G", (FakeGitHub,), {"calls": []})
    with loopback_server(handler) as url:
        yield url, handler


@pytest.fixture()
def service(tmp_path: Path, intensity: Path, github: tuple[str, type[FakeGitHub]]) -> Iterator[Any]:  # noqa: F811
    settings = ServiceSettings(data_dir=tmp_path / "data", regions=("DE-LU", "GB"), intensity=(intensity,),
                               forecast="seasonal-naive",
                               dispatch=DispatchSettings(github_token="t", github_api=github[0], poll_s=0.05))
    with serving(settings) as http:
        yield http


def _env(tmp_path: Path, event: str, **more: str | None) -> dict[str, str | None]:
    env: dict[str, str | None] = dict.fromkeys(GITHUB_VARS)
    env.update({"GITHUB_REPOSITORY": "acme/app", "GITHUB_WORKFLOW": "nightly", "GITHUB_JOB": "build",
                "GITHUB_EVENT_NAME": event, "GITHUB_REF_NAME": "main",
                "GITHUB_WORKFLOW_REF": "acme/app/.github/workflows/nightly.yml@refs/heads/main",
                "GITHUB_RUN_ID": f"run-{time.monotonic_ns()}", "GITHUB_RUN_ATTEMPT": "1",
                "GITHUB_OUTPUT": str(tmp_path / "output.txt"), "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md")})
    env.update(more)
    return env


def _gate(http: Any, env: dict[str, str | None], *args: str) -> Any:
    token = http.headers["Authorization"].removeprefix("Bearer ")
    return runner.invoke(app, ["gate", "--service", str(http.base_url), "--token", token, *args], env=env)


def _outputs(env: dict[str, str | None]) -> dict[str, str]:
    lines = Path(str(env["GITHUB_OUTPUT"])).read_text(encoding="utf-8").splitlines()
    return dict(line.split("=", 1) for line in lines)


def _wait(cond: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_pull_request_continues_with_outputs_and_summary(service: Any, tmp_path: Path) -> None:
    env = _env(tmp_path, "pull_request", GITHUB_REF_NAME="7/merge", GITHUB_HEAD_REF="feature")
    got = _gate(service, env, *LONG_WAIT)
    assert got.exit_code == 0, got.output
    out = _outputs(env)
    assert set(out) == {"outcome", "region", "start", "wait-seconds", "decision-id", "expected-g", "saving-g"}
    assert out["outcome"] == "continue" and out["wait-seconds"] == "0" and out["region"] in ("DE-LU", "GB")
    summary = Path(str(env["GITHUB_STEP_SUMMARY"])).read_text(encoding="utf-8")
    assert "greenci gate: continue" in summary and "someone waits for this run" in summary
    assert "The job runs now." in summary and "SYNTHETIC" not in summary
    job = service.get(f"/v1/jobs/{out['decision-id']}").json()
    assert job["status"] == "running" and job["request"]["event"] == "pull_request"
    assert job["request"]["branch"] == "feature" and job["dispatch"] is None


def test_a_short_wait_is_wait(service: Any, tmp_path: Path, github: tuple[str, type[FakeGitHub]]) -> None:
    env = _env(tmp_path, "schedule")
    got = _gate(service, env, *SHORT_WAIT, "--no-sleep", "--format", "json")
    assert got.exit_code == 0, got.output
    doc = json.loads(got.stdout)
    out = _outputs(env)
    assert doc["outcome"] == out["outcome"] == "wait" and out["wait-seconds"] == "600"
    assert out["start"] == doc["decision"]["start"] == "2022-10-12T02:00:00Z"
    assert float(out["saving-g"]) > 0 and "more than the idle runner" in doc["why"]
    assert "waits 10 min on this runner" in Path(str(env["GITHUB_STEP_SUMMARY"])).read_text(encoding="utf-8")
    time.sleep(0.3)
    assert github[1].calls == []  # a wait is never dispatched


def test_a_long_wait_defers_and_the_service_dispatches_the_run_once(
        service: Any, tmp_path: Path, github: tuple[str, type[FakeGitHub]]) -> None:
    _, fake = github
    env = _env(tmp_path, "schedule")
    got = _gate(service, env, *LONG_WAIT)
    assert got.exit_code == 0, got.output
    out = _outputs(env)
    assert out["outcome"] == "defer" and int(out["wait-seconds"]) > 15 * 60
    summary = Path(str(env["GITHUB_STEP_SUMMARY"])).read_text(encoding="utf-8")
    assert "greenci gate: defer" in summary and f"workflow_dispatch at **{out['start']}**" in summary
    assert "this run ends now" in got.stdout

    _wait(lambda: len(fake.calls) >= 1)
    time.sleep(0.5)  # several dispatcher polls later: still one call
    (call,) = fake.calls
    assert call["path"] == "/repos/acme/app/actions/workflows/nightly.yml/dispatches"
    assert call["body"]["ref"] == "main"
    assert call["body"]["inputs"] == {"greenci_job": out["decision-id"], "greenci_region": out["region"]}
    jobs = {j["id"]: j["status"] for j in service.get("/v1/jobs").json()["jobs"]}
    assert jobs[out["decision-id"]] == "dispatched"
    assert list(jobs.values()) == ["dispatched"]  # one job: asked without a target, given it on defer

    # the same step again (same run id and attempt): the same jobs, no second dispatch
    again = _gate(service, {**env, "GITHUB_OUTPUT": str(tmp_path / "again.txt")}, *LONG_WAIT)
    assert again.exit_code == 0, again.output
    assert _outputs({"GITHUB_OUTPUT": str(tmp_path / "again.txt")})["decision-id"] == out["decision-id"]
    assert len(service.get("/v1/jobs").json()["jobs"]) == 1

    # the dispatched run: GREENCI_JOB set, workflow_dispatch event: it continues and is not deferred again
    dispatched = _env(tmp_path / "d", "workflow_dispatch", GREENCI_JOB=call["body"]["inputs"]["greenci_job"],
                      GREENCI_REGION=call["body"]["inputs"]["greenci_region"])
    (tmp_path / "d").mkdir()
    got = _gate(service, dispatched, *LONG_WAIT)
    assert got.exit_code == 0, got.output
    d_out = _outputs(dispatched)
    assert d_out["outcome"] == "continue" and d_out["decision-id"] == out["decision-id"]
    assert d_out["region"] == out["region"]
    assert "never deferred again" in Path(str(dispatched["GITHUB_STEP_SUMMARY"])).read_text(encoding="utf-8")
    assert service.get(f"/v1/jobs/{out['decision-id']}").json()["status"] == "running"
    time.sleep(0.3)
    assert len(fake.calls) == 1 and len(service.get("/v1/jobs").json()["jobs"]) == 1


def test_without_a_workflow_to_dispatch_a_long_wait_runs_now(service: Any, tmp_path: Path) -> None:
    env = _env(tmp_path, "schedule", GITHUB_WORKFLOW_REF=None)
    got = _gate(service, env, *LONG_WAIT)
    assert got.exit_code == 0, got.output
    assert _outputs(env)["outcome"] == "continue" and "cannot be deferred" in got.stdout


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _one_error(got: Any) -> str:
    lines = [line for line in got.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), got.stderr
    assert "Traceback" not in got.output
    return lines[0]


def test_an_unreachable_service_is_a_clear_error(tmp_path: Path) -> None:
    env = _env(tmp_path, "schedule")
    got = runner.invoke(app, ["gate", "--service", f"http://127.0.0.1:{_free_port()}", *LONG_WAIT], env=env)
    assert got.exit_code == 2
    assert "--service" in _one_error(got)
    assert not (tmp_path / "output.txt").exists()


def test_a_bad_token_and_a_bad_request_are_clear_errors(service: Any, tmp_path: Path) -> None:
    env = _env(tmp_path, "schedule")
    got = runner.invoke(app, ["gate", "--service", str(service.base_url), "--token", "gci_nope", *LONG_WAIT], env=env)
    assert got.exit_code == 2
    line = _one_error(got)
    assert "--token" in line and "401" in line
    got = _gate(service, _env(tmp_path, "tuesday"), *LONG_WAIT)
    assert got.exit_code == 2 and "tuesday" in _one_error(got)
    got = _gate(service, env, *LONG_WAIT, "--idle-power-w", "-3")
    assert got.exit_code == 2 and "--idle-power-w" in _one_error(got)


# ------------------------------------------------------------------------------------------ planned here
def test_planned_here_a_short_wait_waits_and_a_long_one_runs_now(intensity: Path, tmp_path: Path) -> None:  # noqa: F811
    base = ["gate", "--intensity", str(intensity), "--regions", "DE-LU,GB", "--forecast", "seasonal-naive"]
    env = _env(tmp_path, "schedule")
    got = runner.invoke(app, [*base, *SHORT_WAIT, "--no-sleep"], env=env)
    assert got.exit_code == 0, got.output
    assert _outputs(env)["outcome"] == "wait"
    env = _env(tmp_path / "b", "schedule")
    got = runner.invoke(app, [*base, *LONG_WAIT, "--format", "json"], env=env)
    assert got.exit_code == 0, got.output
    doc = json.loads(got.stdout)
    assert doc["outcome"] == "continue" and "--service" in doc["why"] and doc["decision"]["wait_s"] > 900
    assert "greenci gate: continue" in Path(str(env["GITHUB_STEP_SUMMARY"])).read_text(encoding="utf-8")


def test_a_wait_sleeps_until_the_start_at_most(monkeypatch: pytest.MonkeyPatch, intensity: Path,  # noqa: F811
                                               tmp_path: Path) -> None:
    slept: list[float] = []
    monkeypatch.setattr(time, "sleep", slept.append)
    env = _env(tmp_path, "schedule")
    got = runner.invoke(app, ["gate", "--intensity", str(intensity), "--regions", "DE-LU,GB", "--forecast",
                              "seasonal-naive", *SHORT_WAIT], env=env)
    assert got.exit_code == 0, got.output
    assert slept == [0.0]  # a 2022 start is already past: no sleep at all


def test_the_summary_marks_synthetic_intensity() -> None:
    from greenci.integrations.github_gate import result_of

    d = _decision(synthetic=True, forecast="synthetic model")
    text = summary_markdown(result_of(gate(d), d, "j1"))
    assert "SYNTHETIC" in text and "| outcome | **wait** |" in text
