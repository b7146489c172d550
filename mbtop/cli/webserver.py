"""The server behind `mbtop web`: textual-serve's aiohttp app with a door in front of it.

textual-serve starts one copy of a command per browser websocket and has no authentication of its
own. Here every request (the page, the websocket, the static files) must carry the access token
(``?token=`` once, then a cookie) before anything else happens, so no process is started for a
stranger; at most ``max_sessions`` processes run at once; each is an argv list (never a shell
string) with a minimal environment, in its own process group, and is ended when its browser goes.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import html
import logging
import os
import secrets
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from textual_serve.app_service import AppService
from textual_serve.server import Server

from mbtop.actions.audit import WEB_SESSION_ENV
from mbtop.syscmd import SYSTEM_PATH
from mbtop.text import clean

log = logging.getLogger("mbtop.web")

QUIT_GRACE = 3.0  # seconds a session's mbtop has to quit before it is killed
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class Colours:
    """The page's colours, from the theme the screen uses."""

    background: str = "#0c1014"
    foreground: str = "#d0d4d8"
    accent: str = "#3d9be9"


def same_token(given: str | None, token: str) -> bool:
    """Constant-time comparison; a missing or non-ASCII value is simply wrong."""
    if not given or not given.isascii():
        return False
    return hmac.compare_digest(given.encode("ascii"), token.encode("ascii"))


class AccessLog(AbstractAccessLogger):
    """A line per request without its query string: the first visit's ?token= never reaches a log."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.info("%s %s %s %d", request.remote, request.method, clean(request.path), response.status)

    @property
    def enabled(self) -> bool:
        return True


class Session(AppService):
    """One browser session's mbtop: an argv list, a minimal environment, its own process group."""

    def __init__(self, argv: Sequence[str], env: dict[str, str], **kwargs: object) -> None:
        super().__init__(" ".join(argv), **kwargs)  # type: ignore[arg-type]  # the string is only a label
        self.argv = list(argv)
        self.base_env = env
        self.session_id = secrets.token_hex(8)

    def _build_environment(self, width: int = 80, height: int = 24) -> dict[str, str]:
        env = dict(self.base_env)
        env.update(
            {
                "TEXTUAL_DRIVER": "textual.drivers.web_driver:WebDriver",
                "TEXTUAL_FPS": "60",
                "TEXTUAL_COLOR_SYSTEM": "truecolor",
                "TERM_PROGRAM": "textual",
                "COLUMNS": str(width),
                "ROWS": str(height),
                WEB_SESSION_ENV: self.session_id,
            }
        )
        return env

    async def _open_app_process(self, width: int = 80, height: int = 24) -> asyncio.subprocess.Process:
        self._process = process = await asyncio.create_subprocess_exec(
            *self.argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=self._build_environment(width, height),
            start_new_session=True,
        )
        self._stdin = process.stdin  # a pipe: asked for above
        return process

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    async def stop(self) -> None:
        """Ask the session's mbtop to quit; kill its process group when it does not, and reap it."""
        process, task = self._process, self._task
        if task is not None:
            await self.send_meta({"type": "quit"})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(task), QUIT_GRACE)
        if process is not None and process.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
        if process is not None:
            with contextlib.suppress(ProcessLookupError, TimeoutError):
                await asyncio.wait_for(process.wait(), QUIT_GRACE)  # reaped; never a server stuck here
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._task = None


