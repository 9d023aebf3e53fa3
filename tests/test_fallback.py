"""The fallback chain: a decision always comes, and says how, when the forecast API fails (real loopback HTTP)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import ClassVar
from urllib.parse import parse_qs, urlparse

import numpy as np
import pytest
from loopback import loopback_server
from typer.testing import CliRunner

from greenci.cli import app
from greenci.errors import SourceError
from greenci.forecast import profile_forecast
from greenci.jobs import Job
from greenci.sources.electricitymaps_api import ElectricityMapsClient
from greenci.sources.fallback import DirectoryForecastStore, FallbackChain, MemoryForecastStore
from greenci.sources.providers import ClientForecasts
from greenci.usecases.plan import plan_job

T0 = datetime(2024, 3, 1, tzinfo=UTC)  # a Friday
TOKEN = "test-token-fallback"


def _intensity(zone: str, hour: int) -> float:
    """DE is cleanest from 03:00 to 05:00 UTC every day, FR is a flat 150."""
    if zone == "FR":
        return 150.0
    return 60.0 if 3 <= hour % 24 < 5 else 300.0


class _Api(BaseHTTPRequestHandler):
    """Electricity Maps' forecast endpoint for zones DE and FR, 48 hourly points from ``issued``; or failing."""

    failing: ClassVar[bool] = False
    issued: ClassVar[datetime] = T0
    requests: ClassVar[int] = 0

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802
        type(self).requests += 1
        url = urlparse(self.path)
        if self.failing:
            self._reply(503, {"error": "down for maintenance"})
            return
        zone = parse_qs(url.query).get("zone", ["?"])[0]
        if url.path != "/v3/carbon-intensity/forecast" or self.headers.get("auth-token") != TOKEN:
            self._reply(404, {"error": "not here"})
            return
        start = self.issued.replace(minute=0, second=0, microsecond=0)
        points = [{"datetime": (start + timedelta(hours=h)).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                   "carbonIntensity": _intensity(zone, start.hour + h)} for h in range(48)]
        self._reply(200, {"zone": zone, "forecast": points})

    def _reply(self, status: int, doc: object) -> None:
        body = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture()
def api() -> Iterator[str]:
    _Api.failing, _Api.issued, _Api.requests = False, T0, 0
    with loopback_server(_Api) as url:
        yield url


def _chain(url: str, store: object) -> FallbackChain:
    client = ElectricityMapsClient(TOKEN, base_url=url, retries=0, timeout_s=2.0)
    return FallbackChain(ClientForecasts(client, ttl_s=0.0), store)  # type: ignore[arg-type]


def _job(at: datetime, hours_to_deadline: float = 8.0) -> Job:
    return Job(id=f"nightly@{at.isoformat()}", repo="o/r", workflow="nightly", submitted_at=at, event="schedule",
               duration_estimate_s=3600.0, deadline=at + timedelta(hours=hours_to_deadline))


def _ends_in_time(d: object, job: Job) -> bool:
    start = datetime.fromisoformat(d.start)  # type: ignore[attr-defined]
    return start + timedelta(seconds=d.duration_estimate_s) <= job.deadline  # type: ignore[attr-defined,operator]


def test_each_fallback_step_in_turn_and_no_deadline_is_missed(api: str) -> None:
    store = MemoryForecastStore()
    chain = _chain(api, store)
    regions = ("DE", "FR")
    first = _job(T0)
    d = plan_job(first, intensity=chain, regions=regions)
    assert d.fallback is None and d.region == "DE" and d.start == "2024-03-01T03:00:00Z"
    assert _ends_in_time(d, first)

    _Api.failing = True  # the source goes down
    later = _job(T0 + timedelta(hours=1, minutes=20))
    d = plan_job(later, intensity=chain, regions=regions)
    assert d.fallback == "last-good" and "last good forecast" in d.forecast
    assert any("503" in n or "failed" in n for n in d.notes)
    assert d.region == "DE" and d.start == "2024-03-01T03:00:00Z" and _ends_in_time(d, later)

    stale = _job(T0 + timedelta(hours=27))  # the last good forecast is older than a day: profile of what was seen
    d = plan_job(stale, intensity=chain, regions=regions)
    assert d.fallback == "profile" and "hour-of-week" in d.forecast
    assert d.region == "DE" and d.start == "2024-03-02T03:00:00Z" and _ends_in_time(d, stale)

    # a region never seen: no profile for it, so the job runs now where the last known value was cleanest
    d = plan_job(_job(T0 + timedelta(hours=27)), intensity=chain, regions=("DE", "FR", "GB"))
    assert d.fallback == "run-now" and d.wait_s == 0.0
    assert d.region == "FR", "FR's last known 150 beats DE's last known 300"
    assert "no forecast" in d.reason and "last known values" in d.forecast

    empty = _chain(api, MemoryForecastStore())  # nothing known at all: still an answer, now, first region
    d = plan_job(_job(T0), intensity=empty, regions=regions)
    assert d.fallback == "run-now" and d.wait_s == 0.0 and d.region == "DE"


