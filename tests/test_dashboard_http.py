"""The dashboard over plain HTTP: login cookies, redirects, scopes, CSRF, tenant isolation, uploads, headers.

A real uvicorn server on a free port over SQLite, with jobs of two tenants submitted through the API first
(SYNTHETIC intensity: tests/dashboard_service.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the service needs greenci[service]: pip install 'greenci[service]'")
pytest.importorskip("uvicorn", reason="the service needs greenci[service]: pip install 'greenci[service]'")
pytest.importorskip("jinja2", reason="the dashboard needs greenci[service]: pip install 'greenci[service]'")
pytest.importorskip("python_multipart", reason="the dashboard needs greenci[service]: pip install 'greenci[service]'")

from dashboard_service import Running, running, seed, settings_for, write_replay  # noqa: E402

from greenci.service.auth import create_token  # noqa: E402
from greenci.service.ui.session import COOKIE, csrf_for  # noqa: E402

PAGES = ("/ui/now", "/ui/outcomes", "/ui/sources", "/ui/replays")


@pytest.fixture(scope="module")
def svc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Running, dict[str, list[str]]]]:
    root = tmp_path_factory.mktemp("dashboard-http")
    with running(settings_for(root)) as service:
        yield service, seed(service)


@pytest.fixture(scope="module")
def replay(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_replay(tmp_path_factory.mktemp("replay"))


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]{64})"', html)
    assert found, "no CSRF field on the page"
    return found.group(1)


def test_pages_redirect_to_the_login_without_a_valid_cookie(svc) -> None:
    service, _ids = svc
    with service.session("acme-read") as signed_in:
        pass
    import httpx

    with httpx.Client(base_url=service.url, trust_env=False, follow_redirects=False) as anon:
        for path in PAGES:
            got = anon.get(path)
            assert got.status_code == 303 and got.headers["location"] == f"/ui/login?next={path}", path
        anon.cookies.set(COOKIE, "gci_nothere_nosecret", domain="127.0.0.1", path="/ui")
        got = anon.get("/ui/outcomes")
        assert got.status_code == 303 and got.headers["location"].startswith("/ui/login")
        assert f'{COOKIE}=""' in got.headers["set-cookie"] or "Max-Age=0" in got.headers["set-cookie"]
        login = anon.get("/ui/login")
        assert login.status_code == 200 and 'name="token"' in login.text
        assert anon.get("/ui/now/forecast.csv").status_code == 303  # downloads too
    assert signed_in.cookies.get(COOKIE)


def test_login_sets_an_http_only_strict_cookie_secure_over_https(svc) -> None:
    service, _ids = svc
    import httpx

    with httpx.Client(base_url=service.url, trust_env=False, follow_redirects=False) as c:
        got = c.post("/ui/login", data={"token": service.tokens["acme-read"], "next": "/ui/outcomes"})
        assert got.status_code == 303 and got.headers["location"] == "/ui/outcomes"
        cookie = got.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/ui" in cookie
        assert "Secure" not in cookie  # plain http on loopback
        assert c.get("/ui/outcomes").status_code == 200
        # behind a TLS proxy (uvicorn trusts X-Forwarded-Proto from 127.0.0.1): the cookie is Secure
        got = c.post("/ui/login", data={"token": service.tokens["acme-read"]}, headers={"X-Forwarded-Proto": "https"})
        assert "Secure" in got.headers["set-cookie"]
        # a token that is wrong, or lacks the read scope, is refused with a message; never an open redirect
        bad = c.post("/ui/login", data={"token": "gci_abc_def"})
        assert bad.status_code == 401 and "not accepted" in bad.text and "set-cookie" not in bad.headers
        submit_only = create_token(service.state.store, "acme", ("submit",))
        got = c.post("/ui/login", data={"token": submit_only})
        assert got.status_code == 403 and "read" in got.text
        got = c.post("/ui/login", data={"token": service.tokens["acme-read"], "next": "//evil.example/"})
        assert got.headers["location"] == "/ui/now"


def test_logout_clears_the_cookie(svc) -> None:
    service, _ids = svc
    with service.session("acme-read") as c:
        out = c.post("/ui/logout")
        assert out.status_code == 303 and out.headers["location"] == "/ui/login"
        assert "Max-Age=0" in out.headers["set-cookie"] or 'greenci_session=""' in out.headers["set-cookie"]
        assert c.get("/ui/now").status_code == 303


def test_cancel_needs_the_admin_scope_and_the_csrf_token(svc) -> None:
    service, ids = svc
    victim = ids["acme"][0]
    with service.session("acme-read") as reader:
        page = reader.get("/ui/now").text
        assert victim in page and "data-cancel" not in page  # no cancel button for a read token
        token = reader.cookies.get(COOKIE)
        refused = reader.post(f"/ui/jobs/{victim}/cancel", data={"csrf": csrf_for(token)})
        assert refused.status_code == 403 and "admin scope" in refused.text
    with service.session("acme-admin") as admin:
        page = admin.get("/ui/now").text
        csrf = _csrf(page)
        assert f'data-cancel="{victim}"' in page
        for form in ({}, {"csrf": "0" * 64}, {"csrf": csrf_for(service.tokens["acme-read"])}):
            got = admin.post(f"/ui/jobs/{victim}/cancel", data=form)
            assert got.status_code == 403 and "CSRF" in got.text, form
        with service.api("acme-read") as api:
            assert api.get(f"/v1/jobs/{victim}").json()["status"] == "scheduled"
            done = admin.post(f"/ui/jobs/{victim}/cancel", data={"csrf": csrf})
            assert done.status_code == 303 and done.headers["location"] == f"/ui/now?done={victim}"
            assert api.get(f"/v1/jobs/{victim}").json()["status"] == "cancelled"
        again = admin.post(f"/ui/jobs/{victim}/cancel", data={"csrf": csrf})
        assert again.status_code == 409 and "cancelled" in again.text
        assert admin.post("/ui/jobs/not-a-job/cancel", data={"csrf": csrf}).status_code == 404
        after = admin.get(f"/ui/now?done={victim}").text
        assert "was cancelled" in after and f'data-job="{victim}"' not in after


def test_a_tenant_never_sees_another_tenants_jobs(svc) -> None:
    service, ids = svc
    with service.session("acme-read") as acme, service.session("globex-read") as globex:
        acme_text = "".join(acme.get(p).text for p in (*PAGES, "/ui/now/forecast.csv", "/ui/outcomes/decisions.csv",
                                                       "/ui/outcomes/saving.csv", "/ui/outcomes/completed.csv"))
        globex_text = "".join(globex.get(p).text for p in (*PAGES, "/ui/outcomes/completed.csv"))
        assert "globex" not in acme_text and not any(i in acme_text for i in ids["globex"])
        assert "acme/" not in globex_text and not any(i in globex_text for i in ids["acme"] + ids["acme-completed"])
        assert all(i in globex.get("/ui/now").text for i in ids["globex"])
        assert ids["acme-completed"][0] in acme.get("/ui/outcomes/completed.csv").text
        assert "acme/lib" in acme.get("/ui/outcomes").text
    with service.session("acme-admin") as admin:  # admin tokens see every tenant, as in the API
        page = admin.get("/ui/now").text
        assert all(i in page for i in ids["globex"]) and "globex/secret-repo" in page


def test_replays_upload_show_and_stay_within_the_tenant(svc, replay: Path) -> None:
    service, _ids = svc
    summary = (replay / "summary.json").read_bytes()
    figure = (replay / "figure2.png").read_bytes()
    files = {"summary": ("summary.json", summary, "application/json"), "figure": ("figure2.png", figure, "image/png")}
    with service.session("acme-read") as reader:
        refused = reader.post("/ui/replays", data={"csrf": csrf_for(reader.cookies.get(COOKIE)), "name": "x"},
                              files=files)
        assert refused.status_code == 403 and "admin scope" in refused.text
    with service.session("acme-admin") as admin:
        csrf = _csrf(admin.get("/ui/replays").text)
        assert admin.post("/ui/replays", data={"name": "x"}, files=files).status_code == 403  # no CSRF token
        bad = admin.post("/ui/replays", data={"csrf": csrf, "name": "bad"},
                         files={"summary": ("summary.json", b"{not json", "application/json")})
        assert bad.status_code == 422 and "summary.json is not JSON" in bad.text
        bad = admin.post("/ui/replays", data={"csrf": csrf, "name": "../up"}, files=files)
        assert bad.status_code == 422 and "replay name" in bad.text
        bad = admin.post("/ui/replays", data={"csrf": csrf, "name": "fig"},
                         files={**files, "figure": ("figure2.png", b"GIF89a", "image/png")})
        assert bad.status_code == 422 and "PNG" in bad.text
        done = admin.post("/ui/replays", data={"csrf": csrf, "name": "study-small"}, files=files)
        assert done.status_code == 303 and "study-small" in done.headers["location"]
        page = admin.get("/ui/replays?name=acme/study-small").text
        assert "lts-3" in page and "round-robin" in page and "SYNTHETIC" in page and 'id="figure2"' in page
        png = admin.get("/ui/replays/acme/study-small/figure2.png")
        assert png.status_code == 200 and png.content == figure and png.headers["content-type"] == "image/png"
        table = admin.get("/ui/replays/acme/study-small/strategies.csv").text.splitlines()
        assert table[0].startswith("name,emissions_g") and len(table) == 4 and table[1].endswith("True")
    with service.session("acme-read") as reader:
        assert "acme/study-small" in reader.get("/ui/replays").text
    with service.session("globex-read") as other:
        assert "study-small" not in other.get("/ui/replays").text
        assert other.get("/ui/replays/acme/study-small/figure2.png").status_code == 404
        assert other.get("/ui/replays/acme/study-small/strategies.csv").status_code == 404


def test_a_replay_folder_placed_in_the_data_folder_is_shown(svc, replay: Path) -> None:
    service, _ids = svc
    target = service.state.settings.data_dir / "replays" / "globex" / "placed"
    target.mkdir(parents=True)
    (target / "summary.json").write_bytes((replay / "summary.json").read_bytes())
    with service.session("globex-read") as c:
        page = c.get("/ui/replays").text
        assert "globex/placed" in page and "greenci" in page and 'id="figure2"' not in page  # no figure given


def test_headers_static_files_and_csv_downloads(svc) -> None:
    service, _ids = svc
    with service.session("acme-read") as c:
        page = c.get("/ui/now")
        csp = page.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "script-src 'self'" in csp
        assert page.headers["cache-control"] == "no-store"
        assert "http://" not in page.text and "https://" not in page.text  # nothing from the internet
        js = c.get("/ui/static/vendor/uPlot.iife.min.js")
        assert js.status_code == 200 and "uPlot" in js.text and js.headers["content-type"].startswith("text/javascript")
        assert "MIT License" in c.get("/ui/static/vendor/uPlot.LICENSE").text
        assert c.get("/ui/static/../../auth.py").status_code == 404
        assert c.get("/ui/static/router.py").status_code == 404
        csv = c.get("/ui/now/forecast.csv")
        lines = csv.text.splitlines()
        assert csv.headers["content-disposition"].startswith("attachment")
        # (the EM reader does not mark these SYNTHETIC files synthetic, so no label here; a synthetic grid gets one)
        assert lines[0] == "time_utc,DE-LU gCO2eq/kWh,GB gCO2eq/kWh" and len(lines) == 49
        assert c.get("/ui/outcomes/nothing.csv").status_code == 404
        bad = c.get("/ui/now", params={"at": "yesterday-ish"})
        assert bad.status_code == 422 and "at" in bad.text


def test_the_rate_limit_of_the_api_applies_to_pages(tmp_path: Path) -> None:
    from dataclasses import replace

    settings = replace(settings_for(tmp_path), rate_per_s=0.01, rate_burst=3)
    with running(settings) as service, service.session("acme-read") as c:  # the login used one request
        codes = [c.get("/ui/sources").status_code for _ in range(3)]
        assert codes == [200, 200, 429]
        limited = c.get("/ui/now")
        assert limited.status_code == 429 and "rate limit" in limited.text and int(limited.headers["retry-after"]) >= 1