class WebServer(Server):
    """textual-serve's server with the token door, the session limit and mbtop's own page."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        token: str,
        host: str,
        port: int,
        max_sessions: int,
        env: dict[str, str],
        tabs: Sequence[str],
        title: str = "mbtop",
        colours: Colours = Colours(),  # frozen
        secure: bool = False,
    ) -> None:
        super().__init__(" ".join(argv), host=host, port=port, title=title)
        self.argv = list(argv)
        self.token = token
        self.max_sessions = max_sessions
        self.env = env
        self.tabs = tuple(tabs)
        self.colours = colours
        self.secure = secure
        self.sessions: dict[str, Session] = {}
        self.cookie = f"mbtop-web-{port}"

    def initialize_logging(self) -> None:
        """Plain lines on stderr (textual-serve's own handler highlights them as Rich markup)."""
        logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s mbtop web: %(message)s")

    async def _make_app(self) -> web.Application:
        app = await super()._make_app()
        app.router.add_get("/ws/{tab}", self.handle_websocket)  # the tab in the path: textual.js adds "?width="
        app.middlewares.append(self._door)
        return app

    def allowed(self, request: web.Request) -> bool:
        return same_token(request.query.get("token"), self.token) or same_token(
            request.cookies.get(self.cookie), self.token
        )

    @web.middleware
    async def _door(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Before any route: the token, or 401 (none given) / 403 (a wrong one); nothing else runs."""
        if not self.allowed(request):
            given = "token" in request.query or self.cookie in request.cookies
            status = 403 if given else 401
            why = "That access token is wrong." if given else "This page needs the access token."
            return self._page(status, "mbtop: access refused", why + " It was printed when `mbtop web` started.")
        if request.path == "/" and "token" in request.query:
            # The token leaves the address bar (and the history) for a cookie; ?tab= stays.
            rest = {k: v for k, v in request.query.items() if k != "token"}
            where = "/" + ("?" + "&".join(f"{k}={v}" for k, v in rest.items() if k == "tab" and v in self.tabs))
            response = web.Response(status=303, headers={"Location": where.rstrip("?"), **self._headers()})
            response.set_cookie(self.cookie, self.token, httponly=True, samesite="Strict", secure=self.secure, path="/")
            return response
        return await handler(request)

    def _page(self, status: int, title: str, message: str) -> web.Response:
        c = self.colours
        body = (
            "<!DOCTYPE html><html><head><meta charset='utf-8'>"
            f"<title>{html.escape(title)}</title>{self._favicon()}</head>"
            f"<body style='background:{c.background};color:{c.foreground};font-family:monospace;padding:2em'>"
            f"<h1>{html.escape(title)}</h1><p>{html.escape(message)}</p></body></html>"
        )
        return web.Response(status=status, text=body, content_type="text/html", headers=self._headers())

    def _headers(self) -> dict[str, str]:
        return {
            "Cache-Control": "no-store",
            "X-Frame-Options": "DENY",
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
        }

    def _favicon(self) -> str:
        c = self.colours
        svg = (
            "<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 16 16'>"
            f"<rect width='16' height='16' rx='3' fill='{c.background}'/>"
            f"<rect x='3' y='4' width='10' height='2' fill='{c.accent}'/>"
            f"<rect x='3' y='8' width='7' height='2' fill='{c.foreground}'/></svg>"
        )
        return f'<link rel="icon" href="data:image/svg+xml,{html.escape(svg.replace("#", "%23"))}">'

    def full(self) -> bool:
        return len(self.sessions) >= self.max_sessions

    def _busy(self) -> web.Response:
        return self._page(
            503,
            "mbtop: every session is in use",
            f"{self.max_sessions} browser session(s) are open, the most this mbtop web allows "
            "(max_sessions in [web]). Close one, then reload this page.",
        )

    async def handle_index(self, request: web.Request) -> web.Response:
        if self.full():
            return self._busy()
        c = self.colours
        tab = request.query.get("tab", "")
        static = "/static/"
        page = PAGE.format(
            title=html.escape(self.title),
            favicon=self._favicon(),
            static=static,
            bg=c.background,
            fg=c.foreground,
            accent=c.accent,
            tab=html.escape(tab if tab in self.tabs else ""),
            tabs=html.escape(" ".join(self.tabs)),
        )
        return web.Response(text=page, content_type="text/html", headers=self._headers())

    async def handle_websocket(self, request: web.Request) -> web.StreamResponse:  # type: ignore[override]
        origin = request.headers.get("Origin")
        if origin is not None and urlsplit(origin).netloc != request.host:
            return self._page(403, "mbtop: access refused", "A websocket from another site.")
        if self.full():
            return self._busy()
        width = _size(request.query.get("width"), 80)
        height = _size(request.query.get("height"), 24)
        argv = list(self.argv)
        tab = request.match_info.get("tab", "")
        if tab in self.tabs:
            argv += ["--tab", tab]
        websocket = web.WebSocketResponse(heartbeat=15)
        session = Session(
            argv,
            self.env,
            write_bytes=websocket.send_bytes,
            write_str=websocket.send_str,
            close=websocket.close,
            download_manager=self.download_manager,
        )
        self.sessions[session.session_id] = session  # counted before the await: no race past the limit
        try:
            await websocket.prepare(request)
            await session.start(width, height)
            log.info("session %s started (pid %s, %d open)", session.session_id, session.pid, len(self.sessions))
            await self._process_messages(websocket, session)
        except (asyncio.CancelledError, ConnectionError, ValueError, AssertionError, TypeError, KeyError) as exc:
            log.info("session %s: %s", session.session_id, type(exc).__name__)
        finally:
            await session.stop()
            self.sessions.pop(session.session_id, None)
            with contextlib.suppress(ConnectionError, RuntimeError):
                await websocket.close()
            log.info("session %s ended (%d open)", session.session_id, len(self.sessions))
        return websocket

    async def stop_all(self, app: web.Application) -> None:
        for session in list(self.sessions.values()):
            await session.stop()

    async def on_startup(self, app: web.Application) -> None:
        """textual-serve prints its banner here; mbtop says its own line in `mbtop web`."""

    async def on_shutdown(self, app: web.Application) -> None:
        await self.stop_all(app)


def _size(value: str | None, default: int) -> int:
    try:
        return max(10, min(1000, int(value or default)))
    except ValueError:
        return default


def child_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """What a session's mbtop inherits: a fixed PATH, a UTF-8 locale, the person behind sudo."""
    source = os.environ if base is None else base
    env = {"PATH": SYSTEM_PATH, "LANG": "C.UTF-8", "TERM": "xterm-256color", "HOME": source.get("HOME", "/root")}
    for name in ("SUDO_USER", "SUDO_UID", "SUDO_GID"):
        if name in source:
            env[name] = source[name]
    return env


# The page: textual-serve's own, less its fonts from the internet and its logo, in the theme's
# colours. The websocket's address is made from the page's own (so an SSH tunnel's local port
# works), and the tab comes from ?tab= or #tab.
PAGE = """<!DOCTYPE html>
<html>
<head>
<meta charset="utf-8">
<title>{title}</title>
{favicon}
<link rel="stylesheet" href="{static}css/xterm.css">
<script src="{static}js/textual.js"></script>
<style>
body {{ background: {bg}; color: {fg}; margin: 0; }}
.dialog-container {{ position: absolute; width: 100vw; height: 100vh; display: flex;
  align-items: center; justify-content: center; z-index: 10; }}
.intro {{ font: 16px monospace; color: {fg}; border: 2px solid {accent}; padding: 2em; background: {bg}; }}
body.-first-byte .intro-dialog {{ display: none; }}
body .textual-terminal {{ opacity: 0; }}
body.-first-byte .textual-terminal {{ opacity: 1; }}
.closed-dialog {{ display: none; }}
body.-closed .closed-dialog {{ display: flex; }}
button {{ font: 16px monospace; background: {accent}; color: {bg}; border: none; padding: 8px 24px; margin-top: 1em; }}
</style>
</head>
<body>
<div class="dialog-container intro-dialog"><div class="intro">{title}: starting…</div></div>
<div class="dialog-container closed-dialog"><div class="intro">
<div class="message">Session ended.</div>
<button type="button" onclick="window.location.reload()">Restart</button></div></div>
<div id="terminal" class="textual-terminal" data-font-size="16" data-tab="{tab}" data-tabs="{tabs}"></div>
<script>
(function () {{
  const terminal = document.getElementById("terminal");
  const tabs = terminal.dataset.tabs.split(" ");
  let tab = terminal.dataset.tab;
  const hash = window.location.hash.replace("#", "");
  if (!tab && tabs.includes(hash)) {{ tab = hash; }}
  const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
  // textual.js appends "?width=..&height=..": the tab goes in the path.
  const url = scheme + "//" + window.location.host + "/ws" + (tab ? "/" + tab : "");
  terminal.dataset.sessionWebsocketUrl = url;
}})();
</script>
</body>
</html>
"""
