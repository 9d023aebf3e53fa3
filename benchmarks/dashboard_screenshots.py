"""Screenshots of the dashboard's pages at 1280 px and at a phone's 375 px, for the README and docs.

Run: ``python benchmarks/dashboard_screenshots.py [--out docs/screenshots]`` (needs Debian's chromium and
chromium-driver, and selenium: ``apt-get install chromium chromium-driver``; ``pip install -e '.[dev]'``).

SYNTHETIC data: the service runs on the test fixture's synthetic intensity around the real clock
(tests/dashboard_service.py) with jobs of two synthetic tenants and a small synthetic replay; every
screenshot carries a "SYNTHETIC DATA" banner and the files are named ``*-synthetic.png``. The PNGs are
quantised to 64 colours to stay small. Prints a table of what it wrote; asserts nothing.
"""

from __future__ import annotations

import argparse
import base64
import io
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the one place the fixture service is defined

from dashboard_service import Running, job, running, seed, settings_for, write_replay  # noqa: E402

PAGES = ("now", "outcomes", "sources", "replays")
WIDTHS = (1280, 375)
MAX_HEIGHT = 4000
BANNER = """
const b = document.createElement('p');
b.className = 'badge';
b.style.display = 'block'; b.style.fontSize = '.8rem'; b.style.margin = '0 0 .5rem'; b.style.padding = '.3rem .5rem';
b.textContent = 'SYNTHETIC DATA: screenshot fixture (synthetic intensity, jobs and replay)';
document.querySelector('main').prepend(b);
"""


def more_jobs(svc: Running) -> None:
    """A few more synthetic jobs than the tests need, so that the charts have something to show."""
    with svc.api("acme-submit") as api:
        asks = [("acme/web", "normal", "6h"), ("acme/web", "flexible", "20h"), ("acme/docs", "flexible", "12h"),
                ("acme/lib", "normal", "4h")]
        for k, (repo, priority, deadline) in enumerate(asks):
            assert api.post("/v1/jobs", json=job(repo, f"job-{k}", priority, deadline)).status_code == 201
        now = time.time()
        for k in range(4):
            ask = job(f"acme/{'lib' if k % 2 else 'web'}", f"check-{k}", "critical", "1h")
            ask["submitted_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 3 * 3600 * (4 - k)))
            done = api.post("/v1/jobs", json=ask).json()
            assert api.post(f"/v1/jobs/{done['id']}/started").status_code == 200
            at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now + 600 * (k + 1)))
            got = api.post(f"/v1/jobs/{done['id']}/completed", json={"at": at, "runtime_s": 900 + 600 * k})
            assert got.status_code == 200, got.text


def browser():  # noqa: ANN201 - selenium's WebDriver, imported lazily
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--hide-scrollbars",
                "--force-device-scale-factor=1"):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(executable_path="/usr/bin/chromedriver"), options=options)


def shoot(driver, url: str, width: int) -> bytes:  # noqa: ANN001
    """The whole page at ``width`` CSS px (height up to MAX_HEIGHT), as a 64-colour PNG."""
    from PIL import Image

    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": width < 600})
    driver.get(url)
    driver.execute_script(BANNER)
    height = min(MAX_HEIGHT, int(driver.execute_script("return document.documentElement.scrollHeight")))
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600})
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": False})
    image = Image.open(io.BytesIO(base64.b64decode(shot["data"]))).convert("RGB")
    out = io.BytesIO()
    image.quantize(colors=64, method=Image.Quantize.MEDIANCUT).save(out, format="PNG", optimize=True)
    return out.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    table = Table(title="Dashboard screenshots (SYNTHETIC data)")
    for col in ("page", "width px", "height px", "KiB", "file"):
        table.add_column(col, justify="left" if col in ("page", "file") else "right")
    with tempfile.TemporaryDirectory() as tmp, running(settings_for(Path(tmp))) as svc:
        seed(svc)
        more_jobs(svc)
        replay = write_replay(Path(tmp) / "replay")
        target = svc.state.settings.data_dir / "replays" / "acme" / "small-study-synthetic"
        target.mkdir(parents=True)
        for name in ("summary.json", "figure2.png"):
            (target / name).write_bytes((replay / name).read_bytes())
        driver = browser()
        try:
            driver.get(f"{svc.url}/ui/login")
            driver.find_element("id", "token").send_keys(svc.tokens["acme-admin"])
            driver.find_element("css selector", "#login-form button[type=submit]").click()
            from selenium.webdriver.support.ui import WebDriverWait

            WebDriverWait(driver, 15).until(lambda d: d.current_url.endswith("/ui/now"))
            for page in PAGES:
                for width in WIDTHS:
                    png = shoot(driver, f"{svc.url}/ui/{page}", width)
                    path = args.out / f"{page}-{width}-synthetic.png"
                    path.write_bytes(png)
                    from PIL import Image

                    h = Image.open(io.BytesIO(png)).height
                    table.add_row(page, str(width), str(h), f"{len(png) / 1024:.0f}", str(path.relative_to(ROOT)
                                                                                         if path.is_relative_to(ROOT)
                                                                                         else path))
        finally:
            driver.quit()
    Console().print(table)


if __name__ == "__main__":
    main()