def test_the_last_good_forecast_survives_between_processes_in_a_folder(api: str, tmp_path: Path) -> None:
    plan_job(_job(T0), intensity=_chain(api, DirectoryForecastStore(tmp_path)), regions=("DE", "FR"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["DE.json", "FR.json"]
    _Api.failing = True
    d = plan_job(_job(T0 + timedelta(hours=2)), intensity=_chain(api, DirectoryForecastStore(tmp_path)),
                 regions=("DE", "FR"))
    assert d.fallback == "last-good" and d.start == "2024-03-01T03:00:00Z"


def test_a_damaged_cache_file_is_ignored_not_fatal(api: str, tmp_path: Path) -> None:
    (tmp_path / "DE.json").write_text("{not json")
    _Api.failing = True
    d = plan_job(_job(T0), intensity=_chain(api, DirectoryForecastStore(tmp_path)), regions=("DE", "FR"))
    assert d.fallback == "run-now"


def test_a_stale_api_forecast_counts_as_a_failure(api: str) -> None:
    _Api.issued = T0 - timedelta(days=3)  # the API serves a forecast that ended before the decision
    chain = _chain(api, MemoryForecastStore())
    with pytest.raises(SourceError, match="stale"):
        chain.primary.forecast(["DE"], int(T0.timestamp()), 3600)
    assert plan_job(_job(T0), intensity=chain, regions=("DE", "FR")).fallback == "run-now"


def test_profile_forecast_is_the_hour_of_week_mean_of_past_values_only() -> None:
    week = 7 * 24 * 3600
    t = np.arange(0, 4 * week, 3600, dtype=np.int64)  # four weeks of hourly values from the epoch
    v = (t // 3600 % 168).astype(float)  # each value is its hour of the (epoch) week: the same every week
    issued = 3 * week + 5 * 3600
    out, how = profile_forecast(t, np.where(t < issued, v, 1e9), issued, 5 * 3600)
    np.testing.assert_allclose(out, (np.arange(5) + issued // 3600) % 168)  # the future (1e9) is never read
    assert "3.0 weeks" in how
    gappy, _ = profile_forecast(t[:24], v[:24], issued, 3600)  # one day seen: the hour of the day stands in
    assert gappy[0] == pytest.approx(v[(issued // 3600) % 24])


def test_schedule_cli_answers_from_the_fallback_when_the_api_fails(api: str, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GREENCI_ELECTRICITYMAPS_TOKEN", TOKEN)
    monkeypatch.setenv("GREENCI_ELECTRICITYMAPS_URL", api)
    monkeypatch.setenv("GREENCI_HTTP_RETRIES", "0")
    monkeypatch.setenv("GREENCI_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("GREENCI_CONFIG", str(tmp_path / "none.toml"))
    (tmp_path / "none.toml").write_text("")
    args = ["schedule", "--source", "electricitymaps", "--regions", "DE,FR", "--event", "schedule", "--duration",
            "1h", "--deadline", "8h", "--format", "json"]
    ok = CliRunner().invoke(app, [*args, "--at", "2024-03-01T00:00Z"])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["fallback"] is None
    _Api.failing = True
    down = CliRunner().invoke(app, [*args, "--at", "2024-03-01T01:00Z"])
    assert down.exit_code == 0, down.output
    d = json.loads(down.stdout)
    assert d["fallback"] == "last-good" and d["start"] == "2024-03-01T03:00:00Z"
    assert any("electricitymaps" in n for n in d["notes"])
