"""report.html in a real headless browser (Debian's chromium and chromedriver, via selenium):
the page loads from disk, every image renders, and the console stays free of errors."""

import os
import shutil

import pytest

from noisesearch.cli import main

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")

if not (CHROMIUM and CHROMEDRIVER) and not os.environ.get("CI"):
    pytest.skip("chromium and chromedriver are not installed (.ci/run installs them)",
                allow_module_level=True)


def browser(tmp_path):
    assert CHROMIUM and CHROMEDRIVER, "CI needs Debian's chromium and chromium-driver (see .ci/run)"
    os.environ.setdefault("SE_OFFLINE", "true")  # never let selenium look for a driver online
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run", "--disable-quic", f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))


def test_report_renders_every_image_without_console_errors(capsys, tmp_path):
    out = tmp_path / "bench"
    code = main(["bench", "--suite", "digits", "--limit", "4", "--steps", "4", "--budgets", "1,4",
                 "--algorithms", "random,zero-order", "--no-progress", "--out", str(out)])
    capsys.readouterr()
    assert code == 0
    driver = browser(tmp_path)
    try:
        driver.get((out / "report.html").resolve().as_uri())
        assert driver.execute_script("return document.readyState") == "complete"
        assert "noisesearch bench" in driver.title
        images = driver.execute_script("return Array.from(document.images)"
                                       ".map(i => [i.complete, i.naturalWidth, i.naturalHeight, i.alt])")
        assert len(images) == 1 + 4 * 3  # the scaling plot, 4 conditions x (no search + 2 winners)
        for complete, width, height, alt in images:
            assert complete and width > 0 and height > 0, alt
        tables = driver.execute_script("return document.querySelectorAll('table').length")
        assert tables >= 3  # the summary, the hacking matrices, the gallery
        errors = [entry for entry in driver.get_log("browser") if entry["level"] in ("SEVERE", "WARNING")]
        assert errors == []
    finally:
        driver.quit()
