"""`mbtop web`'s door: the token before anything runs, the session limit, a session's process freed.

A real aiohttp server on loopback (mbtop's WebServer on textual-serve's app) and a real aiohttp
client. The session's command here is a stand-in (a Python process that sleeps, named by a marker
in its argv), not mbtop: what is tested is whether and when a process is started and ended, which
does not depend on what it runs. tests/e2e/test_web_browser.py runs the real mbtop in a browser.
"""

from __future__ import annotations

import asyncio
import socket
import sys
import time
import uuid
from collections.abc import AsyncIterator

import aiohttp
import psutil
import pytest
from aiohttp import web

from mbtop.cli import TABS, webserver
from mbtop.cli.webserver import WebServer, child_env

TOKEN = "t0k3n-" + "x" * 37


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def children(marker: str) -> list[psutil.Process]:
    """Every process on the machine whose command line carries ``marker`` (the process table)."""
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        cmdline = proc.info["cmdline"] or []
        if marker in cmdline and proc.info["status"] != psutil.STATUS_ZOMBIE:
            found.append(proc)
    return found


async def wait_for(pred, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("timed out")


class Served:
    def __init__(self, server: WebServer, port: int, marker: str) -> None:
        self.server, self.port, self.marker = server, port, marker
        self.base = f"http://127.0.0.1:{port}"


@pytest.fixture
async def served(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Served]:
    monkeypatch.setattr(webserver, "QUIT_GRACE", 0.3)  # the stand-in never answers "quit": killed then
    marker = f"mbtop-web-test-{uuid.uuid4().hex}"
    port = _free_port()
    server = WebServer(
        [sys.executable, "-c", "import sys, time; time.sleep(120)", marker],
        token=TOKEN,
        host="127.0.0.1",
        port=port,
        max_sessions=2,
        env=child_env(),
        tabs=TABS,
    )
    app = await server._make_app()
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield Served(server, port, marker)
    finally:
        await runner.cleanup()
        left = children(marker)
        for proc in left:
            proc.kill()  # a failed test leaves nothing running behind it
    assert left == []  # the server's end ends every session's process


async def test_no_token_no_page_no_websocket_and_no_process(served: Served) -> None:
    async with aiohttp.ClientSession() as http:
        for path in ("/", "/ws", "/ws/flood", "/static/js/textual.js", "/download/x"):
            async with http.get(served.base + path) as r:
                assert r.status == 401, path
                assert "needs the access token" in await r.text()
        for bad in ("?token=wrong", "?token=" + TOKEN[:-1], "?token=" + TOKEN + "x", "?token="):
            async with http.get(served.base + "/" + bad) as r:
                assert r.status in (401, 403), bad
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(served.base + "/ws?width=80&height=24")
        assert refused.value.status == 401
    async with aiohttp.ClientSession(cookies={served.server.cookie: "wrong"}) as http:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(served.base + "/ws")
        assert refused.value.status == 403
    await asyncio.sleep(0.5)  # a process started by a refused request would be in the table by now
    assert children(served.marker) == []
    assert served.server.sessions == {}


async def test_the_token_loads_the_page_then_a_cookie_carries_it(served: Served) -> None:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:  # unsafe: an IP address
        async with http.get(served.base + f"/?token={TOKEN}&tab=flood", allow_redirects=False) as r:
            assert r.status == 303
            assert r.headers["Location"] == "/?tab=flood"  # the token leaves the address bar
            cookie = r.cookies[served.server.cookie]
            assert cookie.value == TOKEN and cookie["httponly"] and cookie["samesite"] == "Strict"
        async with http.get(served.base + "/?tab=flood") as r:
            assert r.status == 200
            page = await r.text()
        assert 'id="terminal"' in page and 'data-tab="flood"' in page and "<title>mbtop</title>" in page
        assert "googleapis" not in page  # nothing fetched from the internet
        async with http.get(served.base + "/static/js/textual.js") as r:
            assert r.status == 200
        assert children(served.marker) == []  # the page alone starts nothing


async def test_a_session_runs_one_process_with_its_tab_and_frees_it_when_it_goes(served: Served) -> None:
    async with aiohttp.ClientSession(cookies={served.server.cookie: TOKEN}) as http:
        ws = await http.ws_connect(served.base + "/ws/flood?width=100&height=30")
        await wait_for(lambda: len(children(served.marker)) == 1)
        (proc,) = children(served.marker)
        assert proc.cmdline()[-2:] == ["--tab", "flood"]
        env = proc.environ()
        (session_id,) = served.server.sessions
        assert env["MBTOP_WEB_SESSION"] == session_id
        assert env["PATH"] == "/usr/sbin:/usr/bin:/sbin:/bin" and "PYTHONPATH" not in env
        await ws.close()
        await wait_for(lambda: children(served.marker) == [] and served.server.sessions == {})
        ws = await http.ws_connect(served.base + "/ws/<script>?width=100&height=30")  # not a tab: none given
        await wait_for(lambda: len(children(served.marker)) == 1)
        assert "--tab" not in children(served.marker)[0].cmdline()
        await ws.close()
        await wait_for(lambda: children(served.marker) == [])


async def test_at_most_max_sessions_and_the_next_gets_a_clear_page(served: Served) -> None:
    async with aiohttp.ClientSession(cookies={served.server.cookie: TOKEN}) as http:
        first = await http.ws_connect(served.base + "/ws")
        second = await http.ws_connect(served.base + "/ws")
        await wait_for(lambda: len(children(served.marker)) == 2)
        async with http.get(served.base + "/") as r:
            assert r.status == 503
            assert "every session is in use" in await r.text()
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(served.base + "/ws")
        assert refused.value.status == 503
        await asyncio.sleep(0.5)
        assert len(children(served.marker)) == 2
        await first.close()
        await wait_for(lambda: len(children(served.marker)) == 1)
        async with http.get(served.base + "/") as r:
            assert r.status == 200
        await second.close()
        await wait_for(lambda: children(served.marker) == [])


async def test_a_websocket_from_another_site_is_refused(served: Served) -> None:
    async with aiohttp.ClientSession(cookies={served.server.cookie: TOKEN}) as http:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(served.base + "/ws", origin="http://evil.example")
        assert refused.value.status == 403
        ws = await http.ws_connect(served.base + "/ws", origin=served.base)
        await wait_for(lambda: len(children(served.marker)) == 1)
        await ws.close()
        await wait_for(lambda: children(served.marker) == [])
