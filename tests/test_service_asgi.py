"""``greenci serve --workers N`` hands the settings to each worker as JSON: they must come back whole."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the service needs greenci[service]: pip install 'greenci[service]'")

from greenci.service.asgi import settings_from_json, settings_to_json  # noqa: E402
from greenci.service.dispatch import DispatchSettings  # noqa: E402
from greenci.service.priority import PriorityClass  # noqa: E402
from greenci.service.settings import ServiceSettings  # noqa: E402


def test_settings_round_trip_through_json(tmp_path: Path) -> None:
    settings = ServiceSettings(
        data_dir=tmp_path, database_url="postgresql+psycopg://u@h/db", regions=("DE-LU", "GB"),
        intensity=(tmp_path / "a", tmp_path / "b"), forecast="persistence", buffer_h=3.0, history=(tmp_path / "t",),
        dispatch=DispatchSettings(webhook_secret="s", command=("run", "{id}"), max_attempts=3), auth=False,
        capacity={"GB": 2}, tenant_classes={"globex": {"batch": PriorityClass("batch", 7200.0, 0.5, True)}},
        batch_interval_s=0.012)
    assert settings_from_json(settings_to_json(settings)) == settings


def test_serve_refuses_a_batch_interval_out_of_range(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from greenci.cli import app

    r = CliRunner().invoke(app, ["serve", "--data-dir", str(tmp_path / "d"), "--batch-ms", "-1"])
    assert r.exit_code == 2 and "--batch-ms" in r.output, r.output
    assert not (tmp_path / "d" / "greenci.db").exists(), "nothing was started or created"
