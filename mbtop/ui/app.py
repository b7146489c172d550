"""The live screen: `sudo mbtop`."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import fcntl
import ipaddress
import os
import struct
import sys
import termios
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, ClassVar

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.css.query import NoMatches
from textual.driver import Driver
from textual.drivers.linux_driver import LinuxDriver
from textual.notifications import SeverityLevel
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import TabbedContent
from textual.worker import Worker, WorkerState

from mbtop.actions import builders, verify
from mbtop.actions import queue as queue_actions
from mbtop.actions.audit import DEFAULT_LOG
from mbtop.actions.plan import Plan, Result
from mbtop.actions.run import execute
from mbtop.catalog import Catalog
from mbtop.config import Config
from mbtop.logs import journal, nginx
from mbtop.logs.events import MailEvent, WebEvent
from mbtop.logs.follow import Follower, Line, follow
from mbtop.logs.own import OwnSessions, live_sessions
from mbtop.logs.ports import mail_event_port, socket_errors, web_event_ports
from mbtop.logs.postfix import PostfixParser
from mbtop.logs.window import Window, mail_tally, web_tally
from mbtop.model import queue as queuemodel
from mbtop.model.build import build, with_host_findings
from mbtop.model.flood import (
    FloodState,
    FloodTracker,
    Thresholds,
    finding,
    firewall_rate,
    from_firewall,
    mail_ports,
)
from mbtop.model.gateway import QUEUE_EVERY, GatewayReader, GatewayState
from mbtop.model.history import RateTracker
from mbtop.model.types import Snapshot
from mbtop.model.vitals import VitalsThresholds, extend
from mbtop.probes import fail2ban
from mbtop.probes.fail2ban import Fail2ban
from mbtop.probes.healthwatch import HealthWatch
from mbtop.probes.sample import CONNECTIONS_BUDGET, Sample, Sampler
from mbtop.probes.schedule import Periodic
from mbtop.text import clean
from mbtop.ui.messages import LogBatch, SnapshotReady
from mbtop.ui.screens.confirm import ConfirmScreen
from mbtop.ui.screens.detail import DetailScreen, PortDetail, SocketDetail
from mbtop.ui.screens.help import HelpScreen
from mbtop.ui.screens.main import MainScreen
from mbtop.ui.screens.queuelist import QueueListScreen
from mbtop.ui.screens.trace import TraceScreen
from mbtop.ui.state import View
from mbtop.ui.theming import DEFAULT, ThemeError, discover, load_file
from mbtop.ui.widgets.logspane import LogsPane

Source = Callable[[], Sample]
ERROR_LOG_OFFSET = 1_000_000_000
FAIL2BAN_EVERY = 60.0  # seconds (fail2ban-client is a Python program)
FAIL2BAN_FLOOD_EVERY = 10.0  # seconds, while the Flood tab is shown
FLOOD_KINDS = frozenset(
    {"connect", "postscreen", "reject", "milter_reject", "sasl_fail", "rate_limit", "pipelining", "non_smtp"}
)  # error-log lines share the web window: keep their row keys apart


class MbtopApp(App[int]):
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
        source: Source,
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
    ) -> None:
        super().__init__()
        # The mail queue and the vitals: read in their own worker on their own cadence (never for a
        # recording); the latest state's findings are added to each snapshot.
        self.gateway = GatewayReader() if gateway else None
        self.gateway_state: GatewayState | None = None
        self.queue_thresholds = queue_thresholds or queuemodel.QueueThresholds()
        self.vitals_thresholds = vitals_thresholds or VitalsThresholds()
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
        # The live system's sampler behind ``source`` (None for a recording): asked for a full read
        # on demand, told what each read cost, made to re-read the rules after an action.
        owner = getattr(source, "__self__", None)
        self.sampler: Sampler | None = owner if isinstance(owner, Sampler) else None
        # Actions change the system: never from a recording, never with --read-only.
        self.read_only = read_only or self.sampler is None
        self.audit_log = audit_log or DEFAULT_LOG
        self.last_action: tuple[Plan, Result, list[str], bool | None] | None = None
        self.flood_visible = False  # set by the main screen: fail2ban is asked more often then
        # fail2ban-client (a Python program, seconds when fail2ban is busy) on its own schedule.
        self.fail2ban_job: Periodic[Fail2ban] | None = (
            Periodic("fail2ban", fail2ban.probe, lambda: FAIL2BAN_FLOOD_EVERY if self.flood_visible else FAIL2BAN_EVERY)
            if follow_logs
            else None
        )
        # Protocol checks run in their own thread, every ``health_every`` seconds (None: never, e.g. a
        # replay), and again at once when a listener changes; each sample takes the answers that
        # belong to its listeners, so a hung daemon never delays one and an answer never outlives
        # the process that gave it.
        self.health_every = health_every
        self.health_timeout = health_timeout
        self.health_watch = HealthWatch(catalog, health_every, health_timeout) if health_every else None
        self.thresholds = thresholds or Thresholds()
        self.flood = FloodTracker(mail_ports((p.port, p.service) for p in catalog.ports), self.thresholds)
        self._flood_state: FloodState | None = None
        # Mail log events for the flood tracker: appended on the event loop, drained by the sampling
        # thread (deque append/popleft are thread-safe); bounded so a flood cannot grow it without end.
        self.fail2ban: Fail2ban | None = None
        self.flood_inbox: deque[tuple[str, str, str | None]] = deque(maxlen=200_000)
        self.catalog = catalog
        self.source = source
        self.interval = interval
        self.requested_theme = theme
        term = os.environ.get("TERM", "")
        self.ascii_only = term == "linux" if ascii_only is None else ascii_only
        self.tracker = RateTracker([p.port for p in catalog.ports])
        self.view: View | None = None
        self.paused = False
        self.error: str | None = None
        self.theme_names: list[str] = []
        self.theme_problems: list[str] = []
        self._timer: Timer | None = None
        self.samples_taken = 0
        self.follow_logs = follow_logs
        self.mail_window: Window[MailEvent] = Window()
        self.web_window: Window[WebEvent] = Window()
        self.log_status: dict[str, str] = {}
        self._log_timer: Timer | None = None

    def _setup_themes(self) -> None:
        themes, problems = discover()
        self.theme_problems = problems
        for th in themes:
            self.register_theme(th)
            self.theme_names.append(th.name)
        wanted = self.requested_theme
        if wanted and Path(wanted).is_file():
            try:
                th = load_file(Path(wanted))
                self.register_theme(th)
                self.theme_names.append(th.name)
                wanted = th.name
            except ThemeError as exc:
                self.theme_problems.append(str(exc))
                wanted = None
        if not wanted:
            wanted = "mbtop-16" if os.environ.get("TERM") == "linux" and "mbtop-16" in self.theme_names else DEFAULT
        if wanted not in self.available_themes:
            self.theme_problems.append(f"unknown theme {wanted!r}; using {DEFAULT}")
            wanted = DEFAULT
        self.theme = wanted

    def on_mount(self) -> None:
        self._setup_themes()
        self.push_screen(MainScreen())
        for problem in self.theme_problems:
            self.notify(problem, severity="warning", timeout=8, markup=False)  # file names, parser errors
        self.kick()
        if self.fail2ban_job is not None:
            self.fail2ban_job.start()
        if self.follow_logs:
            logs = self.catalog.logs
            self.follow_log("mail", logs.mail, 0)
            self.follow_log("web", logs.web_access, 0)
            self.follow_log("web", logs.web_error, ERROR_LOG_OFFSET)

    @work(group="logs", exit_on_error=False)
    async def follow_log(self, which: str, path: str, offset: int) -> None:
        """Tail one log on the event loop (reads are small and non-blocking); parse; hand batches over."""
        follower = Follower(path, backfill=200)
        year = time.localtime().tm_year
        parse = PostfixParser(year).parse if which == "mail" else nginx.parse
        own = live_sessions() if which == "mail" else None  # marks mbtop's own SMTP checks
        self.log_status[path] = f"{path}: {follower.status}"
        if which == "mail" and not os.path.exists(path):
            has_journal = await asyncio.to_thread(journal.has_postfix)
            if has_journal:
                status = f"no {path}: following Postfix in journald (journalctl --facility=mail -f)"
                async for batch in journal.follow_journal():
                    events = _parse_batch(parse, batch, 0, own)
                    self.post_message(LogBatch(which, path, events, status))
                return
        async for batch in follow(follower):
            # Parsed in a thread: a flood writes thousands of lines a second and keys must not wait.
            events = await asyncio.to_thread(_parse_batch, parse, batch, offset, own)
            history = follower.history_lines + offset if follower.history_lines else 0
            self.post_message(LogBatch(which, path, events, follower.status, history))

    def on_log_batch(self, message: LogBatch) -> None:
        now = time.monotonic()
        if message.which == "mail":
            self.mail_window.add(message.events, now, mail_tally)  # type: ignore[arg-type]
            for ev in message.events:
                if ev.client_ip and ev.kind in FLOOD_KINDS and ev.line_no > message.history and not ev.own:
                    self.flood_inbox.append((ev.kind, ev.client_ip, ev.fields.get("action")))
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

    def kick(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        if not self.paused:
            self.sample_worker()

    def on_unmount(self) -> None:
        if self.health_watch is not None:
            self.health_watch.stop()
        if self.fail2ban_job is not None:
            self.fail2ban_job.stop()
        if self.sampler is not None:
            self.sampler.close()

    @work(thread=True, exclusive=True, exit_on_error=False, group="gateway")
    def gateway_worker(self, force_queue: bool = False) -> None:
        if self.gateway is not None:
            self.gateway_state = self.gateway.read(force_queue=force_queue)

    def open_queue_list(self, by: str, value: str) -> None:
        self.push_screen(QueueListScreen(by, value))

    def open_queue_trace(self, queue_id: str) -> None:
        self.push_screen(TraceScreen(f"Queue id {queue_id}", self.mail_window.trace(queue_id)))

    @work(thread=True, exclusive=True, exit_on_error=False, group="sample")
    def sample_worker(self) -> None:
        # Nothing in here waits for a program or a daemon: the slow probes (protocol checks,
        # firewall rules, init scripts, fail2ban) answer from their own threads.
        sample = self.source()
        if self.health_watch is not None:
            sample = dataclasses.replace(sample, health=self.health_watch.observe(sample))
        snapshot = build(self.catalog, sample)
        gateway = self.gateway_state
        if gateway is not None:
            snapshot = extend(snapshot, gateway.queue, gateway.vitals, self.queue_thresholds, self.vitals_thresholds)
        start = time.thread_time()
        rates = self.tracker.update(sample)
        flood = self._flood_update(sample, snapshot)
        if sample.fresh_connections and self.sampler is not None:
            # What a read of the connection table costs includes counting its rates and sources.
            self.sampler.charge_connections(time.thread_time() - start)
        alert = finding(flood) if flood is not None else None
        if alert is not None:
            snapshot = with_host_findings(snapshot, [alert])  # smtp-flood, as `mbtop check` reports it
        if self.fail2ban_job is not None:
            self.fail2ban = self.fail2ban_job.latest()
        self.post_message(SnapshotReady(sample, snapshot, rates, flood, self.fail2ban))

    def _flood_update(self, sample: Sample, snapshot: Snapshot) -> FloodState | None:
        """The flood watch, from a sample with newly read connections (and the log's events since
        the last one); between reads of a big connection table, the last state stands."""
        if not sample.fresh_connections and self._flood_state is not None:
            return self._flood_state
        connects: Counter[str] = Counter()
        inbox = self.flood_inbox
        while inbox:
            kind, address, action = inbox.popleft()
            if kind == "connect" or (kind == "postscreen" and action == "CONNECT"):
                connects[address] += 1
            else:
                self.flood.log_event(address, kind, action, sample.monotonic)
        watched = [p for p in snapshot.ports if p.spec.port in self.flood.ports]
        backlogs = [p.backlog for p in watched if p.backlog]
        rate, where = firewall_rate(sample.firewall, self.flood.ports)
        self.flood.thresholds = from_firewall(self.thresholds, rate, where)
        flood = self.flood.update(
            sample.tcp.sockets,
            sample.monotonic,
            log_connects=connects,
            kernel=sample.netstat,
            queue=sum(p.accept_queue for p in watched),
            backlog=max(backlogs) if backlogs else None,
        )
        self._flood_state = flood
        return flood

    def _schedule(self) -> None:
        if not self.paused:
            self._timer = self.set_timer(self.interval, self.kick)

    def on_snapshot_ready(self, message: SnapshotReady) -> None:
        self.error = None
        self.samples_taken += 1
        if self.samples_taken == 1 and self.gateway is not None:
            self.gateway_worker()
            self.set_interval(QUEUE_EVERY, self.gateway_worker)
        self.view = View(
            message.sample, message.snapshot, message.rates, self.paused, None, message.flood, message.fail2ban
        )
        self._render_soon()
        self._schedule()

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

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "sample" or event.state != WorkerState.ERROR:
            return
        self.error = f"{type(event.worker.error).__name__}: {event.worker.error}"
        if self.view is not None:
            self.view = dataclasses.replace(self.view, paused=self.paused, error=self.error)
            self._render_view()
        self._schedule()

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
        self.paused = not self.paused
        if self.view is not None:
            self.view = dataclasses.replace(self.view, paused=self.paused, error=self.error)
            self._render_view()
        self.kick()

    def action_refresh(self) -> None:
        if not self.paused:
            if self.sampler is not None:
                self.sampler.read_connections_next()  # "sample now" means all of it, budget or not
            self.kick()

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

    # --- actions: plan (worker) → preview and confirm (modal) → run (worker) → report -----------

    def target_service(self, key: str) -> str | None:
        """The catalog service behind a row key (port:25, socket:redis, service:nginx)."""
        kind, _, rest = key.partition(":")
        if kind == "port" and rest.isdigit():
            spec = self.catalog.port(int(rest))
            return spec.service if spec else None
        if kind == "socket":
            sock = self.catalog.socket(rest)
            return sock.service if sock else None
        if kind == "service":
            return rest
        return None

    def propose(self, kind: str, target: str) -> None:
        """Make the plan for an action on ``target`` and show it for confirmation."""
        if self.view is None:
            return
        self.plan_worker(kind, target)

    @work(thread=True, group="action", exclusive=True, exit_on_error=False)
    def plan_worker(self, kind: str, target: str) -> None:
        view = self.view
        if view is None:
            return
        ctx = builders.Context(
            self.catalog, view.sample, view.snapshot, read_only=self.read_only, root=os.geteuid() == 0
        )
        try:
            if kind == "restart":
                plan = builders.restart(ctx, target)
            elif kind == "fix-perms":
                plan = builders.fix_perms(ctx, target)
            elif kind == "free-port":
                plan = builders.free_port(ctx, int(target), start=True)
            elif kind.startswith("queue-"):
                config_dir = self.gateway.config_dir if self.gateway else None
                plan = queue_actions.plan_for(kind, target, self.read_only, os.geteuid() == 0, config_dir)
            else:
                plan = builders.block(ctx, target, unblock=kind == "unblock")
        except (builders.UsageError, ValueError) as exc:
            self.call_from_thread(self.notify, str(exc), severity="error", markup=False)
            return
        self.call_from_thread(self.confirm_plan, plan)

    def confirm_plan(self, plan: Plan) -> None:
        def answered(run: bool | None) -> None:
            if run:
                self.notify(f"running: {plan.summary}", timeout=4, markup=False)
                self.run_worker_for(plan)

        self.push_screen(ConfirmScreen(plan, self.read_only), answered)

    @work(thread=True, group="action", exit_on_error=False)
    def run_worker_for(self, plan: Plan) -> None:
        result = execute(plan, self.audit_log)
        seen: list[str] = []
        good: bool | None = True
        if result.ok and plan.steps and plan.action.startswith("queue-"):
            seen = queue_actions.verify_lines(plan, queuemodel.read(self.gateway.config_dir if self.gateway else None))
            if self.gateway is not None:
                self.gateway_state = self.gateway.read(force_queue=True)
        elif result.ok and plan.steps:
            if self.sampler is not None:
                self.sampler.read_connections_next()  # the re-check sees everything as it is now
                if plan.action in ("block", "unblock"):
                    self.sampler.firewall(force=True)  # the rules just changed: read them now
            fresh = self.source()
            seen, good = verify.lines(plan, self.catalog, build(self.catalog, fresh))
        self.call_from_thread(self.report_action, plan, result, seen, good)

    def report_action(self, plan: Plan, result: Result, seen: list[str], good: bool | None) -> None:
        text = "\n".join([result.message, *[f"now: {line}" for line in seen], *result.details[len(plan.steps) :]])
        severity: SeverityLevel = "error"
        if result.ok:
            severity = "information" if good else "warning" if good is None else "error"  # None: not verified
        self.notify(text, title="mbtop action", severity=severity, timeout=15, markup=False)
        self.last_action = (plan, result, seen, good)
        self.action_refresh()

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


ACTIONS = {
    "restart": "Restart the service",
    "fix-perms": "Fix the socket's owner, group and mode",
    "free-port": "Stop the process squatting the port",
    "block": "Block the address with the firewall",
    "unblock": "Lift mbtop's block of the address",
}


LOW_BANDWIDTH_FRAME = 5.0  # seconds between redraws with --low-bandwidth
BACKLOG_LIMIT = 16384  # bytes waiting in a tty's output queue before frames are dropped
QUEUED_FRAMES = 1  # frames waiting in Textual's writer queue before frames are dropped


def terminal_backlog() -> int:
    """Bytes written to the terminal that it has not taken yet (TIOCOUTQ); 0 when unknown."""
    try:
        fd = sys.__stderr__.fileno() if sys.__stderr__ is not None else -1  # Textual draws on stderr
        if fd < 0 or not os.isatty(fd):
            return 0
        return int(struct.unpack("i", fcntl.ioctl(fd, termios.TIOCOUTQ, b"\0\0\0\0"))[0])
    except (OSError, ValueError, AttributeError):
        return 0


SWITCH_INTERVAL = 0.001  # s (CPython's default is 0.005)


def _parse_batch(
    parse: Callable[[str, int], MailEvent | WebEvent], batch: list[Line], offset: int, own: OwnSessions | None = None
) -> list[Any]:
    events = [parse(x.text, x.line_no + offset) for x in batch]
    return own.mark(events) if own is not None else events  # type: ignore[arg-type]


def make_source(cfg: Config, args: argparse.Namespace) -> Source:
    replay = getattr(args, "replay", None)
    if replay:
        from mbtop.probes.record import Replay

        return Replay.from_file(Path(replay))
    return Sampler(
        cfg.catalog,
        use_netlink=not getattr(args, "no_netlink", False),
        firewall_every=None if getattr(args, "no_firewall", False) else 30.0,
        connections_budget=CONNECTIONS_BUDGET,
        background=True,
    ).sample


def run(cfg: Config, args: argparse.Namespace) -> int:
    interval = args.interval if args.interval is not None else cfg.interval
    low_bandwidth = bool(getattr(args, "low_bandwidth", False) or cfg.low_bandwidth)
    app = MbtopApp(
        cfg.catalog,
        make_source(cfg, args),
        interval=max(0.2, interval),
        theme=args.theme or cfg.theme or ("mbtop-16" if low_bandwidth else None),
        thresholds=cfg.flood,
        health_every=None if getattr(args, "replay", None) or getattr(args, "no_health", False) else cfg.health_every,
        health_timeout=cfg.health_timeout,
        read_only=bool(args.read_only or cfg.read_only),
        audit_log=cfg.audit_log,
        low_bandwidth=low_bandwidth,
        gateway=not getattr(args, "replay", None),
        queue_thresholds=cfg.queue,
        vitals_thresholds=cfg.vitals,
    )
    # The sampler and the log parser run in threads beside the event loop; a shorter switch
    # interval hands the interpreter back to the keyboard, the loop and the writer sooner.
    sys.setswitchinterval(SWITCH_INTERVAL)
    app.run()
    return app.return_code or 0
