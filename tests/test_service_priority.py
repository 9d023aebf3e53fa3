"""Priority classes over real HTTP: critical jobs run now, flexible ones may wait longer, attainment per class."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the service needs greenci[service]: pip install 'greenci[service]'")

from test_service import JOB, intensity, serving  # noqa: E402, F401 - the module fixture is reused

from greenci.service import ServiceSettings  # noqa: E402
from greenci.service.auth import create_token  # noqa: E402
from greenci.service.priority import DEFAULT_CLASSES, PriorityClass  # noqa: E402

MORNING = {**JOB, "submitted_at": "2022-10-12T08:00:00Z", "deadline": None, "event": "push"}


@pytest.fixture()
def settings(tmp_path: Path, intensity: Path) -> ServiceSettings:  # noqa: F811
    batch = {"batch": PriorityClass("batch", 48 * 3600.0, 0.5, carbon_aware=True)}
    return ServiceSettings(data_dir=tmp_path / "data", regions=("DE-LU", "GB"), intensity=(intensity,),
                           forecast="seasonal-naive", dispatcher=False, tenant_classes={"globex": batch})


def test_classes_bound_the_wait(settings: ServiceSettings) -> None:
    with serving(settings) as http:
        critical = http.post("/v1/jobs", json={**MORNING, "priority": "critical"}).json()["decision"]
        normal = http.post("/v1/jobs", json={**MORNING, "priority": "normal"}).json()["decision"]
        flexible = http.post("/v1/jobs", json={**MORNING, "priority": "flexible"}).json()["decision"]
        assert critical["wait_s"] == 0
        assert 0 <= normal["wait_s"] <= DEFAULT_CLASSES["normal"].max_wait_s
        assert flexible["wait_s"] <= DEFAULT_CLASSES["flexible"].max_wait_s
        assert flexible["expected_g"] <= normal["expected_g"] + 1e-9 <= critical["expected_g"] + 2e-9
        got = http.post("/v1/jobs", json={**MORNING, "priority": "whenever"})
        assert got.status_code == 422 and got.json()["fields"] == ["priority"]


def test_attainment_per_class_and_tenant_classes(settings: ServiceSettings) -> None:
    with serving(settings) as http:
        on_time = http.post("/v1/jobs", json={**MORNING, "priority": "critical"}).json()
        late = http.post("/v1/jobs", json={**MORNING, "priority": "critical", "job": "other"}).json()
        http.post(f"/v1/jobs/{on_time['id']}/started", json={"at": "2022-10-12T08:00:00Z"})
        http.post(f"/v1/jobs/{late['id']}/started", json={"at": "2022-10-12T09:30:00Z"})  # 90 min late
        classes = http.get("/v1/stats").json()["priority_classes"]
        assert classes["critical"] == {**classes["critical"], "jobs": 2, "within_max_wait": 1, "share": 0.5,
                                       "met": False}
        assert classes["flexible"]["jobs"] == 0 and classes["flexible"]["met"] is None
        assert 'greenci_decisions_total{priority="critical",shifted="no"} 2.0' in http.get("/metrics").text
        globex = {"Authorization": f"Bearer {create_token(http.store, 'globex')}"}  # type: ignore[attr-defined]
        got = http.post("/v1/jobs", json={**MORNING, "priority": "batch"}, headers=globex)
        assert got.status_code == 201, got.text
        assert http.post("/v1/jobs", json={**MORNING, "priority": "batch"}).status_code == 422  # acme has no batch
        assert list(http.get("/v1/stats", headers=globex).json()["priority_classes"]) == ["batch"]
