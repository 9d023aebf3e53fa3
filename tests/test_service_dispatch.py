"""Deferred jobs are started at their time, exactly once: webhooks (HMAC-signed), retries, failure, two
dispatchers on one store, and a service killed with SIGKILL and restarted. Everything over real HTTP on
loopback; intensity from the SYNTHETIC files of ``test_service``.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import ClassVar

import httpx
import pytest

pytest.importorskip("fastapi", reason="the service needs greenci[service]: pip install 'greenci[service]'")

from loopback import loopback_server  # noqa: E402
from test_service import JOB, intensity, serving  # noqa: E402, F401 - the module fixture is reused

from greenci.service import ServiceSettings  # noqa: E402
from greenci.service.dispatch import Dispatcher, DispatchSettings, signature  # noqa: E402
from greenci.service.store import JobStore  # noqa: E402

SECRET = "s3cret"


class Receiver(BaseHTTPRequestHandler):
    """A webhook receiver that records every call and answers with ``status``."""

    calls: ClassVar[list[dict]] = []
    status: ClassVar[int] = 200
    lock = threading.Lock()

    def do_POST(self) -> None:  # noqa: N802 - the http.server API
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with self.lock:
            type(self).calls.append({"body": body, "headers": dict(self.headers)})
        self.send_response(type(self).status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def receiver() -> Iterator[tuple[str, type[Receiver]]]:
    handler = type("R", (Receiver,), {"calls": [], "status": 200})
    with loopback_server(handler) as url:
        yield url, handler


def _settings(tmp_path: Path, intensity: Path, database_url: str | None = None,  # noqa: F811
              **dispatch: object) -> ServiceSettings:
    return ServiceSettings(data_dir=tmp_path / "data", database_url=database_url, regions=("DE-LU", "GB"),
                           intensity=(intensity,),
                           forecast="seasonal-naive",
                           dispatch=DispatchSettings(webhook_secret=SECRET, poll_s=0.05, backoff_s=0.02,
                                                     **dispatch))  # type: ignore[arg-type]


def _wait(cond, timeout_s: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_due_job_is_posted_once_signed_and_marked(tmp_path: Path, intensity: Path,  # noqa: F811
                                                    receiver: tuple[str, type[Receiver]],
                                                    database_url: str | None) -> None:
    url, handler = receiver
    with serving(_settings(tmp_path, intensity, database_url)) as http:
        job = http.post("/v1/jobs", json={**JOB, "dispatch": {"type": "webhook", "url": url + "/hook"}}).json()
        _wait(lambda: http.get(f"/v1/jobs/{job['id']}").json()["status"] == "dispatched")
        time.sleep(0.3)  # more polls: still one call
        assert len(handler.calls) == 1
        call = handler.calls[0]
        assert call["headers"]["X-Greenci-Signature"] == signature(SECRET, call["body"])
        assert call["headers"]["Idempotency-Key"] == job["id"]
        payload = json.loads(call["body"])
        assert payload["id"] == job["id"] and payload["region"] == job["decision"]["region"]
        seen = http.get(f"/v1/jobs/{job['id']}").json()
        assert seen["dispatch"]["attempts"] == 1 and seen["dispatch"]["dispatched_at"]
        assert http.post(f"/v1/jobs/{job['id']}/started").json()["status"] == "running"
        assert http.delete(f"/v1/jobs/{job['id']}").status_code == 409


def test_a_failing_target_is_retried_then_marked_failed_never_dropped(
        tmp_path: Path, intensity: Path, receiver: tuple[str, type[Receiver]],  # noqa: F811
        database_url: str | None) -> None:
    url, handler = receiver
    handler.status = 500
    with serving(_settings(tmp_path, intensity, database_url, max_attempts=3)) as http:
        job = http.post("/v1/jobs", json={**JOB, "dispatch": {"type": "webhook", "url": url}}).json()
        _wait(lambda: http.get(f"/v1/jobs/{job['id']}").json()["status"] == "failed")
        seen = http.get(f"/v1/jobs/{job['id']}").json()
        assert len(handler.calls) == 3 and seen["dispatch"]["attempts"] == 3
        assert "HTTP 500" in seen["dispatch"]["last_error"]
        assert [j["id"] for j in http.get("/v1/jobs", params={"status": "failed"}).json()["jobs"]] == [job["id"]]


def test_bad_dispatch_targets_are_refused_by_field(tmp_path: Path, intensity: Path) -> None:  # noqa: F811
    with serving(_settings(tmp_path, intensity)) as http:
        for target in ({"type": "carrier-pigeon"}, {"type": "webhook", "url": "ftp://x"},
                       {"type": "github"}, {"type": "command"}):
            got = http.post("/v1/jobs", json={**JOB, "dispatch": target})
            assert got.status_code == 422, target
            body = got.json()
            assert body.get("fields") == ["dispatch"] or body["detail"][0]["loc"][:2] == ["body", "dispatch"]
        assert http.get("/v1/jobs").json()["jobs"] == []


def test_two_dispatchers_on_one_store_dispatch_each_job_once(tmp_path: Path, intensity: Path,  # noqa: F811
                                                             receiver: tuple[str, type[Receiver]],
                                                             database_url: str | None) -> None:
    url, handler = receiver
    settings = _settings(tmp_path, intensity, database_url)
    with serving(ServiceSettings(**{**settings.__dict__, "dispatcher": False})) as http:
        ids = [http.post("/v1/jobs", json={**JOB, "job": f"j{i}", "dispatch": {"type": "webhook", "url": url}})
               .json()["id"] for i in range(20)]
    stores = [JobStore(settings.url), JobStore(settings.url)]
    workers = [Dispatcher(s, settings.dispatch, owner=f"worker-{k}") for k, s in enumerate(stores)]
    threads = [threading.Thread(target=lambda w=w: [w.run_once() for _ in range(30)]) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    posted = [json.loads(c["body"])["id"] for c in handler.calls]
    assert sorted(posted) == sorted(ids)  # every job once, none twice
    assert {j.status for j in stores[0].list(limit=100)} == {"dispatched"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


SERVER = """
import json, sys, uvicorn
from pathlib import Path
from greenci.service import ServiceSettings, create_app
from greenci.service.dispatch import DispatchSettings
a = json.loads(sys.argv[1])
s = ServiceSettings(data_dir=Path(a["data"]), database_url=a["db"], regions=("DE-LU", "GB"),
                    intensity=(Path(a["intensity"]),),
                    forecast="seasonal-naive", dispatcher=a["dispatcher"],
                    dispatch=DispatchSettings(webhook_secret="s3cret", poll_s=0.05))
