"""The dashboard in a real headless Chromium (Debian's chromium + chromium-driver, driven by Selenium).

One browser session for the module, against a real uvicorn server on a free port over SQLite, with jobs of
two tenants submitted through the API first (SYNTHETIC intensity: tests/dashboard_service.py). Checks:
every page loads with no console error, every chart draws (coloured pixels on its canvas, its data points),
the pages fit 1280 px and 375 px without sideways scrolling, cancel works for an admin and is refused for a
read token, and a second tenant's jobs never appear.

Skipped, saying why, without the browser; ``GREENCI_TEST_REQUIRE_BROWSER=1`` (as in .ci/run) fails instead.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi", reason="the service needs greenci[service]: pip install 'greenci[service]'")
pytest.importorskip("jinja2", reason="the dashboard needs greenci[service]: pip install 'greenci[service]'")

from dashboard_service import Running, running, seed, settings_for, write_replay  # noqa: E402

from greenci.service.ui.session import csrf_for  # noqa: E402

REQUIRE_BROWSER_ENV = "GREENCI_TEST_REQUIRE_BROWSER"
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
PAGES = ("now", "outcomes", "sources", "replays")


def _no_browser(reason: str) -> None:
    if os.environ.get(REQUIRE_BROWSER_ENV, "") not in ("", "0"):
        pytest.fail(f"{reason} [{REQUIRE_BROWSER_ENV} is set: the browser tests are required]", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium for the module (its console log readable through ``get_log("browser")``)."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _no_browser("selenium is not installed: pip install selenium (greenci[dev])")
    for path in (CHROMIUM, CHROMEDRIVER):
        if not (os.path.exists(path) or shutil.which(Path(path).name)):
            _no_browser(f"{path} is missing: apt-get install chromium chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM if os.path.exists(CHROMIUM) else shutil.which("chromium") or CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1280,900",
                "--no-first-run", "--disable-extensions", "--disable-background-networking",
                "--force-device-scale-factor=1"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver_path = CHROMEDRIVER if os.path.exists(CHROMEDRIVER) else shutil.which("chromedriver")
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def svc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Running, dict[str, list[str]]]]:
    root = tmp_path_factory.mktemp("dashboard-browser")
    with running(settings_for(root)) as service:
        ids = seed(service)
        replay = write_replay(root / "replay")  # placed in the data folder, as an operator may do
        target = service.state.settings.data_dir / "replays" / "acme" / "small-study"
        target.mkdir(parents=True)
        for name in ("summary.json", "figure2.png"):
            (target / name).write_bytes((replay / name).read_bytes())
        yield service, ids


def sign_in(driver: Any, service: Running, role: str) -> None:
    """Through the login form, as a person would: paste the token, submit."""
    from selenium.webdriver.common.by import By

    driver.delete_all_cookies()
    driver.get(f"{service.url}/ui/now")  # no cookie: redirected to the login
    assert "/ui/login" in driver.current_url
    driver.find_element(By.ID, "token").send_keys(service.tokens[role])
    driver.find_element(By.CSS_SELECTOR, "#login-form button[type=submit]").click()
    # the URL changes when the redirect arrives, before the page has loaded: wait for the page itself
    wait_for(driver, lambda d: d.current_url.endswith("/ui/now") and d.execute_script(
        "return document.readyState") == "complete" and d.find_elements(By.CSS_SELECTOR, 'form[action="/ui/logout"]'))


def wait_for(driver: Any, done: Any) -> None:
    """Until ``done(driver)`` (a click that submits a form returns before the next page has loaded)."""
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 15, poll_frequency=0.05).until(done)


def console_errors(driver: Any) -> list[str]:
    """SEVERE entries of the browser console since the last call (reading it empties it)."""
    return [e["message"] for e in driver.get_log("browser") if e.get("level") == "SEVERE"]


_PIXELS = """
const out = {};
for (const el of document.querySelectorAll('[data-chart]')) {
  const c = el.querySelector('canvas');
  if (!c) { out[el.id] = null; continue; }
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let painted = 0, coloured = 0;
  for (let i = 0; i < d.length; i += 4) {
    if (d[i + 3] === 0) continue;
    painted++;
    if (Math.max(d[i], d[i + 1], d[i + 2]) - Math.min(d[i], d[i + 1], d[i + 2]) > 60) coloured++;
  }
  const u = window.greenciCharts && window.greenciCharts[el.id];
  out[el.id] = {width: c.width, height: c.height, painted: painted, coloured: coloured,
                points: u ? u.data.slice(1).map(s => s.filter(v => v != null).length) : null};
}
return out;
"""


def charts(driver: Any) -> dict[str, Any]:
    return driver.execute_script(_PIXELS)


def fits(driver: Any) -> tuple[int, int]:
    """(widest content, viewport width): the page body must not scroll sideways."""
    return driver.execute_script("return [document.documentElement.scrollWidth, window.innerWidth];")


def phone(driver: Any, on: bool) -> None:
    if on:
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                               {"width": 375, "height": 812, "deviceScaleFactor": 1, "mobile": True})
    else:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def test_every_page_loads_without_console_errors_and_its_charts_draw(browser: Any, svc) -> None:
    service, ids = svc
    sign_in(browser, service, "acme-read")
    console_errors(browser)
    want = {"now": {"chart-forecast"}, "outcomes": {"chart-decisions", "chart-saving", "chart-completed"},
            "sources": set(), "replays": set()}
    for page in PAGES:
        browser.get(f"{service.url}/ui/{page}")
        assert browser.current_url.endswith(f"/ui/{page}")
        drawn = charts(browser)
        assert set(drawn) == want[page], page
        for name, c in drawn.items():
            assert c is not None and c["width"] > 300 and c["height"] > 150, (page, name, c)
            # the series, not only the (grey) axes: lines and bars paint hundreds of pixels, one dot about 60
            dots_only = name == "chart-completed" or max(c["points"]) <= 1  # one point a series: dots, no line
            assert c["coloured"] > (100 if dots_only else 200), (page, name, c)
            assert all(n > 0 for n in c["points"]), (page, name, c)
        assert console_errors(browser) == [], page
        width, viewport = fits(browser)
        assert width <= viewport, (page, width, viewport)
    browser.get(f"{service.url}/ui/now")
    forecast = charts(browser)["chart-forecast"]
    assert forecast["points"] == [48, 48]  # two regions, 48 hourly slots
    windows = browser.execute_script("return JSON.parse(document.getElementById('data-forecast').textContent).windows")
    assert sorted(w["id"] for w in windows) == sorted(ids["acme"])  # each deferred job's window is drawn
    browser.get(f"{service.url}/ui/replays")
    width = browser.execute_script("return document.getElementById('figure2').naturalWidth")
    assert width > 100 and "lts-3" in browser.page_source
    assert console_errors(browser) == []


def test_pages_fit_a_phone_width(browser: Any, svc) -> None:
    service, _ids = svc
    sign_in(browser, service, "acme-admin")  # the admin's queue has the widest table (tenant, cancel)
    console_errors(browser)
    phone(browser, True)
    try:
        for page in PAGES:
            browser.get(f"{service.url}/ui/{page}")
            width, viewport = fits(browser)
            assert viewport == 375 and width <= viewport, (page, width)
            for name, c in charts(browser).items():
                assert c is not None and 240 <= c["width"] <= 375 and c["coloured"] > 100, (page, name, c)
            assert console_errors(browser) == [], page
    finally:
        phone(browser, False)


def test_a_second_tenant_never_sees_the_first_tenants_jobs(browser: Any, svc) -> None:
    service, ids = svc
    sign_in(browser, service, "globex-read")
    seen = ""
    for page in PAGES:
        browser.get(f"{service.url}/ui/{page}")
        seen += browser.page_source
    assert all(i in seen for i in ids["globex"])
    assert not any(i in seen for i in ids["acme"] + ids["acme-completed"]) and "acme/" not in seen
    assert "small-study" not in seen  # acme's replay neither
    sign_in(browser, service, "acme-read")
    seen = "".join(browser.get(f"{service.url}/ui/{p}") or browser.page_source for p in PAGES)
    assert "globex" not in seen and not any(i in seen for i in ids["globex"])


def test_a_read_token_has_no_cancel_and_a_forged_cancel_is_refused(browser: Any, svc) -> None:
    from selenium.webdriver.common.by import By

    service, ids = svc
    sign_in(browser, service, "acme-read")
    assert browser.find_elements(By.CSS_SELECTOR, "[data-cancel]") == []
    victim = ids["acme"][1]
    # the form an admin page would have, with this session's own CSRF token: still refused (no admin scope)
    browser.execute_script("""
        const f = document.createElement('form'); f.method = 'post'; f.action = arguments[0];
        const i = document.createElement('input'); i.type = 'hidden'; i.name = 'csrf'; i.value = arguments[1];
        f.appendChild(i); document.body.appendChild(f); f.submit();""",
        f"/ui/jobs/{victim}/cancel", csrf_for(service.tokens["acme-read"]))
    wait_for(browser, lambda d: d.find_elements(By.ID, "error-message"))
    message = browser.find_element(By.ID, "error-message").text
    assert "admin scope" in message
    console_errors(browser)  # the 403 itself is logged by the browser as a failed resource: expected here
    with service.api("acme-read") as api:
        assert api.get(f"/v1/jobs/{victim}").json()["status"] == "scheduled"


def test_an_admin_cancels_a_deferred_job(browser: Any, svc) -> None:
    from selenium.webdriver.common.by import By

    service, ids = svc
    victim = ids["acme"][2]
    sign_in(browser, service, "acme-admin")
    console_errors(browser)
    buttons = browser.find_elements(By.CSS_SELECTOR, "[data-cancel]")
    assert {b.get_attribute("data-cancel") for b in buttons} >= {victim, *ids["globex"]}  # admin: every tenant
    browser.find_element(By.CSS_SELECTOR, f'[data-cancel="{victim}"]').click()
    wait_for(browser, lambda d: d.find_elements(By.ID, "done"))
    assert browser.find_element(By.ID, "done").text == f"Job {victim} was cancelled."
    assert browser.find_elements(By.CSS_SELECTOR, f'tr[data-job="{victim}"]') == []
    assert console_errors(browser) == []
    with service.api("acme-read") as api:
        assert api.get(f"/v1/jobs/{victim}").json()["status"] == "cancelled"
    browser.find_element(By.CSS_SELECTOR, "header form button").click()  # sign out
    wait_for(browser, lambda d: "/ui/login" in d.current_url)
    browser.get(f"{service.url}/ui/outcomes")
    assert "/ui/login" in browser.current_url
