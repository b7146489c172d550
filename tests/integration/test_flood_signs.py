"""Issue 16 on the real stack: a client that pipelines and one that speaks HTTP to port 25 show in the
Flood tab (the real app under Pilot, the real Postfix and its real /var/log/mail.log), and mbtop's own
SMTP checks, running meanwhile, are not counted as a source."""

from __future__ import annotations

import socket
import time

from mbtop.catalog import load_reference
from mbtop.probes.sample import CONNECTIONS_BUDGET, Sampler
from mbtop.ui.app import MbtopApp
from mbtop.ui.widgets.livetable import LiveTable
from tests.support import stack as st

PIPELINER, HTTP = "127.77.3.1", "127.77.3.2"


def _session(source: str, first: bytes, wait_banner: bool) -> bytes:
    """One SMTP session from ``source``: ``first`` sent at once (pipelined before the banner) or after it."""
    with socket.create_connection(("127.0.0.1", 25), timeout=10, source_address=(source, 0)) as s:
        if wait_banner:
            s.recv(4096)
        s.sendall(first)
        got = b""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            chunk = s.recv(4096)
            if not chunk:
                break
            got += chunk
        return got


async def test_pipelining_and_http_to_port_25_show_in_the_flood_tab() -> None:
    st.require_stack()
    catalog = load_reference()
    sampler = Sampler(catalog, firewall_every=None, connections_budget=CONNECTIONS_BUDGET)
    app = MbtopApp(catalog, sampler.sample, interval=0.5, health_every=1.0, health_timeout=3.0, read_only=True)
    async with app.run_test(size=(220, 50)) as pilot:
        await pilot.press("5")
        for _ in range(200):  # the mail log is followed, and a round of health checks has run
            if (
                any(s.endswith("following") for s in app.log_status.values())
                and app.view is not None
                and "port:25" in app.view.sample.health
            ):
                break
            await pilot.pause(0.1)
        assert app.view is not None and "port:25" in app.view.sample.health, app.view
        _session(PIPELINER, b"EHLO pipe.example\r\nMAIL FROM:<a@example.org>\r\nQUIT\r\n", wait_banner=False)
        _session(HTTP, b"GET / HTTP/1.1\r\nHost: mail.example\r\n\r\n", wait_banner=True)
        table = app.screen.query_one("#talkers", LiveTable)
        seen: dict[str, str] = {}
        for _ in range(150):
            await pilot.pause(0.1)
            seen = {
                "pipelining": table.cell_text(f"src:{PIPELINER}", "pipelining"),
                "non_smtp": table.cell_text(f"src:{HTTP}", "non_smtp"),
            }
            if seen == {"pipelining": "1", "non_smtp": "1"} and app.mail_window.own >= 2:
                break
        assert seen == {"pipelining": "1", "non_smtp": "1"}, seen
        # Health checks ran all along (every second, on 25 and 587): 127.0.0.1 is not a talker for
        # them, and their lines were seen as mbtop's own.
        assert not table.cell_text("src:127.0.0.1", "address")
        assert app.mail_window.own >= 2
        own = [e for e in app.mail_window.events if e.own]
        assert {e.kind for e in own} >= {"connect", "disconnect"}, own
        # A connect line is marked only through a claim of this app's checks (from 127.0.0.1); a
        # disconnect alone may be another local client's that only quit (the backfill can hold one).
        connects = [(e.client_ip, e.message) for e in own if e.kind == "connect"]
        assert connects and all(ip == "127.0.0.1" for ip, _m in connects), connects
        await pilot.press("q")


def test_snapshot_sample_does_not_count_its_own_smtp_checks() -> None:
    """`snapshot --sample` checks the daemons while it watches the mail log: the sessions of its own
    SMTP checks (from 127.0.0.1 on 25 and 587) are not sources in its flood figures, while a
    stranger's session from another loopback address in the same window is."""
    import json
    import subprocess
    import sys
    import threading

    st.require_stack()
    stranger = "127.77.3.9"
    timer = threading.Timer(1.5, _session, (stranger, b"NOOP\r\nQUIT\r\n", True))  # not a check's dialogue
    timer.start()
    run = subprocess.run(
        [sys.executable, "-m", "mbtop", "snapshot", "--json", "--sample", "4", "--no-firewall"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    timer.join()
    assert run.returncode in (0, 1, 2), run.stderr
    doc = json.loads(run.stdout)
    smtp = next(p for p in doc["ports"] if p["port"] == 25)
    assert smtp["health"]["ok"] is True, smtp["health"]  # the check did run, and spoke SMTP
    sources = {s["address"]: s for s in doc["flood"]["top_sources"]}
    assert stranger in sources, sources
    assert "127.0.0.1" not in sources, sources["127.0.0.1"]
