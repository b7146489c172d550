"""The live screen: `sudo mbtop`.

It reads frames from a ``FrameSource`` (an in-process engine, a recording) and draws them; it
never samples, follows a log or schedules a probe itself. Actions run here, in the viewer's
process (``mbtop.ui.acting``); log windows are kept here (``mbtop.ui.feed``).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import ClassVar

from textual.app import SystemCommand
from textual.binding import Binding, BindingType
from textual.css.query import NoMatches
from textual.driver import Driver
from textual.drivers.linux_driver import LinuxDriver
from textual.notifications import SeverityLevel
from textual.screen import Screen
from textual.timer import Timer

from mbtop.actions.audit import DEFAULT_LOG
from mbtop.actions.plan import Plan, Result
from mbtop.catalog import Catalog
from mbtop.config import Config
from mbtop.engine.engine import Engine
from mbtop.engine.playback import RecordingSource
from mbtop.engine.source import FrameSource, LiveSource, screen_source
from mbtop.engine.store import RecordingError
from mbtop.engine.types import ERROR_LOG_OFFSET, Frame, MailEvent, Sample, WebEvent, Window
from mbtop.model import queue as queuemodel
from mbtop.model.flood import Thresholds
from mbtop.model.vitals import VitalsThresholds
from mbtop.text import clean
from mbtop.ui.acting import ACTIONS
from mbtop.ui.messages import FrameReady
from mbtop.ui.screens.detail import DetailScreen, PortDetail, SocketDetail
from mbtop.ui.screens.help import HelpScreen
from mbtop.ui.screens.main import MainScreen
from mbtop.ui.screens.queuelist import QueueListScreen
from mbtop.ui.state import View
from mbtop.ui.terminal import BACKLOG_LIMIT, LOW_BANDWIDTH_FRAME, QUEUED_FRAMES, SWITCH_INTERVAL, terminal_backlog
from mbtop.ui.theming import DEFAULT, install_themes
from mbtop.ui.travel import TravelApp

Source = Callable[[], Sample]
__all__ = ["ACTIONS", "ERROR_LOG_OFFSET", "MbtopApp", "run"]


class MbtopApp(TravelApp):
    TITLE = "mbtop"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit"),
        Binding("question_mark", "help", "Help"),
        Binding("p", "pause", "Pause"),
        Binding("r", "refresh", "Refresh", show=False),
        Binding("t", "next_theme", "Theme", show=False),
    ]

    def __init__(
        self,
        catalog: Catalog,
        source: FrameSource | Source,
        interval: float = 1.0,
        theme: str | None = None,
        ascii_only: bool | None = None,
        follow_logs: bool = True,
        thresholds: Thresholds | None = None,
        health_every: float | None = None,
        health_timeout: float = 3.0,
        read_only: bool = False,
        audit_log: Path | None = None,
        low_bandwidth: bool = False,
        gateway: bool = False,
        queue_thresholds: queuemodel.QueueThresholds | None = None,
        vitals_thresholds: VitalsThresholds | None = None,
        history_path: Path | None = None,
        tab: str = "overview",
    ) -> None:
        """``source``: where frames come from. A plain sample source (a ``Sampler``'s ``sample``, a
        ``Replay``) gets an in-process engine configured from the other arguments. ``history_path``:
        the agent's recording, which `[` and `]` scroll through."""
        super().__init__()
        if callable(source):
            engine = Engine(
                catalog,
                source,
                interval=interval,
                follow_logs=follow_logs,
                thresholds=thresholds,
                health_every=health_every,
                health_timeout=health_timeout,
                gateway=gateway,
                queue_thresholds=queue_thresholds,
                vitals_thresholds=vitals_thresholds,
            )
            source = LiveSource(engine)
        self.frames: FrameSource = source
        # Over a slow link: redraw at most every LOW_BANDWIDTH_FRAME seconds (at once when the status
        # or an alert changes), 16 colours; sampling keeps its own interval.
        self.low_bandwidth = low_bandwidth
        self.frame_every = LOW_BANDWIDTH_FRAME if low_bandwidth else 0.0
        self._last_render = float("-inf")
        self._render_timer: Timer | None = None
        self._rendered_state: tuple[object, ...] | None = None
        # No animations, ever: a sliding tab underline is twenty frames of CPU and bytes over SSH
        # per tab switch, and it competed with the next key press for the event loop.
        self.animation_level = "none"
        # Actions change the system: never from a recording, never with --read-only.
        self.read_only = read_only or not source.live
        self.audit_log = audit_log or DEFAULT_LOG
        self.last_action: tuple[Plan, Result, list[str], bool | None] | None = None
        self._flood_visible = False
        self.catalog = catalog
        self.first_tab = tab
        self.interval = interval
        self.requested_theme = theme
        term = os.environ.get("TERM", "")
        self.ascii_only = term == "linux" if ascii_only is None else ascii_only
        self.view: View | None = None
        self.frame: Frame | None = None  # the last frame shown
        self._held: Frame | None = None  # the newest frame that came while paused
        self.paused = False
        self.error: str | None = None
        self.theme_names: list[str] = []
        self.theme_problems: list[str] = []
        self.samples_taken = 0
        self.mail_window: Window[MailEvent] = Window()
        self.web_window: Window[WebEvent] = Window()
        self.log_status: dict[str, str] = {}
        self._log_timer: Timer | None = None
        self.history_path = history_path
        self.past = None
        self._live_logs = None

    def _setup_themes(self) -> None:
        self.theme, self.theme_names, self.theme_problems = install_themes(self, self.requested_theme)

    def on_mount(self) -> None:
        self._setup_themes()
        self.push_screen(MainScreen(self.first_tab))
        for problem in self.theme_problems:
            self.notify(problem, severity="warning", timeout=8, markup=False)  # file names, parser errors
        note = str(getattr(self.frames, "note", ""))  # an agent that refused this screen: say why, once
        if note:
            self.notify(note, severity="warning", timeout=15, markup=False)
        self.frames.start(self._frame_arrived, self._logs_arrived)

    def on_unmount(self) -> None:
        if self.past is not None:
            self.past.stop()
        self.frames.stop()

    def open_queue_list(self, by: str, value: str) -> None:
        self.push_screen(QueueListScreen(by, value))

    def on_frame_ready(self, message: FrameReady) -> None:
        frame = message.frame
        if (message.origin == "history") != (self.past is not None):
            if self.past is not None:
                self._held = frame  # the machine now, while the screen shows the past: kept for `]`
            return  # (or a late frame of a history just left)
        if self.paused and self.past is None:
            self._held = frame  # the screen stands still; the newest is shown on resume
            return
        self._show(frame)

    def _show(self, frame: Frame) -> None:
        if frame.error is not None:
            # The sample failed: the last good frame stays, with the reason in the header.
            self.error = frame.error
            if self.view is not None:
                self.view = dataclasses.replace(self.view, paused=self.paused, error=self.error)
                self._render_view()
            return
        self.error = None
        self.samples_taken += 1
        self.frame = frame
        via = str(getattr(self.frames, "via", ""))  # an attached source: "via agent", or why no longer
        if self.view is not None and via != self.view.via and via.startswith("own engine"):
            self.notify(str(getattr(self.frames, "note", "")), severity="warning", timeout=15, markup=False)
        self.view = View(
            frame.sample,
            frame.snapshot,
            frame.rates,
            self.paused,
            None,
            frame.flood,
            frame.fail2ban,
            via,
            self.timeline(frame),
        )
        self._render_soon()

    def _alert_state(self) -> tuple[object, ...]:
        view = self.view
        if view is None:
            return ()
        snap = view.snapshot
        return (snap.status, len(snap.findings), view.flood.alert if view.flood else None, view.error, view.paused)

    def _render_soon(self) -> None:
        """Draw the new view now, or later when the terminal is behind (or the link is slow).

        Frames are dropped, never queued: when the terminal's output queue is backed up (a slow SSH
        link) nothing is drawn until it drains, then only the latest view is.
        """
        if self._render_timer is not None:
            return  # a redraw of the latest view is already due
        now = time.monotonic()
        urgent = self._alert_state() != self._rendered_state
        wait = 0.0
        if self.terminal_behind():
            wait = 0.5
        elif self.frame_every and not urgent:
            wait = max(0.0, self._last_render + self.frame_every - now)
        if wait > 0:
            self._render_timer = self.set_timer(wait, self._render_due)
            return
        self._last_render = now
        self._rendered_state = self._alert_state()
        self._render_view()

    def terminal_behind(self) -> bool:
        """Is output still waiting to reach the terminal?  Textual's writer queue holds whole frames
        not yet written (a pty's own queue cannot be asked: TIOCOUTQ reads 0 there); a serial or
        console tty is asked directly."""
        writer = getattr(getattr(self, "_driver", None), "_writer_thread", None)
        queue = getattr(writer, "_queue", None)
        qsize = getattr(queue, "qsize", None)
        if callable(qsize) and qsize() > QUEUED_FRAMES:
            return True
        return terminal_backlog() > BACKLOG_LIMIT

    async def action_quit(self) -> None:
        """Quit at once, even behind a slow link: frames not yet sent are dropped, not waited for."""
        self.discard_pending_output()
        self.exit()

    def discard_pending_output(self) -> None:
        driver = getattr(self, "_driver", None)
        abandon = getattr(driver, "abandon_output", None)
        if callable(abandon):
            abandon()

    def get_driver_class(self) -> type[Driver]:
        base = super().get_driver_class()
        if base is LinuxDriver:
            from mbtop.ui.driver import MbtopDriver

            return MbtopDriver
        return base

    def _render_due(self) -> None:
        self._render_timer = None
        self._render_soon()

    def _screens(self) -> Iterable[MainScreen | DetailScreen]:
        for screen in self.screen_stack:
            if isinstance(screen, MainScreen | DetailScreen):
                yield screen

    def _render_view(self) -> None:
        if self.view is None:
            return
        for screen in self._screens():
            try:
                screen.show(self.view)
            except NoMatches:
                # A sample that lands while a screen is being built or torn down (start, quit):
                # its widgets are not there to draw into; the next sample draws the screen.
                continue

    def open_detail(self, key: str) -> None:
        if key.startswith("port:"):
            self.push_screen(PortDetail(key))
        elif key.startswith("socket:"):
            self.push_screen(SocketDetail(key))

    def action_pause(self) -> None:
        if self.mode == "replay":
            self.action_play()  # the recording's clock stops, not the screen
            return
        self.paused = not self.paused
        if self.view is not None:
            self.view = dataclasses.replace(self.view, paused=self.paused, error=self.error)
            self._render_view()
        held, self._held = self._held, None
        if not self.paused and held is not None:
            self._show(held)

    def action_refresh(self) -> None:
        if not self.paused:
            self.frames.sample_now()  # "sample now" means all of it, budget or not

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_next_theme(self) -> None:
        names = [n for n in self.theme_names if n in self.available_themes] or [DEFAULT]
        idx = names.index(self.theme) if self.theme in names else -1
        self.theme = names[(idx + 1) % len(names)]
        self.notify(f"theme: {self.theme}", timeout=2, markup=False)

    def watch_theme(self, theme: str) -> None:
        for screen in self._screens():
            screen.restyle()

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = False,
    ) -> None:
        """Every notification (command output, process names, file names): plain text, never markup,
        each line cleaned of escapes, controls, bidi overrides and zero-width characters."""
        text = "\n".join(clean(line) for line in message.splitlines())
        super().notify(text, title=clean(title), severity=severity, timeout=timeout, markup=False)

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("Pause / resume refresh", "Stop or restart sampling (p)", self.action_pause)
        yield SystemCommand("Refresh now", "Take a sample immediately (r)", self.action_refresh)
        yield SystemCommand("Next mbtop theme", "Cycle the mbtop themes (t)", self.action_next_theme)
        yield SystemCommand("Keys", "Every key mbtop knows (?)", self.action_help)
        if self.view is not None:
            for p in self.view.snapshot.ports:
                yield SystemCommand(
                    f"Port {p.spec.port} {p.spec.name}",
                    f"Details of port {p.spec.port}",
                    lambda k=p.key: self.open_detail(k),
                )
            for s in self.view.snapshot.sockets:
                yield SystemCommand(
                    f"Socket {s.spec.id}", f"Details of {s.spec.path}", lambda k=s.key: self.open_detail(k)
                )
                yield SystemCommand(
                    f"Fix permissions of {s.spec.id}.sock",
                    f"Set {s.spec.path} to {s.spec.owner}:{s.spec.group} {s.spec.mode_text} (preview first)",
                    lambda path=s.spec.path: self.propose("fix-perms", path),
                )
            for svc in self.catalog.services:
                yield SystemCommand(
                    f"Restart {svc.name}",
                    f"Restart {svc.name} ({svc.unit}) and check its ports come back (preview first)",
                    lambda name=svc.name: self.propose("restart", name),
                )
            for p in self.view.snapshot.ports:
                if any(f.code == "unexpected-owner" for f in p.findings):
                    yield SystemCommand(
                        f"Free port {p.spec.port}",
                        f"Stop the process squatting port {p.spec.port}, then start {p.spec.service} (preview first)",
                        lambda port=p.spec.port: self.propose("free-port", str(port)),
                    )


