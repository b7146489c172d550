"""The live screen's side of a frame source: frames and log batches in, the log windows kept.

A mixin of ``MbtopApp``: the source's callbacks run in its threads and only post messages; the
handlers here run on the event loop.
"""

from __future__ import annotations

import ipaddress
import time
from pathlib import Path
from typing import Any

from textual.app import App
from textual.css.query import NoMatches
from textual.timer import Timer
from textual.widgets import TabbedContent

from mbtop.catalog import Catalog
from mbtop.engine.engine import Engine
from mbtop.engine.source import FrameSource, LiveSource
from mbtop.engine.types import (
    Frame,
    Health,
    LogBatch,
    MailEvent,
    WebEvent,
    Window,
    mail_event_port,
    mail_tally,
    socket_errors,
    web_event_ports,
    web_tally,
)
from mbtop.model.gateway import GatewayState
from mbtop.ui import messages
from mbtop.ui.screens.main import MainScreen
from mbtop.ui.screens.trace import TraceScreen
from mbtop.ui.state import View
from mbtop.ui.widgets.logspane import LogsPane


class FeedApp(App[int]):
    """The source and what reaches into its engine; log windows and traces; the source's callbacks."""

    frames: FrameSource
    catalog: Catalog
    view: View | None
    frame: Frame | None
    read_only: bool
    audit_log: Path
    mail_window: Window[MailEvent]
    web_window: Window[WebEvent]
    log_status: dict[str, str]
    _log_timer: Timer | None
    _flood_visible: bool

    def live_batch_while_away(self, batch: messages.LogBatch) -> None:
        """A live batch while the screen shows a recording's past (the history mixin keeps it)."""

    def action_refresh(self) -> None:
        """Ask the source for a frame now (the app's own adds the pause)."""
        self.frames.sample_now()

    # --- the engine behind a live source, for the few who reach into it (tests, screenshots) ---

    @property
    def engine(self) -> Engine | None:
        return self.frames.engine if isinstance(self.frames, LiveSource) else None

    def _engine_attr(self, name: str) -> Any:
        return getattr(self.engine, name, None)

    def _set_engine_attr(self, name: str, value: object) -> None:
        if self.engine is not None:
            setattr(self.engine, name, value)

    source = property(lambda self: self._engine_attr("source"), lambda self, v: self._set_engine_attr("source", v))
    sampler = property(lambda self: self._engine_attr("sampler"))
    tracker = property(lambda self: self._engine_attr("tracker"))
    gateway = property(lambda self: self._engine_attr("gateway"), lambda self, v: self._set_engine_attr("gateway", v))
    fail2ban_job = property(
        lambda self: self._engine_attr("fail2ban_job"), lambda self, v: self._set_engine_attr("fail2ban_job", v)
    )

    @property
    def health(self) -> dict[str, Health]:
        """The protocol checks' answers in the last frame ("port:25" → result)."""
        return dict(self.frame.sample.health) if self.frame is not None else {}

    @property
    def gateway_state(self) -> GatewayState | None:
        """The queue and vitals as the last frame had them."""
        return self.frame.gateway if self.frame is not None else self._engine_attr("gateway_state")

    @gateway_state.setter
    def gateway_state(self, state: GatewayState | None) -> None:
        self._set_engine_attr("gateway_state", state)

    @property
    def flood_visible(self) -> bool:
        return self._flood_visible

    @flood_visible.setter
    def flood_visible(self, visible: bool) -> None:
        """Set by the main screen: fail2ban is asked more often while the Flood tab is shown."""
        if visible != self._flood_visible:
            self._flood_visible = visible
            self.frames.set_flood_visible(visible)

    def _frame_arrived(self, frame: Frame) -> None:
        """From the source's thread."""
        self.post_message(messages.FrameReady(frame))

    def _logs_arrived(self, batch: LogBatch) -> None:
        """From the source's log thread."""
        self.post_message(messages.LogBatch(batch))

    def on_log_batch(self, message: messages.LogBatch) -> None:
        away = getattr(self, "past", None) is not None  # the screen shows the past ([ and ])
        if (message.origin == "history") != away:
            if away:
                self.live_batch_while_away(message)
            return
        if message.reset:  # a recording jumped: its events replace the window's
            if message.which == "mail":
                self.mail_window = Window()
            else:
                self.web_window = Window()
        now = time.monotonic()
        if message.which == "mail":
            self.mail_window.add(message.events, now, mail_tally)  # type: ignore[arg-type]
        else:
            self.web_window.add(message.events, now, web_tally)  # type: ignore[arg-type]
        self.log_status[message.path] = f"{message.path}: {message.status}"
        if self._log_timer is None:
            self._log_timer = self.set_timer(0.25, self.render_logs)

    def render_logs(self, force: bool = False) -> None:
        """Redraw the Logs tab; while it is hidden the windows keep counting and nothing is drawn."""
        self._log_timer = None
        for screen in self.screen_stack:
            if isinstance(screen, MainScreen):
                try:
                    if not force and screen.query_one("#tabs", TabbedContent).active != "logs":
                        continue
                    pane = screen.query_one("#logs-pane", LogsPane)
                except NoMatches:
                    continue  # the screen is being built or torn down (see _render_view)
                pane.show(self.mail_window, self.web_window, time.monotonic(), list(self.log_status.values()))

    def socket_error_events(self) -> dict[str, list[WebEvent]]:
        """nginx error lines naming a documented socket, by its catalog path (for the sockets views)."""
        aliases = (
            dict(self.view.sample.aliases) if self.view else {s.path: frozenset({s.path}) for s in self.catalog.sockets}
        )
        return socket_errors(self.web_window.events, aliases)

    def port_events(self, port: int) -> list[MailEvent] | list[WebEvent]:
        """The recent log events of one documented port: its mail events, or the web events for nginx ports."""
        if port in web_event_ports(self.catalog):
            return list(self.web_window.events)
        return [e for e in self.mail_window.events if mail_event_port(e, self.catalog) == port]

    def open_client_trace(self, address: str) -> None:
        """The mail log lines of one source (or of one network, for a /24 or /64)."""
        if "/" in address:
            net = ipaddress.ip_network(address, strict=False)
            lines = [e for e in self.mail_window.events if e.client_ip and ipaddress.ip_address(e.client_ip) in net]
        else:
            lines = [e for e in self.mail_window.events if e.client_ip == address]
        self.push_screen(TraceScreen(f"Mail log lines of {address}", lines))

    def open_trace(self, line_no: int) -> None:
        ev = next((e for e in self.mail_window.events if e.line_no == line_no), None)
        if ev is None:
            return
        if ev.queue_id:
            self.push_screen(TraceScreen(f"Queue id {ev.queue_id}", self.mail_window.trace(ev.queue_id)))
        elif ev.client_ip:
            lines = [e for e in self.mail_window.events if e.client_ip == ev.client_ip]
            self.push_screen(TraceScreen(f"Client {ev.client_ip}", lines))

    def open_queue_trace(self, queue_id: str) -> None:
        self.push_screen(TraceScreen(f"Queue id {queue_id}", self.mail_window.trace(queue_id)))
