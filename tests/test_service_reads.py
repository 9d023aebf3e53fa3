"""The service's read endpoints over real HTTP: its forecast, statistics, Prometheus metrics, and the Carbon
Aware SDK's shapes, read back by greenci's own SDK client. Intensity: SYNTHETIC files (see test_service).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="the service needs greenci[service]: pip install 'greenci[service]'")

from test_service import AT, JOB, intensity, serving  # noqa: E402, F401 - the module fixture is reused

from greenci.service import ServiceSettings  # noqa: E402


@pytest.fixture()
def files_settings(tmp_path: Path, intensity: Path) -> ServiceSettings:  # noqa: F811
    return ServiceSettings(data_dir=tmp_path / "data", regions=("DE-LU", "GB"), intensity=(intensity,),
                           forecast="seasonal-naive", dispatcher=False)


def test_forecast_stats_and_metrics(files_settings: ServiceSettings) -> None:
    with serving(files_settings) as http:
        f = http.get("/v1/forecast", params={"region": "GB", "at": AT, "hours": 12}).json()
        assert f["issued_at"] == AT and f["step_s"] == 3600 and len(f["values"]) == 12
        assert f["method"].startswith("seasonal-naive") and f["synthetic"] is False
        assert http.get("/v1/forecast", params={"region": "Atlantis"}).json()["fields"] == ["location"]
        job = http.post("/v1/jobs", json=JOB).json()
        http.post(f"/v1/jobs/{job['id']}/started", json={"at": job["decision"]["start"]})
        done = http.post(f"/v1/jobs/{job['id']}/completed", json={"runtime_s": 1800}).json()
        stats = http.get("/v1/stats").json()
        assert stats["jobs"] == 1 and stats["by_status"]["completed"] == 1
        assert stats["actual_g"] == pytest.approx(done["actual"]["actual_g"])
        text = http.get("/metrics").text
        assert "greenci_decisions_total" in text and "greenci_actual_grams_total" in text
        line = next(x for x in text.splitlines() if x.startswith("greenci_predicted_grams_total "))
        assert float(line.split()[1]) == pytest.approx(job["decision"]["expected_g"])


def test_carbon_aware_sdk_shapes_for_past_emissions(files_settings: ServiceSettings) -> None:
    from greenci.sources.carbon_aware_sdk import emissions_series

    with serving(files_settings) as http:
        rows = http.get("/emissions/bylocation", params={"location": "GB", "time": "2022-10-12T00:00:00Z",
                                                         "toTime": "2022-10-12T06:00:00Z"}).json()
        assert len(rows) == 6 and rows[0] == {**rows[0], "location": "GB", "duration": "01:00:00"}
        series = emissions_series(rows, region="GB", signal="average", source="greenci service")
        assert series.values_g_per_kwh.size == 6
        best = http.get("/emissions/bylocations/best", params=[("location", "GB"), ("location", "DE-LU"),
                                                                 ("time", "2022-10-12T03:00:00Z")]).json()
        both = http.get("/emissions/bylocation", params={"location": "DE-LU", "time": "2022-10-12T03:00:00Z"}).json()
        assert best[0]["rating"] <= both[0]["rating"] and len(best) == 1
        bad = http.get("/emissions/bylocation", params={"location": "GB", "time": "2022-10-12T06:00:00Z",
                                                        "toTime": "2022-10-12T00:00:00Z"})
        assert bad.status_code == 422 and bad.json()["fields"] == ["toTime"]


def test_sdk_client_reads_the_current_forecast(tmp_path: Path) -> None:
    """greenci's own ``--source carbon-aware-sdk`` client, pointed at a greenci service (synthetic model)."""
    from greenci.sources.carbon_aware_sdk import CarbonAwareSDKClient

    settings = ServiceSettings(data_dir=tmp_path / "data", regions=("DE-LU", "GB"), forecast="persistence",
                               dispatcher=False, public_reads=True)  # the SDK's clients send no token
    with serving(settings) as http:
        raw = http.get("/emissions/forecasts/current", params={"location": "GB", "windowSize": 60}).json()
        assert raw[0]["location"] == "GB" and raw[0]["optimalDataPoints"] and raw[0]["forecastData"]
        with CarbonAwareSDKClient(str(http.base_url), signal="average") as client:
            series = client.forecast("GB")
        values = np.array([p["value"] for p in raw[0]["forecastData"]])
        assert series.values_g_per_kwh.size == values.size
        assert np.allclose(series.values_g_per_kwh, values)
        best = raw[0]["optimalDataPoints"][0]["value"]
        assert best == pytest.approx(values.min())  # a 60-minute window of hourly values: the lowest hour
