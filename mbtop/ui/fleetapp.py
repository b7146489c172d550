"""`mbtop fleet`: the live screen of many gateways, from Prometheus or from their agents directly.

Fetching runs in a worker thread (HTTP with timeouts, ``mbtop.fleet``); the answer comes back by
``post_message`` and the next fetch is scheduled only when it has been shown (no overlap, however
slow a target). Nothing here changes a gateway: no action is offered.
"""

from __future__ import annotations

from typing import ClassVar, Protocol

from textual import work
from textual.app import App
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.timer import Timer
from textual.worker import Worker, WorkerState

from mbtop.fleet.model import STALE_AFTER, Details, Fleet
from mbtop.ui.screens.fleet import FleetScreen, GatewayScreen
from mbtop.ui.theming import DEFAULT, install_themes


class FleetSource(Protocol):
    label: str

    def fetch(self) -> Fleet: ...

    def details(self, name: str) -> Details | None: ...


class FleetReady(Message):
    def __init__(self, fleet: Fleet | None, name: str | None, details: Details | None) -> None:
        super().__init__()
        self.fleet = fleet
        self.name = name
        self.details = details


class FleetApp(App[int]):
    TITLE = "mbtop fleet"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit"),
        Binding("p", "pause", "Pause"),
        Binding("r", "refresh", "Refresh", show=False),
        Binding("t", "next_theme", "Theme", show=False),
    ]

    def __init__(self, source: FleetSource, interval: float = 5.0, theme: str | None = None, hint: str = "") -> None:
        super().__init__()
        self.source = source
        self.source_label = source.label
        self.interval = interval
        self.stale_after = max(STALE_AFTER, 5 * interval)
        self.requested_theme = theme
        self.empty_hint = hint or "the source answered with no gateway"
        self.animation_level = "none"
        self.fleet: Fleet | None = None  # the last answer (rows, or the source's error)
        self.shown: Fleet | None = None  # the last answer with rows: it stays on screen when the next fails
        self.details: dict[str, Details] = {}
        self.detail_name: str | None = None
        self.paused = False
        self.fetches = 0  # answers shown (tests wait on it)
        self._timer: Timer | None = None
        self.theme_names: list[str] = []

    def on_mount(self) -> None:
        self.theme, self.theme_names, problems = install_themes(self, self.requested_theme)
        for problem in problems:
            self.notify(problem, severity="warning", timeout=8, markup=False)
        self.push_screen(FleetScreen())
        self._fetch(self.detail_name)

    @work(thread=True, exclusive=True, exit_on_error=False, group="fleet")
    def _fetch(self, name: str | None) -> None:
        fleet = self.source.fetch()
        details = self.source.details(name) if name is not None else None
        self.post_message(FleetReady(fleet, name, details))

    @work(thread=True, exclusive=True, exit_on_error=False, group="details")
    def _fetch_details(self, name: str) -> None:
        self.post_message(FleetReady(None, name, self.source.details(name)))

    def on_fleet_ready(self, message: FleetReady) -> None:
        if message.fleet is None:  # the details alone, asked for when a gateway was opened
            if message.details is not None and message.name is not None:
                self.details[message.name] = message.details
                self._render()
            return
        self.fleet = message.fleet
        if message.fleet.error is None:
            self.shown = message.fleet
        if message.name is not None and message.details is not None:
            self.details[message.name] = message.details
        self.fetches += 1
        self._render()
        self._schedule()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """A fetch that raised (a bug, never a target's answer): said in the header, and tried again."""
        if event.worker.group == "fleet" and event.state == WorkerState.ERROR:
            error = event.worker.error
            self.fleet = Fleet(self.source_label, (), f"fetch failed: {type(error).__name__}: {error}", 0.0)
            self._render()
            self._schedule()

    def _schedule(self) -> None:
        if self._timer is not None:
            self._timer.stop()
        self._timer = None if self.paused else self.set_timer(self.interval, self._due)

    def _due(self) -> None:
        self._timer = None
        self._fetch(self.detail_name)

    def _render(self) -> None:
        for screen in self.screen_stack:
            if isinstance(screen, FleetScreen | GatewayScreen) and screen.is_mounted:
                screen.show()

    def open_gateway(self, name: str) -> None:
        self.detail_name = name
        self.push_screen(GatewayScreen(name))
        if name not in self.details:
            self._fetch_details(name)  # now, not at the next refresh

    def close_gateway(self) -> None:
        self.detail_name = None
        if isinstance(self.screen, GatewayScreen):
            self.pop_screen()

    def action_pause(self) -> None:
        self.paused = not self.paused
        self._schedule()
        self._render()

    def action_refresh(self) -> None:
        self._fetch(self.detail_name)

    def action_next_theme(self) -> None:
        names = [n for n in self.theme_names if n in self.available_themes] or [DEFAULT]
        idx = names.index(self.theme) if self.theme in names else -1
        self.theme = names[(idx + 1) % len(names)]

    def watch_theme(self, theme: str) -> None:
        for screen in self.screen_stack:
            if isinstance(screen, FleetScreen | GatewayScreen) and screen.is_mounted:
                screen.restyle()


def run(source: FleetSource, interval: float, theme: str | None, hint: str = "") -> int:
    app = FleetApp(source, interval=interval, theme=theme, hint=hint)
    app.run()
    return app.return_code or 0
