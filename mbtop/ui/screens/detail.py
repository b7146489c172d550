"""Enter on a row: everything about one port or one socket, live."""

from __future__ import annotations

import shlex
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Static

from mbtop.catalog import SocketSpec
from mbtop.engine.types import Health, MailEvent, WebEvent
from mbtop.model.history import conn_id, conn_key, sparkline
from mbtop.model.types import Finding, Listener, PortStatus, SocketStatus
from mbtop.ui.cells import MARK, Cell, duration, safe, style_for
from mbtop.ui.rows import Column, firewall_who, fw_cell
from mbtop.ui.state import View
from mbtop.ui.widgets.footer import KeyFooter
from mbtop.ui.widgets.header import StatusHeader
from mbtop.ui.widgets.livetable import LiveTable
from mbtop.ui.widgets.logspane import mail_role
from mbtop.ui.widgets.textbox import TextBox

LISTENERS = (
    Column("pid", "PID", 8, 0),
    Column("user", "User", 10, 1),
    Column("process", "Process", 13, 0),
    Column("address", "Address", 16, 0),
    Column("up", "Up", 7, 2),
    Column("cmdline", "Command line", None, 0),
)
CONNECTIONS = (
    Column("state", "State", 12, 0),
    Column("remote", "Remote", 24, 0),
    Column("rport", "Port", 6, 1),
    Column("local", "Local", 16, 2),
    Column("queues", "Recv/Send", 10, 3),
    Column("age", "Seen for", None, 0),
)
SORTS = ("remote", "state", "age")
MAX_CONNECTIONS = 500  # rows; the totals above stay exact


def listener_rows(listeners: tuple[Listener, ...], now: float) -> dict[str, dict[str, Cell]]:
    out: dict[str, dict[str, Cell]] = {}
    for lst in listeners:
        key = f"{lst.address}|{lst.pid}|{lst.inode}"
        out[key] = {
            "pid": (str(lst.pid) if lst.pid is not None else "?", "" if lst.main else "dim"),
            "user": (safe(lst.user or "?"), ""),
            "process": (safe(lst.process or "? (needs root)"), "critical" if lst.expected is False else ""),
            "address": (safe(lst.address), ""),
            "up": (duration(now - lst.started) if lst.started else "?", "dim"),
            "cmdline": (safe(shlex.join(lst.cmdline)) if lst.cmdline else "", "dim"),
        }
    return out


def _findings_text(findings: tuple[Finding, ...], commands: list[str], theme_style: dict[str, str]) -> Text:
    t = Text()
    if findings:
        for f in findings:
            t.append(f"{MARK[f.severity]} ", style=theme_style[f.severity])
            t.append(f"{f.code}: ", style="bold")
            t.append(safe(f.message) + "\n")
            t.append("     fix: ", style="dim")
            t.append(safe(f.fix) + "\n")
    else:
        t.append("No findings.\n", style=theme_style["ok"])
    t.append("Cross-check: ", style="dim")
    t.append("  ·  ".join(commands), style="bold")
    return t


class DetailScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "app.pop_screen", "Back")]
    # Every part has a bounded height and only the connections table flexes, so the
    # screen never scrolls as a whole: at 80x24 everything still has its place.
    DEFAULT_CSS = """
    DetailScreen { overflow: hidden hidden; }
    DetailScreen #summary { height: auto; max-height: 5; padding: 0 1; text-wrap: nowrap; text-overflow: ellipsis; }
    DetailScreen .label { height: 1; padding: 0 1; background: $panel; color: $text-muted; }
    DetailScreen #listeners { height: auto; max-height: 5; }
    DetailScreen #connections { height: 1fr; min-height: 3; }
    DetailScreen #findings { height: auto; max-height: 5; padding: 0 1; }
    DetailScreen #cmdline { height: auto; max-height: 2; padding: 0 1; color: $text-muted; }
    DetailScreen #events { height: auto; max-height: 10; padding: 0 1; border-top: solid $panel; }
    DetailScreen.-tall #listeners { max-height: 10; }
    DetailScreen.-tall #summary { max-height: 8; }
    DetailScreen.-tall #findings { max-height: 12; }
    """

    def __init__(self, key: str) -> None:
        super().__init__()
        self.key = key
        self.view: View | None = None

    def action_act(self, kind: str) -> None:
        """restart this row's service, fix this socket, free this port, or block the selected remote."""
        target: str | None = None
        if kind == "restart":
            service = getattr(self.app, "target_service", None)
            target = service(self.key) if service is not None else None
        elif kind == "fix-perms" and self.key.startswith("socket:"):
            sock = self.app_catalog_socket()
            target = sock.path if sock is not None else None
        elif kind == "free-port" and self.key.startswith("port:"):
            target = self.key.split(":", 1)[1]
        elif kind == "block" and self.key.startswith("port:"):
            conns = self.query("#connections")
            table = conns.first(LiveTable) if conns else None
            selected = table.selected_key if table is not None else None
            target = selected.split("|")[2] if selected and selected.count("|") == 3 else None
        if target is None:
            self.notify(f"{kind}: select something it applies to", timeout=3, markup=False)
            return
        propose = getattr(self.app, "propose", None)
        if propose is not None:
            propose(kind, target)

    def app_catalog_socket(self) -> SocketSpec | None:
        catalog = getattr(self.app, "catalog", None)
        return catalog.socket(self.key.split(":", 1)[1]) if catalog is not None else None

    def _styles(self) -> dict[str, str]:
        theme = self.app.current_theme
        return {s: style_for(s, theme) for s in ("ok", "warning", "critical", "unknown")}

    def on_mount(self) -> None:
        view = getattr(self.app, "view", None)
        if view is not None:
            self.show(view)
        tables = list(self.query(LiveTable))
        if tables:
            tables[-1].focus()
        self.on_resize()

    def on_resize(self) -> None:
        self.set_class(self.app.size.height >= 40, "-tall")

    def show(self, view: View) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def target(self) -> PortStatus | SocketStatus | None:
        """The port or socket this screen is about, in the latest view."""
        if self.view is None:
            return None
        items: tuple[PortStatus | SocketStatus, ...] = (*self.view.snapshot.ports, *self.view.snapshot.sockets)
        return next((x for x in items if x.key == self.key), None)

    def listeners(self) -> tuple[Listener, ...]:
        t = self.target()
        return t.listeners if t else ()

    def listener_widgets(self) -> ComposeResult:
        yield Static("Listeners", classes="label")
        yield LiveTable(LISTENERS, id="listeners")
        yield TextBox(id="cmdline")

    def findings_widgets(self) -> ComposeResult:
        yield TextBox(id="events")
        with VerticalScroll(id="findings"):
            yield TextBox(id="findings-text")
        yield KeyFooter()

    def show_events(self, title: str, events: list[MailEvent] | list[WebEvent]) -> None:
        """The newest few log lines about this port or socket, one line each."""
        count = 8 if self.has_class("-tall") else 3
        t = Text(no_wrap=True, overflow="ellipsis")
        widget = self.query_one("#events", TextBox)
        widget.display = bool(events)
        if not events:
            return
        t.append(f"{title} (newest {min(count, len(events))} of {len(events)}):\n", style="dim")
        theme = self.app.current_theme
        for ev in events[-count:]:
            if isinstance(ev, MailEvent):
                t.append(f"{(ev.timestamp or '-')[11:19]} ", style="dim")
                t.append(f"{ev.kind:<15} ", style=style_for(mail_role(ev), theme))
            else:
                t.append(f"{(ev.timestamp or '-')[11:19]} ", style="dim")
                t.append(f"{ev.status or ev.fields.get('level', ev.kind)!s:<6} ", style="bold")
            t.append(safe(ev.message) + "\n")
        widget.put(t)

    def show_cmdline(self) -> None:
        """The highlighted listener's whole command line: the table column is too narrow for it."""
        table = self.query_one("#listeners", LiveTable)
        key = table.selected_key
        chosen = next((lst for lst in self.listeners() if f"{lst.address}|{lst.pid}|{lst.inode}" == key), None)
        text = Text()
        if chosen is not None and chosen.cmdline:
            text.append(f"pid {chosen.pid}: ", style="bold")
            text.append(safe(shlex.join(chosen.cmdline)))
        self.query_one("#cmdline", TextBox).put(text)

    def on_data_table_row_highlighted(self, event: LiveTable.RowHighlighted) -> None:
        if event.data_table.id == "listeners":
            self.show_cmdline()

    def restyle(self) -> None:
        for table in self.query(LiveTable):
            table.restyle()
        if self.view is not None:
            self.show(self.view)


