"""Tenants and tokens over real HTTP: who may do what, and a tenant never sees another's jobs."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

pytest.importorskip("fastapi", reason="the service needs greenci[service]: pip install 'greenci[service]'")

from test_service import JOB, intensity, serving  # noqa: E402, F401 - the module fixture is reused

from greenci.service import ServiceSettings  # noqa: E402
from greenci.service.auth import create_token, list_tokens, revoke_token  # noqa: E402


@pytest.fixture()
def settings(tmp_path: Path, intensity: Path, database_url: str | None) -> ServiceSettings:  # noqa: F811
    return ServiceSettings(data_dir=tmp_path / "data", database_url=database_url, regions=("DE-LU", "GB"),
                           intensity=(intensity,), forecast="seasonal-naive", dispatcher=False)


def _as(http: httpx.Client, token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_tokens_are_required_checked_and_scoped(settings: ServiceSettings) -> None:
    with serving(settings) as http:
        anon = {"Authorization": ""}
        got = http.post("/v1/jobs", json=JOB, headers=anon)
        assert got.status_code == 401 and got.headers["WWW-Authenticate"] == "Bearer"
        for bad in ({**JOB, "colour": "green"}, {"repo": 3}):  # a token is checked before the body is judged
            assert http.post("/v1/jobs", json=bad, headers=anon).status_code == 401
        assert http.get("/v1/jobs", headers={"Authorization": "Bearer gci_nothing_here"}).status_code == 401
        assert http.get("/v1/forecast", params={"region": "GB"}, headers=anon).status_code == 401
        assert http.get("/healthz", headers=anon).status_code == 200
        assert http.get("/metrics", headers=anon).status_code == 200
        reader = create_token(http.store, "acme", ("read",))  # type: ignore[attr-defined]
        got = http.post("/v1/jobs", json=JOB, headers=_as(http, reader))
        assert got.status_code == 403 and "submit" in got.json()["detail"]
        assert http.get("/v1/jobs", headers=_as(http, reader)).status_code == 200
        token_id = reader.split("_")[1]
        assert revoke_token(http.store, token_id)  # type: ignore[attr-defined]
        assert http.get("/v1/jobs", headers=_as(http, reader)).status_code == 401
        listed = list_tokens(http.store)  # type: ignore[attr-defined]
        assert all(reader.split("_", 2)[2] not in str(t) for t in listed)  # the secret is never stored
        assert next(t for t in listed if t["id"] == token_id)["revoked"] is True


def test_a_tenant_never_sees_or_changes_another_tenants_jobs(settings: ServiceSettings) -> None:
    with serving(settings, tenant="acme") as http:
        other = _as(http, create_token(http.store, "globex"))  # type: ignore[attr-defined]
        admin = _as(http, create_token(http.store, "ops", ("admin",)))  # type: ignore[attr-defined]
        mine = http.post("/v1/jobs", json=JOB, headers={"Idempotency-Key": "k1"}).json()
        theirs = http.post("/v1/jobs", json=JOB, headers={**other, "Idempotency-Key": "k1"})
        assert theirs.status_code == 201 and theirs.json()["id"] != mine["id"]  # keys are per tenant
        assert mine["tenant"] == "acme" and theirs.json()["tenant"] == "globex"
        for call in (lambda: http.get(f"/v1/jobs/{mine['id']}", headers=other),
                     lambda: http.delete(f"/v1/jobs/{mine['id']}", headers=other),
                     lambda: http.post(f"/v1/jobs/{mine['id']}/started", headers=other)):
            assert call().status_code == 404
        assert [j["id"] for j in http.get("/v1/jobs", headers=other).json()["jobs"]] == [theirs.json()["id"]]
        assert http.get("/v1/stats", headers=other).json()["jobs"] == 1
        assert http.get(f"/v1/jobs/{mine['id']}").json()["status"] == "scheduled"  # untouched
        assert len(http.get("/v1/jobs", headers=admin).json()["jobs"]) == 2


def test_rate_limit_per_token(tmp_path: Path, intensity: Path) -> None:  # noqa: F811
    settings = ServiceSettings(data_dir=tmp_path / "data", regions=("DE-LU", "GB"), intensity=(intensity,),
                               forecast="persistence", dispatcher=False, rate_per_s=0.5, rate_burst=3)
    with serving(settings) as http:
        codes = [http.get("/v1/jobs").status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        limited = http.get("/v1/jobs")
        assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
        other = _as(http, create_token(http.store, "globex"))  # type: ignore[attr-defined]
        assert http.get("/v1/jobs", headers=other).status_code == 200  # a bucket per token


def test_token_cli_creates_lists_and_revokes(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from greenci.cli import app

    data = tmp_path / "data"
    made = CliRunner().invoke(app, ["token", "create", "--tenant", "acme", "--scopes", "submit,read",
                                    "--data-dir", str(data)])
    assert made.exit_code == 0, made.output
    token = made.stdout.strip().splitlines()[-1]
    assert token.startswith("gci_")
    listed = CliRunner().invoke(app, ["token", "list", "--data-dir", str(data)])
    assert "acme" in listed.stdout and token.split("_", 2)[2] not in listed.stdout
    gone = CliRunner().invoke(app, ["token", "revoke", token.split("_")[1], "--data-dir", str(data)])
    assert gone.exit_code == 0
    bad = CliRunner().invoke(app, ["token", "create", "--tenant", "Acme Corp!", "--data-dir", str(data)])
    assert bad.exit_code == 2 and "--tenant" in bad.stderr


def test_jobs_cli_lists_shows_and_cancels_over_the_api(settings: ServiceSettings) -> None:
    from typer.testing import CliRunner

    from greenci.cli import app

    with serving(settings) as http:
        job = http.post("/v1/jobs", json=JOB).json()
        base = ["--url", str(http.base_url), "--token", http.headers["Authorization"].split()[1]]
        listed = CliRunner().invoke(app, ["jobs", "list", *base])
        assert listed.exit_code == 0 and job["id"] in listed.stdout and "scheduled" in listed.stdout
        shown = CliRunner().invoke(app, ["jobs", "show", job["id"], *base])
        assert shown.exit_code == 0 and '"decision"' in shown.stdout
        assert "cancelled" in CliRunner().invoke(app, ["jobs", "cancel", job["id"], *base]).stdout
        again = CliRunner().invoke(app, ["jobs", "cancel", job["id"], *base])
        assert again.exit_code == 2 and "HTTP 409" in again.stderr
        anon = CliRunner().invoke(app, ["jobs", "list", "--url", str(http.base_url), "--token", "nope"])
        assert anon.exit_code == 4 and "HTTP 401" in anon.stderr
    gone = CliRunner().invoke(app, ["jobs", "list", "--url", "http://127.0.0.1:9"])
    assert gone.exit_code == 4 and "cannot reach the service" in gone.stderr


def test_a_token_in_use_is_read_again_in_the_background_and_a_revocation_still_lands_within_the_ttl(
        tmp_path: Path) -> None:
    from greenci.service.auth import TokenCache
    from greenci.service.store import JobStore

    url = f"sqlite:///{tmp_path / 'tokens.db'}"
    store, other = JobStore(url), JobStore(url)  # other: another service process sharing the database
    token = create_token(store, "acme", ("submit",))
    cache = TokenCache(store, ttl_s=0.6)
    try:
        assert cache.get(token) is not None and cache.refreshes == 0  # read while the request waits
        t0 = time.monotonic()
        while cache.refreshes == 0 and time.monotonic() - t0 < 0.55:  # in use past its refresh point
            assert cache.cached(token) is not None, "a token in use was dropped before its ttl"
            time.sleep(0.01)
        assert cache.refreshes == 1, "the token was not read again before it expired"
        refreshed_at = time.monotonic()
        while time.monotonic() - refreshed_at < 0.4:  # past the first read's ttl: the refresh's answer holds
            assert cache.cached(token) is not None
            time.sleep(0.01)

        assert revoke_token(other, token.split("_")[1])  # revoked elsewhere: this cache learns it by reading
        revoked_at = time.monotonic()
        while cache.get(token) is not None:
            assert time.monotonic() - revoked_at < 0.6 + 0.05, "a revoked token was accepted past the ttl"
            time.sleep(0.01)
        assert cache.get(token) is None
    finally:
        cache.close()
        store.close()
        other.close()