def _replay_file(cfg: Config, args: argparse.Namespace, interval: float) -> FrameSource:
    """``--replay FILE``: the agent's recordings (SQLite) as `mbtop replay` plays them, `mbtop record`'s
    JSON samples as before. ValueError, with a message for a person, for a file that is neither."""
    path = Path(args.replay)
    try:
        with open(path, "rb") as fh:
            head = fh.read(16)
    except OSError as exc:
        raise ValueError(f"{path}: {exc.strerror}") from None
    if head == b"SQLite format 3\x00":
        try:
            return RecordingSource(path)
        except RecordingError as exc:
            raise ValueError(str(exc)) from None
    try:
        return screen_source(cfg, args, interval)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"{path}: not a recording of `mbtop record` or `mbtop agent` ({exc})") from None


def run(cfg: Config, args: argparse.Namespace) -> int:
    interval = max(0.2, args.interval if args.interval is not None else cfg.interval)
    low_bandwidth = bool(getattr(args, "low_bandwidth", False) or cfg.low_bandwidth)
    if getattr(args, "replay", None):
        try:
            source = _replay_file(cfg, args, interval)
        except ValueError as exc:
            print(f"mbtop: {clean(str(exc))}", file=sys.stderr)
            return 2
    else:
        source = screen_source(cfg, args, interval)
    app = MbtopApp(
        cfg.catalog,
        source,
        interval=interval,
        theme=args.theme or cfg.theme or ("mbtop-16" if low_bandwidth else None),
        read_only=bool(args.read_only or cfg.read_only),
        audit_log=cfg.audit_log,
        low_bandwidth=low_bandwidth,
        history_path=cfg.agent.record,
        tab=getattr(args, "tab", None) or "overview",
    )
    # The engine and the log parser run in threads beside the event loop; a shorter switch
    # interval hands the interpreter back to the keyboard, the loop and the writer sooner.
    sys.setswitchinterval(SWITCH_INTERVAL)
    app.run()
    return app.return_code or 0


def run_recording(cfg: Config, args: argparse.Namespace, source: FrameSource) -> int:
    """`mbtop replay`: the screen on a recording (read-only: the source is not live)."""
    app = MbtopApp(cfg.catalog, source, theme=cfg.theme, audit_log=cfg.audit_log, low_bandwidth=cfg.low_bandwidth)
    sys.setswitchinterval(SWITCH_INTERVAL)
    app.run()
    return app.return_code or 0
