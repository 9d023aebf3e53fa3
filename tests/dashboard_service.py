"""The service the dashboard tests look at: uvicorn on a free loopback port over SQLite, with jobs of two tenants.

Intensity: SYNTHETIC Electricity Maps files (tests/synthetic_intensity.py's daily sine) written around the
real clock, so that "now", the 48 h forecast, the deferred windows and the actuals of completed jobs all
exist. The phase puts the cleanest hour about 8 h ahead, so flexible jobs are deferred to it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from loopback import uvicorn_server
from synthetic_intensity import em_yearly_csv

from greenci.service import ServiceSettings, create_app
from greenci.service.auth import create_token

DAYS_BEFORE, DAYS_AFTER = 40, 4


def intensity_around_now(root: Path, now_s: float | None = None) -> Path:
    """``root/ZONE/ZONE_hourly.csv`` (SYNTHETIC) from 40 days before now to 4 days after, cleanest ~8 h ahead."""
    now = int(time.time() if now_s is None else now_s)
    start = (now // 86400 - DAYS_BEFORE) * 86400
    hour_now = (now - start) / 3600
    phase = 0.75 - ((hour_now + 8) / 24) % 1.0  # sin(...) = -1 (the minimum) at now + 8 h
    for zone, extra in (("DE-LU", 0.0), ("GB", 0.1)):
        (root / zone).mkdir(parents=True, exist_ok=True)
        text = em_yearly_csv(zone, start=str(np.datetime64(start, "s"))[:16], days=DAYS_BEFORE + DAYS_AFTER,
                             phase=phase + extra, amplitude=150.0 if extra == 0 else 110.0)
        (root / zone / f"{zone}_hourly.csv").write_text(text, encoding="utf-8")
    return root


@dataclass
class Running:
    """A started service: its base URL, its app state, and one token per role."""

    url: str
    state: Any
    tokens: dict[str, str]

    def api(self, role: str) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30, trust_env=False,
                            headers={"Authorization": f"Bearer {self.tokens[role]}"})

    @contextmanager
    def session(self, role: str) -> Iterator[httpx.Client]:
        """A client signed in to the dashboard as ``role`` (the cookie the login set)."""
        with httpx.Client(base_url=self.url, timeout=30, trust_env=False, follow_redirects=False) as client:
            got = client.post("/ui/login", data={"token": self.tokens[role], "next": "/ui/now"})
            assert got.status_code == 303, got.text
            yield client


ROLES = {  # role: (tenant, scopes)
    "acme-submit": ("acme", ("submit", "read")),
    "acme-read": ("acme", ("read",)),
    "acme-admin": ("acme", ("read", "admin")),
    "globex-submit": ("globex", ("submit", "read")),
    "globex-read": ("globex", ("read",)),
}


def settings_for(root: Path) -> ServiceSettings:
    return ServiceSettings(data_dir=root / "data", regions=("DE-LU", "GB"), forecast="seasonal-naive",
                           intensity=(intensity_around_now(root / "intensity"),), dispatcher=False)


@contextmanager
def running(settings: ServiceSettings) -> Iterator[Running]:
    """The app of ``settings`` under uvicorn on a free port, with a token per role; stopped on exit."""
    app = create_app(settings)
    tokens = {role: create_token(app.state.store, tenant, scopes) for role, (tenant, scopes) in ROLES.items()}
    with uvicorn_server(app) as url:
        yield Running(url, app.state, tokens)


def job(repo: str, name: str, priority: str = "flexible", deadline: str = "24h") -> dict[str, Any]:
    return {"repo": repo, "workflow": "nightly", "job": name, "event": "schedule", "duration": "30m",
            "deadline": deadline, "priority": priority}


def seed(svc: Running) -> dict[str, list[str]]:
    """Jobs through the API: acme 3 deferred + 1 completed (critical, ran now), globex 2 deferred."""
    ids: dict[str, list[str]] = {"acme": [], "globex": [], "acme-completed": []}
    with svc.api("acme-submit") as acme, svc.api("globex-submit") as globex:
        for k in range(3):
            got = acme.post("/v1/jobs", json=job("acme/app", f"build-{k}"))
            assert got.status_code == 201, got.text
            ids["acme"].append(got.json()["id"])
        done = acme.post("/v1/jobs", json=job("acme/lib", "test", priority="critical", deadline="2h")).json()
        assert acme.post(f"/v1/jobs/{done['id']}/started").status_code == 200
        got = acme.post(f"/v1/jobs/{done['id']}/completed", json={"runtime_s": 1800})
        assert got.status_code == 200 and got.json()["actual"]["actual_g"] is not None, got.text
        ids["acme-completed"].append(done["id"])
        for k in range(2):
            got = globex.post("/v1/jobs", json=job("globex/secret-repo", f"deploy-{k}"))
            assert got.status_code == 201, got.text
            ids["globex"].append(got.json()["id"])
    return ids


def write_replay(outdir: Path) -> Path:
    """A SYNTHETIC ``greenci simulate -o`` folder (summary.json and figure2.png) from a small seeded replay."""
    from greenci.scheduling.strategies import make_strategy
    from greenci.simulation import simulate
    from greenci.simulation_report import write_outputs
    from greenci.synthetic import synthetic_grid
    from greenci.tracegen import generate_study_trace

    jobs = generate_study_trace(start="2022-10-12T00:00Z", days=1, runs=120, seed=7)
    grid = synthetic_grid(["DE-LU", "GB", "SG"], start="2022-09-20T00:00Z", hours=24 * 26, seed=7)
    result = simulate(jobs, grid, [make_strategy(n) for n in ("round-robin", "lts-3", "greenci")],
                      forecast="persistence")
    write_outputs(result, outdir)
    return outdir