class PortDetail(DetailScreen):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("f", "cycle_state", "State filter"),
        Binding("s", "cycle_sort", "Sort"),
        Binding("R", "act('restart')", "Restart"),
        Binding("K", "act('free-port')", "Free port", show=False),
        Binding("b", "act('block')", "Block remote", show=False),
    ]

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.state_filter: str | None = None
        self.sort = "remote"

    def compose(self) -> ComposeResult:
        yield StatusHeader(id="header")
        yield TextBox(id="summary")
        yield from self.listener_widgets()
        yield TextBox(fixed=True, id="conn-label", classes="label")
        yield LiveTable(CONNECTIONS, id="connections")
        yield from self.findings_widgets()

    def _port(self, view: View) -> PortStatus | None:
        return next((p for p in view.snapshot.ports if p.key == self.key), None)

    def _states(self) -> list[str]:
        if self.view is None:
            return []
        p = self._port(self.view)
        return sorted(dict(p.by_state)) if p else []

    def action_cycle_state(self) -> None:
        states: list[str | None] = [None, *self._states()]
        idx = states.index(self.state_filter) if self.state_filter in states else 0
        self.state_filter = states[(idx + 1) % len(states)]
        if self.view:
            self.show(self.view)

    def action_cycle_sort(self) -> None:
        self.sort = SORTS[(SORTS.index(self.sort) + 1) % len(SORTS)]
        if self.view:
            self.show(self.view)

    def show(self, view: View) -> None:
        self.view = view
        p = self._port(view)
        if p is None:
            return
        styles = self._styles()
        self.query_one("#header", StatusHeader).show(view, float(getattr(self.app, "interval", 1.0)))
        spec = p.spec
        t = Text(no_wrap=True, overflow="ellipsis")
        t.append(f"Port {spec.port} {spec.name}", style="bold")
        t.append(f" ({spec.service}) — {spec.purpose}\n")
        t.append(f"{MARK[p.status]} ", style=styles[p.status])
        t.append(safe(p.reason) + "\n")
        # Most important first: an 80x24 terminal shows the first five lines.
        _health_line(t, p.health, view, spec.service, styles)
        states = ", ".join(f"{s} {n}" for s, n in p.by_state) or "none"
        rate = view.rates.new_per_s.get(spec.port)
        t.append(f"\nconnections {p.connections_total} ({states})")
        t.append(f"  ·  new/s {rate:.1f} " if rate is not None else "  ·  new/s … ")
        t.append(
            sparkline(view.rates.history.get(spec.port, ()), 30, bool(getattr(self.app, "ascii_only", False))),
            style=style_for("accent", self.app.current_theme),
        )
        backlog = f"{p.accept_queue}/{p.backlog}" if p.backlog else str(p.accept_queue)
        t.append(f"  ·  accept queue {backlog}")
        if p.firewall is not None and p.firewall.backend == "none":
            t.append("\nfirewall: none — no filtering rules, anyone can connect", style="dim")
        elif p.firewall is not None:
            t.append(f"\nfirewall ({p.firewall.backend}): ")
            verdict, role = fw_cell(p)
            t.append(verdict, style=styles.get(role, "") if role else "")
            t.append(f" — {firewall_who(p)}")  # for "?": "cannot tell: " and the rule that makes it so
            if p.firewall.rule and p.firewall.verdict != "unknown":
                t.append(" — " + safe(p.firewall.rule), style="dim")
        expect = f"expected: {spec.bind} bind, {'required' if spec.required else 'optional'}, firewall {spec.firewall}"
        t.append("\n" + expect, style="dim")
        if p.top_remotes:
            t.append("\ntop remotes: " + ", ".join(f"{safe(a)} ×{n}" for a, n in p.top_remotes))
        self.query_one("#summary", TextBox).put(t)
        # Ages are relative to the sample, not the wall clock: replays and screenshots stay exact.
        self.query_one("#listeners", LiveTable).set_rows(listener_rows(p.listeners, view.snapshot.taken_at))
        self.show_cmdline()
        rows, total = self._connection_rows(view, spec.port)
        label = f"Connections: {len(rows)}" + (f" of {total}" if total > len(rows) else "")
        label += f"  ·  state: {self.state_filter or 'all'} (f)  ·  sort: {self.sort} (s)"
        self.query_one("#conn-label", TextBox).put(Text(label, no_wrap=True))
        self.query_one("#connections", LiveTable).set_rows(rows)
        port_events = getattr(self.app, "port_events", None)
        self.show_events("log", port_events(spec.port) if port_events else [])
        commands = [f"ss -tnp 'sport = :{spec.port}'", f"lsof -i :{spec.port}"]
        self.query_one("#findings-text", TextBox).put(_findings_text(p.findings, commands, styles))

    def _connection_rows(self, view: View, port: int) -> tuple[dict[str, dict[str, Cell]], int]:
        now = view.sample.monotonic
        seen = view.rates.first_seen
        conns = [s for s in view.sample.tcp.sockets if s.local_port == port and s.state != "LISTEN"]
        if self.state_filter:
            conns = [s for s in conns if s.state == self.state_filter]
        total = len(conns)
        if self.sort == "remote":
            conns.sort(key=lambda s: (s.remote_address, s.remote_port))
        elif self.sort == "state":
            conns.sort(key=lambda s: (s.state, s.remote_address, s.remote_port))
        else:
            conns.sort(key=lambda s: seen.get(conn_id(s), now))
        out: dict[str, dict[str, Cell]] = {}
        for s in conns[:MAX_CONNECTIONS]:
            key = "|".join(map(str, conn_key(s)))
            age = now - seen.get(conn_id(s), now)
            out[key] = {
                "state": (s.state, "warning" if s.state == "SYN_RECV" else ""),
                "remote": (s.remote_address, ""),
                "rport": (str(s.remote_port), "dim"),
                "local": (s.local_address, "dim"),
                "queues": (f"{s.recv_q}/{s.send_q}", "dim"),
                "age": (f"≥{duration(age)}", "dim"),
            }
        return out, total


