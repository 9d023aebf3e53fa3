"""The scheduler service over real HTTP (uvicorn on a free loopback port), on an SQLite store and on PostgreSQL.

Intensity: two SYNTHETIC Electricity Maps yearly files written here (2022-08-01 .. 2022-10-20).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

pytest.importorskip("fastapi", reason="the service needs greenci[service]: pip install 'greenci[service]'")
pytest.importorskip("uvicorn", reason="the service needs greenci[service]: pip install 'greenci[service]'")

from loopback import uvicorn_server  # noqa: E402
from synthetic_intensity import write_em_folder  # noqa: E402

from greenci.service import ServiceSettings, create_app  # noqa: E402

AT = "2022-10-12T21:00:00Z"


@pytest.fixture(scope="module")
def intensity(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_em_folder(tmp_path_factory.mktemp("intensity"))


@contextmanager
def serving(settings: ServiceSettings, tenant: str = "acme",
            scopes: tuple[str, ...] = ("submit", "read")) -> Iterator[httpx.Client]:
    """The app of ``settings`` under uvicorn on a free port, and a client with a token of ``tenant``.

    ``client.store`` is the app's store (for minting more tokens), ``client.app_state`` its state; stopped
    on exit.
    """
    from greenci.service.auth import create_token

    app = create_app(settings)
    headers = {"Authorization": f"Bearer {create_token(app.state.store, tenant, scopes)}"} if settings.auth else {}
    with uvicorn_server(app) as url, httpx.Client(base_url=url, timeout=30, trust_env=False, headers=headers) as client:
        client.store = app.state.store  # type: ignore[attr-defined]
        client.app_state = app.state  # type: ignore[attr-defined]
        yield client


@pytest.fixture()
def settings(tmp_path: Path, intensity: Path, database_url: str | None) -> ServiceSettings:
    """On each store (conftest ``database_url``): SQLite in the data folder, and a fresh PostgreSQL database."""
    return ServiceSettings(data_dir=tmp_path / "data", database_url=database_url, regions=("DE-LU", "GB"),
                           intensity=(intensity,), forecast="seasonal-naive")


JOB = {"repo": "acme/app", "workflow": "nightly", "job": "build", "event": "schedule", "submitted_at": AT,
       "duration": "30m", "deadline": "8h"}


def test_a_job_gets_a_decision_that_is_kept(settings: ServiceSettings) -> None:
    with serving(settings) as http:
        got = http.post("/v1/jobs", json=JOB)
        assert got.status_code == 201, got.text
        job = got.json()
        d = job["decision"]
        assert job["status"] == "scheduled" and d["region"] in ("DE-LU", "GB")
        assert d["expected_g"] <= d["now_best_g"] + 1e-9 <= d["baseline_g"] + 1e-9 and d["wait_s"] >= 0
        assert d["forecast"].startswith("seasonal-naive forecast on intensity files")
        assert http.get(f"/v1/jobs/{job['id']}").json() == job
        assert [j["id"] for j in http.get("/v1/jobs", params={"repo": "acme/app"}).json()["jobs"]] == [job["id"]]
        assert http.get("/v1/jobs", params={"repo": "other/repo"}).json()["jobs"] == []
        assert http.get("/v1/regions").json()["regions"] == ["DE-LU", "GB"]
        assert http.get("/healthz").json()["status"] == "ok"


def test_idempotency_key_makes_retries_safe(settings: ServiceSettings) -> None:
    with serving(settings) as http:
        first = http.post("/v1/jobs", json=JOB, headers={"Idempotency-Key": "run-42"})
        again = http.post("/v1/jobs", json=JOB, headers={"Idempotency-Key": "run-42"})
        assert (first.status_code, again.status_code) == (201, 200)
        assert again.json()["id"] == first.json()["id"]
        other = http.post("/v1/jobs", json={**JOB, "duration": "5m"}, headers={"Idempotency-Key": "run-42"})
        assert other.status_code == 409 and "Idempotency-Key" in other.json()["detail"]
        assert len(http.get("/v1/jobs").json()["jobs"]) == 1
        # the route reads the header itself: the same checks as a declared FastAPI header, the same 422
        for bad, why in ((b"k" * 201, "at most 200 characters"), ("caf\u00e9".encode(), "should match pattern")):
            got = http.post("/v1/jobs", json=JOB, headers={"Idempotency-Key": bad})
            assert got.status_code == 422 and got.json()["fields"] == ["idempotency-key"], got.text
            assert why in got.json()["error"]
        assert len(http.get("/v1/jobs").json()["jobs"]) == 1


def test_bad_input_is_a_4xx_naming_the_field(settings: ServiceSettings) -> None:
    with serving(settings) as http:
        got = http.post("/v1/jobs", json={**JOB, "event": "tuesday"})
        assert got.status_code == 422 and got.json()["fields"] == ["event"] and "tuesday" in got.json()["error"]
        got = http.post("/v1/jobs", json={**JOB, "duration": "2h", "deadline": "30m"})
        assert got.status_code == 422 and set(got.json()["fields"]) == {"deadline", "duration"}
        got = http.post("/v1/jobs", json={**JOB, "power_kw": -1})
        assert got.status_code == 422 and got.json()["detail"][0]["loc"] == ["body", "power_kw"]
        got = http.post("/v1/jobs", json={**JOB, "colour": "green"})
        assert got.status_code == 422 and got.json()["detail"][0]["loc"] == ["body", "colour"]
        got = http.post("/v1/jobs", json={**JOB, "allowed_regions": ["Atlantis"]})
        assert got.status_code == 422 and "Atlantis" in got.json()["error"]
        assert http.get("/v1/jobs", params={"status": "lost"}).status_code == 422
        assert http.get("/v1/jobs/nope").status_code == 404
        assert http.get("/v1/jobs").json()["jobs"] == []  # nothing half-stored


def test_cancel_only_a_scheduled_job(settings: ServiceSettings) -> None:
    with serving(settings) as http:
        job = http.post("/v1/jobs", json=JOB).json()
        assert http.delete(f"/v1/jobs/{job['id']}").json()["status"] == "cancelled"
        again = http.delete(f"/v1/jobs/{job['id']}")
        assert again.status_code == 409 and "cancelled" in again.json()["detail"]
        assert http.post(f"/v1/jobs/{job['id']}/started").status_code == 409
        assert http.delete("/v1/jobs/nope").status_code == 404


def test_feedback_compares_actual_with_predicted_and_informs_the_next_estimate(settings: ServiceSettings) -> None:
    with serving(settings) as http:
        job = http.post("/v1/jobs", json={**JOB, "duration": None}).json()
        assert job["decision"]["estimate_source"] != "history"
        start = job["decision"]["start"]
        assert http.post(f"/v1/jobs/{job['id']}/completed", json={}).status_code == 409  # not started yet
        assert http.post(f"/v1/jobs/{job['id']}/started", json={"at": start}).json()["status"] == "running"
        done = http.post(f"/v1/jobs/{job['id']}/completed", json={"runtime_s": 2400}).json()
        actual = done["actual"]
        assert done["status"] == "completed" and actual["runtime_s"] == 2400
        assert actual["actual_g"] > 0 and actual["predicted_g"] == job["decision"]["expected_g"]
        assert actual["difference_g"] == pytest.approx(actual["actual_g"] - actual["predicted_g"])
        later = {**JOB, "duration": None, "submitted_at": "2022-10-13T21:00:00Z"}
        nxt = http.post("/v1/jobs", json=later).json()["decision"]
        assert nxt["estimate_source"] == "history" and nxt["history_runs"] == 1
        assert nxt["duration_estimate_s"] > 2400  # the run itself plus the buffer for a short history


def test_jobs_and_history_survive_a_restart(settings: ServiceSettings) -> None:
    with serving(settings) as http:
        job = http.post("/v1/jobs", json=JOB).json()
        http.post(f"/v1/jobs/{job['id']}/started", json={"at": job["decision"]["start"]})
        http.post(f"/v1/jobs/{job['id']}/completed", json={"runtime_s": 1800, "measured_kwh": 0.25})
    with serving(settings) as http:  # a new process would open the same folder the same way
        kept = http.get(f"/v1/jobs/{job['id']}").json()
        assert kept["status"] == "completed" and kept["measured_kwh"] == 0.25
        assert kept["actual"]["energy_source"] == "measured"
        nxt = http.post("/v1/jobs", json={**JOB, "submitted_at": "2022-10-13T21:00:00Z"}).json()["decision"]
        assert nxt["history_runs"] == 1


def test_a_scheduled_job_is_given_its_dispatch_target_later(settings: ServiceSettings) -> None:
    """What a run that decided to defer itself does: the decision stays, the service starts it later."""
    from dataclasses import replace

    from greenci.service.auth import create_token

    with serving(replace(settings, dispatcher=False)) as http:
        job = http.post("/v1/jobs", json=JOB).json()
        url = f"/v1/jobs/{job['id']}/dispatch"
        target = {"type": "github", "workflow_file": "nightly.yml", "ref": "main", "inputs": {"reason": "later"}}
        given = http.post(url, json=target)
        assert given.status_code == 200, given.text
        assert given.json()["dispatch"]["target"] == "github" and given.json()["decision"] == job["decision"]
        assert http.post(url, json=target).status_code == 200  # a retry
        other = http.post(url, json={**target, "workflow_file": "other.yml"})
        assert other.status_code == 409 and "another dispatch target" in other.json()["detail"]
        assert http.post(url, json={"type": "fax"}).status_code == 422
        stranger = {"Authorization": f"Bearer {create_token(http.store, 'globex')}"}  # type: ignore[attr-defined]
        assert http.post(url, json=target, headers=stranger).status_code == 404
        assert http.post(f"/v1/jobs/{job['id']}/started").status_code == 200
        assert http.post(url, json=target).status_code == 200  # a late retry of the same call: nothing changes
        fresh = http.post("/v1/jobs", json={**JOB, "job": "other"}).json()
        assert http.post(f"/v1/jobs/{fresh['id']}/started").status_code == 200
        late = http.post(f"/v1/jobs/{fresh['id']}/dispatch", json=target)
        assert late.status_code == 409 and "is running" in late.json()["detail"]
