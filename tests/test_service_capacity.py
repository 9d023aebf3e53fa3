"""Runner pools over real HTTP: a decision reserves its region's runner; a full pool moves the next job."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="the service needs greenci[service]: pip install 'greenci[service]'")

from test_service import JOB, intensity, serving  # noqa: E402, F401 - the module fixture is reused

from greenci.service import ServiceSettings  # noqa: E402

FLEXIBLE = {**JOB, "submitted_at": "2022-10-12T08:00:00Z", "deadline": "20h", "duration": "2h", "event": "push",
            "priority": "flexible"}


def _span(d: dict) -> tuple[str, int, int]:
    start = int(np.datetime64(d["start"].rstrip("Z"), "s").astype(np.int64))
    return d["region"], start, start + int(np.ceil(d["duration_estimate_s"]))


def test_a_full_pool_moves_the_next_job(tmp_path: Path, intensity: Path, database_url: str | None) -> None:  # noqa: F811
    settings = ServiceSettings(data_dir=tmp_path / "data", database_url=database_url, regions=("DE-LU", "GB"),
                               intensity=(intensity,), forecast="seasonal-naive", dispatcher=False,
                               capacity={"DE-LU": 1, "GB": 1})
    with serving(settings) as http:
        decided = [http.post("/v1/jobs", json={**FLEXIBLE, "job": f"j{i}"}).json()["decision"] for i in range(4)]
        spans = [_span(d) for d in decided]
        for region in ("DE-LU", "GB"):  # never two runs at once on one runner
            mine = sorted((a, b) for r, a, b in spans if r == region)
            assert all(b1 <= a2 for (_, b1), (a2, _) in zip(mine, mine[1:], strict=False)), mine
        assert decided[0]["expected_g"] <= decided[-1]["expected_g"]  # later jobs get what is left
        assert any("capacity" in d["reason"] for d in decided[1:])
        first = http.get("/v1/jobs").json()["jobs"][-1]
        http.delete(f"/v1/jobs/{first['id']}")  # a cancelled job frees its runner
        again = http.post("/v1/jobs", json={**FLEXIBLE, "job": "again"}).json()["decision"]
        assert _span(again)[:2] == spans[0][:2]
