"""``mbtop web``: the live screen served to a browser (textual-serve), one mbtop per session.

Loopback by default; any other address only with TLS (``[web]`` cert and key). Every request needs
the access token printed at start (and stored 0600 for root alone); read-only unless
``--allow-actions``, and then each action still asks in the page and is audited with the session.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import os
import secrets
import ssl
import stat
import sys
from pathlib import Path
from typing import Any

from mbtop.actions.audit import check_chain
from mbtop.config import Config
from mbtop.text import clean

TOKEN_DIR = Path("/run/mbtop")
EXIT_USAGE = 2


class WebError(Exception):
    """`mbtop web` cannot start as asked; the message says why, for a person."""


def add_parser(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("web", parents=parents, help="serve the live screen to a browser (token, read-only by default)")
    p.add_argument(
        "--listen",
        metavar="ADDR:PORT",
        help="where to listen (default [web] listen, 127.0.0.1:8765); not loopback: TLS",
    )
    p.add_argument("--replay", dest="web_replay", metavar="FILE", help="serve a recording instead of this system")
    p.add_argument(
        "--allow-actions", action="store_true", help="let the page propose actions (each still confirmed, audited)"
    )


def parse_listen(text: str) -> tuple[str, int]:
    """``127.0.0.1:8765``, ``[::1]:8765``, ``localhost:8765``: an IP address (or localhost) and a port."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise WebError(f"--listen {text!r}: give ADDR:PORT, e.g. 127.0.0.1:8765")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if host == "localhost":
        host = "127.0.0.1"
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise WebError(f"--listen {text!r}: the address must be an IP address (or localhost)") from None
    return host, int(port)


def is_loopback(host: str) -> bool:
    return ipaddress.ip_address(host).is_loopback


def tls_context(cfg: Config, host: str) -> ssl.SSLContext | None:
    """TLS from [web] cert and key; required for any address but loopback."""
    web = cfg.web
    if web.cert is None or web.key is None:
        if is_loopback(host):
            return None
        raise WebError(
            f"refusing to listen on {host} without TLS: set cert and key in [web] of the config "
            "(or listen on 127.0.0.1 and use an SSH tunnel: ssh -L 8765:127.0.0.1:8765 gateway)"
        )
    try:
        st = os.stat(web.key, follow_symlinks=False)
    except OSError as exc:
        raise WebError(f"[web] key {web.key}: {exc.strerror}") from None
    if os.geteuid() == 0 and (st.st_uid != 0 or st.st_mode & 0o077 or not stat.S_ISREG(st.st_mode)):
        raise WebError(f"[web] key {web.key}: must be a regular file of root's that no one else can read (chmod 600)")
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(web.cert, web.key)
    except (OSError, ssl.SSLError) as exc:
        raise WebError(f"[web] cert {web.cert} / key {web.key}: {exc}") from None
    return ctx


def store_token(path: Path, token: str) -> None:
    """Write the token 0600, never through a link: a new file beside it, renamed over the name.

    As root the directory is made 0700 and every directory on its path must be root's and
    writable by nobody else (``audit.check_chain``)."""
    parent = path.parent
    if os.geteuid() == 0:
        if not parent.exists():
            check_chain(next(p for p in parent.parents if p.exists()))
            os.makedirs(parent, mode=0o700, exist_ok=True)
        check_chain(parent)
    tmp = parent / f".{path.name}.{secrets.token_hex(4)}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, (token + "\n").encode("ascii"))
    finally:
        os.close(fd)
    os.replace(tmp, path)


def child_argv(cfg: Config, args: argparse.Namespace) -> list[str]:
    """The mbtop each browser session runs: this one's options, read-only unless --allow-actions."""
    argv = [sys.executable, "-m", "mbtop"]
    if cfg.source is not None:
        argv += ["--config", cfg.source]
    for flag in ("no_netlink", "no_firewall", "no_health"):
        if getattr(args, flag, False):
            argv.append("--" + flag.replace("_", "-"))
    if args.web_replay:
        argv += ["--replay", str(Path(args.web_replay).resolve())]
    if not args.allow_actions:
        argv.append("--read-only")
    return argv


def colours(cfg: Config) -> Any:
    """The page's colours from the screen's theme (the default when it is not a known name)."""
    from mbtop.cli.webserver import Colours
    from mbtop.ui.theming import DEFAULT, discover

    themes, _problems = discover()
    by_name = {t.name: t for t in themes}
    theme = by_name.get(cfg.theme or DEFAULT) or by_name.get(DEFAULT)
    if theme is None:
        return Colours()
    base = Colours()
    return Colours(
        background=theme.background or base.background,
        foreground=theme.foreground or base.foreground,
        accent=theme.primary or base.accent,
    )


def run(cfg: Config, args: argparse.Namespace) -> int:
    try:
        host, port = parse_listen(args.listen or cfg.web.listen)
        ctx = tls_context(cfg, host)
        if args.web_replay and not Path(args.web_replay).is_file():
            raise WebError(f"--replay {args.web_replay}: no such file")
    except WebError as exc:
        print(f"mbtop: {clean(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    return serve(cfg, args, host, port, ctx)


def serve(cfg: Config, args: argparse.Namespace, host: str, port: int, ctx: ssl.SSLContext | None) -> int:
    import asyncio
    import signal

    from aiohttp import web

    from mbtop.cli import TABS
    from mbtop.cli.webserver import AccessLog, WebServer, child_env

    token = secrets.token_urlsafe(32)
    server = WebServer(
        child_argv(cfg, args),
        token=token,
        host=host,
        port=port,
        max_sessions=cfg.web.max_sessions,
        env=child_env(),
        tabs=TABS,
        title=f"mbtop {os.uname().nodename}" + (" (replay)" if args.web_replay else ""),
        colours=colours(cfg),
        secure=ctx is not None,
    )
    server.initialize_logging()

    async def main() -> int:
        app = await server._make_app()
        runner = web.AppRunner(app, handle_signals=False, access_log_class=AccessLog)
        await runner.setup()
        site = web.TCPSite(runner, host, port, ssl_context=ctx)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            print(f"mbtop: cannot listen on {host}:{port}: {exc.strerror or exc}", file=sys.stderr)
            return 1
        bound = runner.addresses[0][1] if runner.addresses else port
        token_file = TOKEN_DIR / f"web-{bound}.token"
        stored = None
        if os.geteuid() == 0:
            try:
                store_token(token_file, token)
                stored = token_file
            except (OSError, ValueError) as exc:
                print(f"mbtop: the token is not stored in {token_file}: {exc}", file=sys.stderr)
        shown = f"[{host}]" if ":" in host else host
        scheme = "https" if ctx is not None else "http"
        mode = "actions allowed (each confirmed and audited)" if args.allow_actions else "read-only"
        print(f"mbtop web: {mode}, at most {cfg.web.max_sessions} sessions", flush=True)
        if stored is not None:
            print(f"the token is also in {stored} (root only)", flush=True)
        print(f"    {scheme}://{shown}:{bound}/?token={token}", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await stop.wait()
        finally:
            await runner.cleanup()  # ends every session's mbtop (on_shutdown)
            if stored is not None:
                with contextlib.suppress(OSError):
                    os.unlink(stored)
        return 0

    return asyncio.run(main())