class SocketDetail(DetailScreen):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("R", "act('restart')", "Restart"),
        Binding("F", "act('fix-perms')", "Fix perms"),
    ]

    def compose(self) -> ComposeResult:
        yield StatusHeader(id="header")
        yield TextBox(id="summary")
        yield from self.listener_widgets()
        yield from self.findings_widgets()

    def _socket(self, view: View) -> SocketStatus | None:
        return next((s for s in view.snapshot.sockets if s.key == self.key), None)

    def show(self, view: View) -> None:
        self.view = view
        s = self._socket(view)
        if s is None:
            return
        styles = self._styles()
        self.query_one("#header", StatusHeader).show(view, float(getattr(self.app, "interval", 1.0)))
        f, spec = s.file, s.spec
        t = Text(no_wrap=True, overflow="ellipsis")
        t.append(f"Socket {safe(spec.path)}", style="bold")
        t.append(f" ({spec.service}) — {spec.purpose}\n")
        t.append(f"{MARK[s.status]} ", style=styles[s.status])
        t.append(safe(s.reason) + "\n")
        if f.exists:
            t.append(f"{f.kind}  {safe(f.owner or f.uid)}:{safe(f.group or f.gid)}  ")
            t.append(f"{f.mode:04o}" if f.mode is not None else "?")
            if f.link_target:
                t.append(f"  → {safe(f.link_target)} (not followed)", style=styles["critical"])
        else:
            t.append("does not exist" + (f" ({safe(f.error)})" if f.error else ""), style="dim")
        t.append(f"   expected {spec.owner}:{spec.group} {spec.mode_text}\n", style="dim")
        backlog = f"{s.pending}/{s.backlog}" if s.backlog else str(s.pending)
        t.append(f"accepting: {'yes' if s.accepting else 'no'}  ·  clients {s.clients}  ·  pending {backlog}\n")
        _health_line(t, s.health, view, spec.service, styles)
        if spec.persist:
            t.append(f"\nset for good in: {safe(spec.persist)}", style="dim")
        if f.parents:
            t.append("\ndirectories: " + "  ".join(f"{safe(d.path)} {d.mode:04o}" for d in f.parents), style="dim")
        self.query_one("#summary", TextBox).put(t)
        self.query_one("#listeners", LiveTable).set_rows(listener_rows(s.listeners, view.snapshot.taken_at))
        self.show_cmdline()
        errors = getattr(self.app, "socket_error_events", None)
        self.show_events("nginx errors naming this socket", errors().get(spec.path, []) if errors else [])
        path = shlex.quote(spec.path)
        commands = [f"ls -l {path}", f"ss -xlp src {path}", f"lsof {path}"]
        self.query_one("#findings-text", TextBox).put(_findings_text(s.findings, commands, styles))


def _health_line(t: Text, h: Health | None, view: View, service: str, styles: dict[str, str]) -> None:
    """Does the daemon answer its protocol, and its service's state (from systemd or the process table)."""
    if h is not None and h.ok is not None:
        t.append(f"health ({h.protocol}): ")
        t.append("answers" if h.ok else "FAILS", style=styles["ok" if h.ok else "critical"])
        latency = f" in {h.latency_ms:.0f} ms" if h.latency_ms is not None else ""
        cert = f" · certificate {h.cert_days} days left" if h.cert_days is not None else ""
        t.append(f"{latency} — {safe(h.detail)}{cert}")
    elif h is not None and h.detail:
        t.append(f"health: {safe(h.detail)}", style="dim")  # "checking…": the listener changed
    else:
        t.append("health: not checked yet", style="dim")
    st = next((x for x in view.snapshot.services if x.name == service), None)
    if st is not None:
        since = f", up {duration(view.snapshot.taken_at - st.since)}" if st.since else ""
        pid = f" pid {st.pid}" if st.pid else ""
        t.append(f"  ·  service {service}: ")
        t.append(st.state, style=styles["ok" if st.state == "running" else "critical"])
        t.append(f"{pid}{since} ({st.manager})", style="dim")
