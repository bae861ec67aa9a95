"""``report.html`` in a real headless browser: Chromium from the Debian packages, driven by
selenium through the system chromedriver. The page loads from ``file://`` without console
errors, every figure renders at a non-zero size and is not blank, and the tables hold one row
per point. Skipped, saying why, where selenium, Chromium or chromedriver is missing
(``.ci/run`` installs the Debian packages when it can)."""

from __future__ import annotations

import importlib.util
import io
import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.study.conftest import REPORTED_POINTS

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
MAX_PAGE_HEIGHT_PX = 12_000


def _missing() -> str | None:
    """Why the test cannot run here, or None."""
    if importlib.util.find_spec("selenium") is None:
        return "selenium is not installed (pip install -e '.[test]')"
    found = {"chromium": CHROMIUM, "chromedriver": CHROMEDRIVER}
    missing = " and ".join(name for name, path in found.items() if path is None)
    return f"{missing} not found (apt-get install chromium chromium-driver)" if missing else None


MISSING = _missing()
pytestmark = pytest.mark.skipif(MISSING is not None, reason=MISSING or "")


@pytest.fixture(scope="module")
def browser():
    """A headless Chromium with its console log kept; quit (and its processes gone) after."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                     "--disable-gpu", "--window-size=1280,1000", "--hide-scrollbars"):  # fmt: skip
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def _is_blank(png: bytes) -> bool:
    """Whether an element screenshot has one colour only."""
    from PIL import Image

    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).reshape(-1, 3)
    return len(np.unique(pixels, axis=0)) <= 1


def test_report_page_renders_in_chromium(browser, reported_study, tmp_path):
    from selenium.webdriver.common.by import By

    page = reported_study / "report" / "report.html"
    browser.get(page.resolve().as_uri())
    assert browser.title == "Study report: reported"
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(1280, min(int(height) + 100, MAX_PAGE_HEIGHT_PX))
    shot = tmp_path / "report.png"
    assert browser.save_screenshot(str(shot))
    print(f"screenshot: {shot}")

    severe = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not severe, severe

    figures = browser.find_elements(By.CSS_SELECTOR, "figure svg")
    assert len(figures) == len(list(Path(page.parent).glob("*.svg"))) == 4
    for i, svg in enumerate(figures):
        size = svg.size
        assert size["width"] > 300 and size["height"] > 200, (i, size)
        image = svg.screenshot_as_png
        (tmp_path / f"figure-{i}.png").write_bytes(image)
        assert not _is_blank(image), f"figure {i} is blank"

    rows = browser.find_elements(By.CSS_SELECTOR, "#points-table tbody tr")
    assert len(rows) == REPORTED_POINTS
    header = [th.text for th in browser.find_elements(By.CSS_SELECTOR, "#points-table th")]
    assert header[:3] == ["point", "serve.0.requests_per_s", "objective.kind"]
    status = browser.find_elements(By.CSS_SELECTOR, "#status-table tbody tr")
    assert [r.text for r in status] == [f"optimal {REPORTED_POINTS}"]
    assert browser.find_elements(By.CSS_SELECTOR, "#extremes-table tbody tr")
