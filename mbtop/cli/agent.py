"""``mbtop agent``: the monitor without a screen, in the foreground, recording every frame.

Logs to stderr (no timestamps of its own under systemd: journald adds them). SIGTERM/SIGINT stop
it cleanly (queued frames written, the recording closed and its WAL checkpointed); SIGHUP reloads
the config, and keeps the old one (saying why) when the new one is refused.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mbtop.config import Config, ConfigError, check_listen, load
from mbtop.engine.store import RecordingError, Store, parse_duration, parse_size
from mbtop.export.listen import DEFAULT_PORT, LOOPBACK, ListenError, is_loopback, parse_listen
from mbtop.text import clean

if TYPE_CHECKING:  # the recorder (cattrs) is loaded when the agent starts, not to build the CLI's parser
    from mbtop.engine.recorder import Recorder, RecorderStatus
    from mbtop.engine.server import AgentServer
    from mbtop.export.collector import FrameCollector
    from mbtop.export.server import MetricsServer

log = logging.getLogger("mbtop.agent")


def add_parser(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("agent", parents=parents, help="the monitor without a screen, recording what it sees")
    rec = p.add_mutually_exclusive_group()
    rec.add_argument("--record", type=Path, metavar="PATH", help="the recording (default /var/lib/mbtop/mbtop.db)")
    rec.add_argument("--no-record", action="store_true", help="record nothing")
    p.add_argument(
        "--interval", dest="agent_interval", type=float, metavar="SECONDS", help="seconds between samples (default 1)"
    )
    p.add_argument("--max-size", type=parse_size, metavar="SIZE", help="the recording's cap, e.g. 2M, 256M")
    p.add_argument("--keep", type=parse_duration, metavar="AGE", help="drop frames older than this, e.g. 10m, 7d")
    p.add_argument(
        "--listen",
        nargs="?",
        const=(LOOPBACK, DEFAULT_PORT),
        type=_listen,
        metavar="ADDR:PORT",
        help=f"serve Prometheus /metrics on ADDR:PORT (without one: {LOOPBACK}:{DEFAULT_PORT}); loopback only"
        " unless --listen-remote",
    )
    p.add_argument("--listen-remote", action="store_true", help="allow a non-loopback --listen address")
    p.add_argument(
        "--web-config",
        type=Path,
        metavar="FILE",
        help="TLS and basic auth for /metrics, in Prometheus exporter-toolkit's web-config format",
    )

    serve = p.add_mutually_exclusive_group()
    serve.add_argument(
        "--socket",
        dest="serve_socket",
        type=Path,
        metavar="PATH",
        help="where viewers (sudo mbtop) attach (default /run/mbtop/agent.sock, root only)",
    )
    serve.add_argument("--no-serve", action="store_true", help="serve no viewers (each mbtop runs its own engine)")


def _listen(text: str) -> tuple[str, int]:
    try:
        return parse_listen(text)
    except ListenError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _logging() -> None:
    systemd = bool(os.environ.get("JOURNAL_STREAM") or os.environ.get("INVOCATION_ID"))
    fmt = "%(levelname)s %(message)s" if systemd else "%(asctime)s mbtop agent: %(levelname)s %(message)s"
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format=fmt)


class Agent:
    def __init__(self, cfg: Config, args: argparse.Namespace) -> None:
        self.cfg = cfg
        self.args = args
        self.stop = threading.Event()
        self.reload = threading.Event()
        self.recorder: Recorder | None = None
        self.pending: tuple[Path, int, float, float] | None = None  # a recording to open when there is room
        self.unsubscribe_recorder: Any = None
        self.metrics: MetricsServer | None = None
        self.engine: Any = None
        self.server: AgentServer | None = None

    def settings(self, cfg: Config) -> tuple[Path | None, int, float, float]:
        a = self.args
        path = None if a.no_record else (a.record or cfg.agent.record)
        return (
            path,
            a.max_size or cfg.agent.max_size,
            a.keep or cfg.agent.keep,
            a.agent_interval or cfg.agent.interval,
        )

    def _said(self, status: RecorderStatus) -> None:
        if status.problem:
            log.warning("%s", clean(status.problem))
        else:
            log.info("recording again (%d frames dropped so far)", status.dropped)

    def begin(self) -> None:
        from mbtop.engine.source import live_engine

        path, size, keep, interval = self.settings(self.cfg)
        collector = self.begin_metrics(self.cfg)
        self.pending = None
        if path is not None:
            self.open_recording(path, size, keep)
        else:
            log.info("not recording (--no-record or record = false)")
        a = self.args
        self.engine = live_engine(
            self.cfg, interval=interval, netlink=not a.no_netlink, firewall=not a.no_firewall, health=not a.no_health
        )
        if self.recorder is not None:
            self.unsubscribe_recorder = self.engine.subscribe(self.recorder)
        if collector is not None:
            self.engine.subscribe(collector)
        if self.server is not None:
            self.server.attach(self.engine)
        self.engine.start()
        log.info("started: a frame every %g s", interval)

    def open_recording(self, path: Path, size: int, keep: float) -> bool:
        """The recorder on ``path``; a full filesystem is said and tried again every RETRY seconds
        while the monitoring goes on (the metrics, the viewers), not a reason to stop."""
        from mbtop.engine.recorder import RETRY, Recorder, key_every_for
        from mbtop.engine.store import DiskFull

        try:
            store = Store(path, max_size=size, keep=keep, key_every=key_every_for(size))
        except DiskFull as exc:
            if self.pending is None:
                log.warning("%s; monitoring goes on, recording is retried every %g s", clean(str(exc)), RETRY)
            self.pending = (path, size, keep, time.monotonic() + RETRY)
            return False
        self.pending = None
        self.recorder = Recorder(store, on_state=self._said)
        log.info("recording to %s (cap %d bytes, keep %g s)", path, size, keep)
        return True

    def retry_recording(self) -> None:
        if self.pending is None or time.monotonic() < self.pending[3] or self.engine is None:
            return
        path, size, keep, _due = self.pending
        if self.open_recording(path, size, keep) and self.recorder is not None:
            self.unsubscribe_recorder = self.engine.subscribe(self.recorder)

    def begin_metrics(self, cfg: Config) -> FrameCollector | None:
        """/metrics, before the engine's first frame (a scrape then says there is none yet)."""
        a = self.args
        listen: tuple[str, int] | None = a.listen or cfg.agent.listen
        if listen is None:
            return None
        check_listen(listen, a.listen_remote or cfg.agent.listen_remote, "--listen" if a.listen else "[agent] listen")
        from mbtop.export import webconfig
        from mbtop.export.collector import FrameCollector
        from mbtop.export.extras import extra_families
        from mbtop.export.server import MetricsServer

        path = a.web_config or cfg.agent.web_config
        web = webconfig.load(path) if path is not None else None
        collector = FrameCollector(extra_families(cfg))
        try:
            self.metrics = MetricsServer(collector, listen, web).start()
        except OSError as exc:
            raise ConfigError(f"cannot serve /metrics on {listen[0]}:{listen[1]}: {exc.strerror or exc}") from None
        host, port = self.metrics.address
        host = f"[{host}]" if ":" in host else host
        auth = f", basic auth ({len(web.users)} users)" if web is not None and web.users else ""
        scheme = "https" if web is not None and web.tls else "http"
        log.info("metrics at %s://%s:%d/metrics%s", scheme, host, port, auth)
        if not is_loopback(listen[0]) and (web is None or not web.tls or not web.users):
            log.warning("metrics are served to the network without TLS and basic auth (see --web-config)")
        return collector

    def end(self) -> None:
        if self.metrics is not None:
            self.metrics.stop()
            self.metrics = None
        if self.engine is not None:
            self.engine.stop()
        if self.recorder is not None:
            self.recorder.close()
            st = self.recorder.status
            log.info("recording closed: %d frames written, %d dropped", st.written, st.dropped)
        self.engine = self.recorder = None

    def do_reload(self) -> None:
        try:
            cfg = load(self.args.config)
        except ConfigError as exc:
            log.error("config not reloaded, the old one is kept: %s", clean(str(exc)))
            return
        self.end()
        self.cfg = cfg
        try:
            self.begin()
        except (RecordingError, ConfigError) as exc:
            log.error("%s", clean(str(exc)))
            self.stop.set()
            return
        log.info("config reloaded from %s", clean(cfg.source or "the defaults"))

    def serve(self) -> None:
        """The viewers' socket, made before anything else: a second agent stops here, before it
        opens the recording the first one writes."""
        if getattr(self.args, "no_serve", False):
            log.info("serving no viewers (--no-serve)")
            return
        from mbtop.engine import wire
        from mbtop.engine.server import AgentServer

        path = getattr(self.args, "serve_socket", None) or Path(wire.DEFAULT_SOCKET)
        self.server = AgentServer(path).start()
        log.info("viewers attach on %s (protocol %d)", path, wire.PROTOCOL)

    def run(self) -> int:
        from mbtop.engine.sockpath import SocketPathError

        signal.signal(signal.SIGTERM, lambda *_: self.stop.set())
        signal.signal(signal.SIGINT, lambda *_: self.stop.set())
        signal.signal(signal.SIGHUP, lambda *_: self.reload.set())
        try:
            self.serve()
            self.begin()
        except (RecordingError, SocketPathError) as exc:
            log.error("%s", clean(str(exc)))
            if self.server is not None:
                self.server.close()
            self.end()
            return 1
        except ConfigError as exc:
            log.error("%s", clean(str(exc)))
            if self.server is not None:
                self.server.close()
            self.end()
            return 2
        try:
            while not self.stop.is_set():
                self.stop.wait(0.5)
                self.retry_recording()
                if self.reload.is_set():
                    self.reload.clear()
                    self.do_reload()
        finally:
            if self.server is not None:
                self.server.close()
            self.end()
            log.info("stopped")
        return 0


def run(cfg: Config, args: argparse.Namespace) -> int:
    _logging()
    return Agent(cfg, args).run()