uvicorn.run(create_app(s), host="127.0.0.1", port=a["port"], log_level="warning")
"""


def _start_server(data: Path, intensity: Path, dispatcher: bool,  # noqa: F811
                  database_url: str | None) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    args = json.dumps({"data": str(data), "intensity": str(intensity), "dispatcher": dispatcher, "port": port,
                       "db": database_url})
    proc = subprocess.Popen([sys.executable, "-c", SERVER, args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else "server died"
        try:
            return httpx.get(base + "/healthz", timeout=1, trust_env=False).status_code == 200
        except httpx.HTTPError:
            return False

    _wait(up, 60)
    return proc, base


def _token_header(data: Path, database_url: str | None) -> dict[str, str]:
    """A token of tenant acme, minted in the store before any server opens it."""
    from greenci.service.auth import create_token

    store = JobStore(ServiceSettings(data_dir=data, database_url=database_url).url)
    try:
        return {"Authorization": f"Bearer {create_token(store, 'acme')}"}
    finally:
        store.close()


def test_jobs_survive_sigkill_and_are_dispatched_once_after_restart(
        tmp_path: Path, intensity: Path, receiver: tuple[str, type[Receiver]],  # noqa: F811
        database_url: str | None) -> None:
    url, handler = receiver
    data = tmp_path / "data"
    auth = _token_header(data, database_url)
    first, base = _start_server(data, intensity, False, database_url)
    try:
        ids = [httpx.post(base + "/v1/jobs", json={**JOB, "job": f"j{i}", "dispatch": {"type": "webhook",
                                                                                          "url": url}},
                          trust_env=False, timeout=30, headers=auth).json()["id"] for i in range(5)]
    finally:
        os.kill(first.pid, signal.SIGKILL)  # no shutdown, no flush: what was acknowledged must be on disk
        first.wait(10)
    second, base = _start_server(data, intensity, True, database_url)
    try:
        _wait(lambda: len(handler.calls) >= 5, 30)
        time.sleep(0.5)
        jobs = {j["id"]: j for j in httpx.get(base + "/v1/jobs", trust_env=False, headers=auth).json()["jobs"]}
    finally:
        second.terminate()
        second.wait(10)
    assert sorted(json.loads(c["body"])["id"] for c in handler.calls) == sorted(ids)
    assert {jobs[i]["status"] for i in ids} == {"dispatched"}


class GitHubApi(BaseHTTPRequestHandler):
    """GitHub's workflow_dispatch endpoint on loopback: records calls, answers 204 as GitHub does."""

    calls: ClassVar[list[dict]] = []

    def do_POST(self) -> None:  # noqa: N802 - the http.server API
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        type(self).calls.append({"path": self.path, "body": json.loads(body), "auth": self.headers["Authorization"]})
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_github_workflow_dispatch_target(tmp_path: Path, intensity: Path) -> None:  # noqa: F811
    handler = type("G", (GitHubApi,), {"calls": []})
    with loopback_server(handler) as api:
        settings = _settings(tmp_path, intensity, github_token="ghs_test", github_api=api)
        with serving(settings) as http:
            job = http.post("/v1/jobs", json={**JOB, "dispatch": {"type": "github", "workflow_file": "nightly.yml",
                                                                  "ref": "main", "inputs": {"suite": "full"}}}).json()
            _wait(lambda: http.get(f"/v1/jobs/{job['id']}").json()["status"] == "dispatched")
    (call,) = handler.calls
    assert call["path"] == "/repos/acme/app/actions/workflows/nightly.yml/dispatches"
    assert call["auth"] == "Bearer ghs_test"
    assert call["body"] == {"ref": "main", "inputs": {"suite": "full", "greenci_job": job["id"],
                                                      "greenci_region": job["decision"]["region"]}}


def test_two_service_processes_on_one_store_dispatch_each_job_once(
        tmp_path: Path, intensity: Path, receiver: tuple[str, type[Receiver]],  # noqa: F811
        database_url: str | None) -> None:
    """Two processes, each with its dispatcher, on one database (a PostgreSQL, or one SQLite file)."""
    url, handler = receiver
    data = tmp_path / "data"
    auth = _token_header(data, database_url)
    servers = [_start_server(data, intensity, True, database_url) for _ in range(2)]
    try:
        ids = [httpx.post(servers[i % 2][1] + "/v1/jobs", headers=auth, trust_env=False, timeout=30,
                          json={**JOB, "job": f"j{i}", "dispatch": {"type": "webhook", "url": url}}).json()["id"]
               for i in range(30)]
        _wait(lambda: len(handler.calls) >= 30, 60)
        time.sleep(1.0)  # both dispatchers keep polling: nothing more may arrive
    finally:
        for proc, _base in servers:
            proc.terminate()
            proc.wait(10)
    assert sorted(json.loads(c["body"])["id"] for c in handler.calls) == sorted(ids)
