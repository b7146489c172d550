"""A real headless browser for e2e tests: Debian's chromium driven by its chromedriver (Selenium).

Nothing is downloaded: the driver's path is given, so Selenium Manager never runs. WebGL is off,
so xterm.js draws the terminal with DOM rows whose text a test can read; waiting is always on a
condition of that text, never a fixed sleep.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

from selenium import webdriver
from selenium.common.exceptions import JavascriptException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

from tests.support.require import require

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")

SCREEN_TEXT = """
const rows = document.querySelector('.xterm-rows');
return rows ? Array.from(rows.children).map(r => r.textContent).join('\\n') : null;
"""


def chromium(width: int = 1400, height: int = 900) -> webdriver.Chrome:
    require(
        CHROMIUM.exists() and CHROMEDRIVER.exists(),
        "chromium and chromium-driver are not installed (sudo scripts/stack install)",
    )
    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    for arg in (
        "--headless=new",
        "--no-sandbox",  # as root
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--disable-3d-apis",  # no WebGL: xterm.js falls back to DOM rows, whose text can be read
        f"--window-size={width},{height}",
        "--no-first-run",
        "--disable-extensions",
    ):
        opts.add_argument(arg)
    service = Service(executable_path=str(CHROMEDRIVER), env={**os.environ, "SE_AVOID_STATS": "true"})
    return webdriver.Chrome(service=service, options=opts)


def screen(driver: webdriver.Chrome) -> str:
    """The terminal's text as the page shows it, one line per row ('' before it is drawn)."""
    try:
        text = driver.execute_script(SCREEN_TEXT)
    except JavascriptException:
        return ""
    return (text or "").replace("\u00a0", " ")


def wait_for(
    driver: webdriver.Chrome, want: str | Callable[[str], bool], timeout: float = 20.0, poll: float = 0.1
) -> str:
    """The screen once ``want`` (a substring or a predicate) holds; an AssertionError with it else."""
    end = time.monotonic() + timeout
    last = ""
    while time.monotonic() < end:
        last = screen(driver)
        if (want in last) if isinstance(want, str) else want(last):
            return last
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout} s waiting for {want!r}; the page shows:\n{last}")


def press(driver: webdriver.Chrome, keys: str) -> None:
    """Type into the terminal as a person would (xterm.js's hidden textarea has the focus)."""
    try:
        box = driver.find_element(By.CSS_SELECTOR, ".xterm-helper-textarea")
    except WebDriverException as exc:
        raise AssertionError(f"no terminal on the page: {exc}") from None
    box.send_keys(keys)
