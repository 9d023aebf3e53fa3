"""With an API source, the service fetches forecasts in the background: a decision never waits for the API."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the service needs greenci[service]: pip install 'greenci[service]'")

from test_fallback import TOKEN, _Api  # noqa: E402
from test_service import serving  # noqa: E402

from greenci.service import ServiceSettings  # noqa: E402


def test_forecasts_are_refreshed_in_the_background(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from loopback import loopback_server

    handler = type("A", (_Api,), {"failing": False, "issued": datetime.now(UTC), "requests": 0})
    with loopback_server(handler) as url:
        monkeypatch.setenv("GREENCI_ELECTRICITYMAPS_TOKEN", TOKEN)
        monkeypatch.setenv("GREENCI_ELECTRICITYMAPS_URL", url)
        (tmp_path / "config.toml").write_text("", encoding="utf-8")  # no credentials from this machine's config
        monkeypatch.setenv("GREENCI_CONFIG", str(tmp_path / "config.toml"))
        settings = ServiceSettings(data_dir=tmp_path / "data", regions=("DE", "FR"), source="electricitymaps",
                                   dispatcher=False, refresh_s=3600)
        with serving(settings) as http:
            deadline = time.monotonic() + 20
            while handler.requests < 2:  # both zones fetched before any job asked
                assert time.monotonic() < deadline, "no background refresh"
                time.sleep(0.05)
            before = handler.requests
            got = http.post("/v1/jobs", json={"repo": "acme/app", "event": "schedule", "duration": "1h"})
            assert got.status_code == 201, got.text
            assert got.json()["decision"]["forecast"].startswith("electricitymaps")
            assert handler.requests == before  # the decision used the forecast held, not a new API call
