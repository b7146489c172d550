"""`mbtop web` in a real headless browser (Debian's chromium), against the real stack.

The installed `mbtop web` is started as an operator would; the browser opens the address it
prints, reads the terminal the page draws, and types keys into it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest
from selenium.webdriver.common.keys import Keys

from tests.support import stack as st
from tests.support.browser import chromium, press, wait_for
from tests.support.tmux import mbtop_bin

REPO = Path(__file__).resolve().parents[2]
# The page's screenshots in screenshots/ come from this test, run with MBTOP_WEB_SHOTS=screenshots;
# otherwise they go to the test's temporary directory (a test run leaves the repo as it was).
SHOTS_ENV = "MBTOP_WEB_SHOTS"


@dataclass
class Web:
    proc: subprocess.Popen[str]
    url: str  # with the token, as printed
    base: str

    def sessions(self) -> list[psutil.Process]:
        """The mbtop processes this server runs, one per browser session (the process table)."""
        try:
            kids = psutil.Process(self.proc.pid).children()
        except psutil.NoSuchProcess:
            return []
        return [k for k in kids if k.status() != psutil.STATUS_ZOMBIE]


def start_web(*args: str) -> Web:
    port = 18000 + os.getpid() % 1000
    proc = subprocess.Popen(
        [mbtop_bin(), "web", "--listen", f"127.0.0.1:{port}", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    lines = []
    end = time.monotonic() + 20
    while time.monotonic() < end:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        found = re.search(r"(http://127\.0\.0\.1:\d+)/\?token=[\w-]{40,}", line)
        if found:
            return Web(proc, found.group(0), found.group(1))
    proc.kill()
    raise AssertionError(f"`mbtop web` printed no address: {lines!r}")


def stop_web(web: Web) -> None:
    web.proc.send_signal(signal.SIGTERM)
    assert web.proc.wait(20) == 0


@pytest.fixture
def web() -> Iterator[Web]:
    st.require_stack()
    st.wait_healthy()
    server = start_web()
    try:
        yield server
    finally:
        stop_web(server)


def test_refused_without_the_token_and_no_process_started(web: Web) -> None:
    with chromium() as driver:
        driver.get(web.base + "/")
        assert driver.title == "mbtop: access refused"
        assert "needs the access token" in driver.find_element("tag name", "body").text
        driver.get(web.base + "/?token=not-the-token")
        assert "token is wrong" in driver.find_element("tag name", "body").text
        driver.get(web.base + "/ws/flood?width=80&height=24")
        assert driver.title == "mbtop: access refused"
        time.sleep(1.0)  # a session started by any of these would be in the process table by now
        assert web.sessions() == []


def test_overview_flood_tab_and_a_squatter_in_the_browser(web: Web, tmp_path: Path) -> None:
    shots = Path(os.environ.get(SHOTS_ENV) or tmp_path)
    snap = st.wait_healthy()
    with chromium() as driver:
        driver.get(web.url)
        screen = wait_for(driver, "redis.sock", timeout=30)
        assert driver.title == f"mbtop {os.uname().nodename}"
        assert "token" not in driver.current_url  # it went to a cookie
        assert len(web.sessions()) == 1
        for p in snap["ports"]:
            assert re.search(rf"(?m)^\s*(OK|WARN|CRIT|UNKN)\s+{p['port']} ", screen), (p["port"], screen)
        for s in snap["sockets"]:
            assert f"{s['id']}.sock" in screen
        shots.mkdir(exist_ok=True)
        assert driver.save_screenshot(str(shots / "web-overview.png"))

        press(driver, "5")
        wait_for(driver, "Top talkers")
        with st.squatter_on(6379, "redis-server") as squatter:
            # The header above every tab counts the new critical finding ...
            wait_for(driver, lambda s: re.search(r"[1-9]\d* critical", s) is not None, timeout=15)
            press(driver, "1")
            # ... and the overview names the squatter on its row.
            wait_for(driver, f"held by squatter[{squatter.pid}]", timeout=15)
            assert driver.save_screenshot(str(shots / "web-squatter.png"))
    st.wait_until(lambda: web.sessions() == [], 15, what="the session's mbtop to end with its browser")


def test_an_action_without_allow_actions_is_refused_in_the_page(web: Web) -> None:
    with chromium() as driver:
        driver.get(web.url)
        wait_for(driver, "redis.sock", timeout=30)
        (child,) = web.sessions()
        assert "--read-only" in child.cmdline()
        press(driver, "R")  # restart the service of the row under the cursor
        wait_for(driver, "Refused: read-only mode", timeout=15)


def test_a_tab_named_in_the_address_opens_that_tab(web: Web) -> None:
    with chromium() as driver:
        driver.get(web.url + "&tab=flood")
        wait_for(driver, "Top talkers", timeout=30)
        (child,) = web.sessions()
        assert child.cmdline()[-2:] == ["--tab", "flood"]
        driver.get(web.base + "/#firewall")  # the cookie carries the token now
        wait_for(driver, "Deciding rule", timeout=30)


def test_with_allow_actions_an_action_is_confirmed_in_the_page_and_audited_with_the_session() -> None:
    """--allow-actions: R on the nginx row shows the plan with Cancel focused (nothing runs yet);
    Run restarts nginx; both audit lines name the browser's session."""
    st.require_stack()
    st.wait_healthy()
    audit_dir = Path(tempfile.mkdtemp(prefix="mbtop-audit-", dir="/run"))  # root's alone, not /tmp
    os.chmod(audit_dir, 0o700)
    cfg = audit_dir / "c.toml"
    log = audit_dir / "actions.log"
    cfg.write_text(f'audit_log = "{log}"\n')
    cfg.chmod(0o600)
    server = start_web("--allow-actions", "--config", str(cfg))
    try:
        with chromium() as driver:
            driver.get(server.url)
            wait_for(driver, "redis.sock", timeout=30)
            (child,) = server.sessions()
            assert "--read-only" not in child.cmdline()
            session = child.environ()["MBTOP_WEB_SESSION"]
            before = nginx_pids()
            press(driver, Keys.ARROW_DOWN)  # from 25 to 80, nginx
            press(driver, "R")
            screen = wait_for(driver, "Cancel", timeout=15)
            assert "service nginx restart" in screen, screen
            assert nginx_pids() == before and not log.exists()  # asked, not run
            press(driver, Keys.TAB + Keys.ENTER)  # to Run
            wait_for(driver, "now: port 80", timeout=30)
        lines = [json.loads(line) for line in log.read_text().splitlines()]
        assert [x["result"] for x in lines] == ["started", "done"], lines
        assert all(x["action"] == "restart" and x["target"] == "nginx" for x in lines)
        assert all(x["web_session"] == session for x in lines)
        assert nginx_pids() and not (nginx_pids() & before)
    finally:
        stop_web(server)
        shutil.rmtree(audit_dir, ignore_errors=True)
        st.wait_healthy()


def nginx_pids() -> set[int]:
    return {p.pid for p in psutil.process_iter(["name"]) if p.info["name"] == "nginx"}


def test_a_recording_is_served_with_replay() -> None:
    """`mbtop web --replay FILE`: each session plays the recording (no stack needed)."""
    fixture = REPO / "tests" / "fixtures" / "stack-trouble.json"
    server = start_web("--replay", str(fixture))
    try:
        with chromium() as driver:
            driver.get(server.url)
            screen = wait_for(driver, "redis.sock", timeout=30)
            assert driver.title.endswith("(replay)")
            assert "465 SMTPS" in screen
            (child,) = server.sessions()
            argv = child.cmdline()
            assert argv[argv.index("--replay") + 1] == str(fixture)
    finally:
        stop_web(server)
