"""The first screen: overview of every documented port and socket, plus sockets, findings, logs."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Input, TabbedContent, TabPane

from mbtop.ui import rows
from mbtop.ui.cells import findings_text, firewall_summary
from mbtop.ui.state import View
from mbtop.ui.widgets.floodpane import FloodPane
from mbtop.ui.widgets.footer import KeyFooter
from mbtop.ui.widgets.header import StatusHeader
from mbtop.ui.widgets.livetable import LiveTable
from mbtop.ui.widgets.logspane import LogsPane
from mbtop.ui.widgets.queuepane import QUEUE_TAB_CODES, QueuePane
from mbtop.ui.widgets.textbox import TextBox

TABS = ("overview", "sockets", "findings", "logs")


class MainScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("1", "tab('overview')", "Overview", show=False),
        Binding("2", "tab('sockets')", "Sockets", show=False),
        Binding("3", "tab('findings')", "Findings", show=False),
        Binding("4", "tab('logs')", "Logs", show=False),
        Binding("5", "tab('flood')", "Flood", show=False),
        Binding("6", "tab('firewall')", "Firewall", show=False),
        Binding("7", "tab('services')", "Services", show=False),
        Binding("8", "tab('queue')", "Queue", show=False),
        Binding("enter", "details", "Details"),
        Binding("slash", "filter", "Filter"),
        Binding("escape", "clear_filter", "Clear filter", show=False),
        Binding("k", "kind_filter", "Event kind", show=False),
        Binding("R", "act('restart')", "Restart", show=False),
        Binding("F", "act('fix-perms')", "Fix perms", show=False),
        Binding("K", "act('free-port')", "Free port", show=False),
        Binding("b", "act('block')", "Block", show=False),
        Binding("u", "act('unblock')", "Unblock", show=False),
    ]
    DEFAULT_CSS = """
    MainScreen #filter { dock: bottom; height: 1; border: none; padding: 0 1; display: none; }
    MainScreen #filter.-shown { display: block; }
    MainScreen TabbedContent { height: 1fr; }
    MainScreen TabPane { padding: 0; }
    MainScreen #logs-note { padding: 1 2; color: $text-muted; }
    MainScreen #firewall-summary { height: auto; max-height: 4; padding: 0 1; }
    MainScreen #overview-table { height: auto; max-height: 100%; }
    MainScreen #overview-findings { display: none; height: 1fr; padding: 0 1; border-top: solid $panel; }
    MainScreen.-tall #overview-findings { display: block; }
    """

    def __init__(self, tab: str = "overview") -> None:
        super().__init__()
        self.first_tab = tab  # `mbtop --tab NAME` (and `mbtop web`'s ?tab=NAME)
        self.view: View | None = None
        self._findings_label = "3 Findings"

    def compose(self) -> ComposeResult:
        yield StatusHeader(id="header")
        with TabbedContent(initial=self.first_tab, id="tabs"):
            with TabPane("1 Overview", id="overview"), Vertical():
                yield LiveTable(rows.OVERVIEW, id="overview-table")
                with VerticalScroll(id="overview-findings"):
                    yield TextBox(id="overview-findings-text")
            with TabPane("2 Sockets", id="sockets"):
                yield LiveTable(rows.SOCKETS, min_flex=rows.SOCKET_PATH_WIDTH, id="sockets-table")
            with TabPane("3 Findings", id="findings"):
                yield LiveTable(rows.FINDINGS, id="findings-table")
            with TabPane("4 Logs", id="logs"):
                yield LogsPane(id="logs-pane")
            with TabPane("5 Flood", id="flood"):
                yield FloodPane(id="flood-pane")
            with TabPane("6 Firewall", id="firewall"), Vertical():
                yield TextBox(id="firewall-summary")
                yield LiveTable(rows.FIREWALL, id="firewall-table")
            with TabPane("7 Services", id="services"):
                yield LiveTable(rows.SERVICES, id="services-table")
            with TabPane("8 Queue", id="queue"):
                yield QueuePane(id="queue-pane")
        yield Input(placeholder="filter: type to narrow the table, enter to keep, esc to clear", id="filter")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#header", StatusHeader).show(None, self.app_interval)
        self.query_one("#overview-table", LiveTable).focus()
        self.on_resize()

    def on_resize(self) -> None:
        # A tall terminal has room under the table: show what is wrong and how to fix it there.
        self.set_class(self.app.size.height >= 36, "-tall")

    @property
    def app_interval(self) -> float:
        return float(getattr(self.app, "interval", 1.0))

    def show(self, view: View) -> None:
        """A new view: the header and the visible tab are redrawn; hidden tabs wait until they are shown."""
        self.view = view
        self.query_one("#header", StatusHeader).show(view, self.app_interval)
        n = len(view.snapshot.findings)
        label = f"3 Findings ({n})" if n else "3 Findings"
        if label != self._findings_label:  # a new label is a layout of the tab bar: only when it changes
            self._findings_label = label
            self.query_one("#tabs", TabbedContent).get_tab("findings").label = label
        self._render_active()

    def _render_active(self) -> None:
        view = self.view
        if view is None:
            return
        active = self.query_one("#tabs", TabbedContent).active
        ascii_only = bool(getattr(self.app, "ascii_only", False))
        if active == "overview":
            self.query_one("#overview-table", LiveTable).set_rows(rows.overview_rows(view, ascii_only))
            self.query_one("#overview-findings-text", TextBox).put(findings_text(view, self.app.current_theme))
        elif active == "sockets":
            source = getattr(self.app, "socket_error_events", None)
            counts = {path: len(evs) for path, evs in source().items()} if source is not None else {}
            self.query_one("#sockets-table", LiveTable).set_rows(rows.socket_rows(view, counts))
        elif active == "findings":
            self.query_one("#findings-table", LiveTable).set_rows(rows.finding_rows(view))
        elif active == "services":
            self.query_one("#services-table", LiveTable).set_rows(rows.service_rows(view))
        elif active == "firewall":
            self.query_one("#firewall-summary", TextBox).put(firewall_summary(view, self.app.current_theme))
            self.query_one("#firewall-table", LiveTable).set_rows(rows.firewall_rows(view))
        elif active == "queue":
            threshold = getattr(getattr(self.app, "queue_thresholds", None), "messages", 100)
            self.query_one("#queue-pane", QueuePane).show(
                getattr(self.app, "gateway_state", None), threshold, ascii_only
            )
        elif active == "flood":
            limit = view.flood.thresholds.source_per_30s if view.flood is not None else 6.0
            self.query_one("#flood-pane", FloodPane).show(
                view.flood, view.sample.monotonic, ascii_only, limit, view.fail2ban
            )

    def restyle(self) -> None:
        for table in self.query(LiveTable):
            table.restyle()
        if self.view is not None:
            self.show(self.view)
        render_logs = getattr(self.app, "render_logs", None)
        if render_logs is not None:
            render_logs()

    def current_table(self) -> LiveTable | None:
        active = self.query_one("#tabs", TabbedContent).active
        if active in ("logs", "flood", "queue"):
            # Only a table inside the active pane: focusing one elsewhere would switch the tab back.
            pane = self.query_one(f"#{active}-pane")
            focused = self.focused
            if isinstance(focused, LiveTable) and focused in pane.query(LiveTable):
                return focused
            return pane.query(LiveTable).first(LiveTable)
        found = self.query(f"#{active}-table")
        return found.first(LiveTable) if found else None

    def action_act(self, kind: str) -> None:
        """An action on the selected row: its service, socket, port or source address."""
        table = self.current_table()
        key = table.selected_key if table is not None else None
        if not key:
            return
        if key.startswith("finding:"):
            where = key.rsplit(":", 1)[1]
            key = f"port:{where}" if where.isdigit() else self._socket_key_for(where)
        target = action_target(self.app, kind, key, self.view)
        if target is None:
            self.notify(f"{kind}: not for this row", timeout=3, markup=False)
            return
        propose = getattr(self.app, "propose", None)
        if propose is not None:
            propose(kind, target)

    def action_kind_filter(self) -> None:
        pane = self.query_one("#logs-pane", LogsPane)
        kind = pane.cycle_kind()
        self.notify(f"mail events: {kind or 'all'}", timeout=2, markup=False)
        refresh = getattr(self.app, "render_logs", None)
        if refresh is not None:
            refresh()

    def action_tab(self, tab: str) -> None:
        self.query_one("#tabs", TabbedContent).active = tab
        table = self.current_table()
        if table is not None:
            table.focus()

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        setattr(self.app, "flood_visible", self.query_one("#tabs", TabbedContent).active == "flood")  # noqa: B010
        self._render_active()
        if self.query_one("#tabs", TabbedContent).active == "logs":
            render_logs = getattr(self.app, "render_logs", None)
            if render_logs is not None:
                render_logs(force=True)
        table = self.current_table()
        if table is not None:
            table.focus()

    def action_details(self) -> None:
        table = self.current_table()
        if table is not None and table.selected_key:
            self._open(table.selected_key)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        key = event.row_key.value
        if key:
            self._open(key)

    def _open(self, key: str) -> None:
        if key.startswith(("qdomain:", "qsender:", "qreason:", "qtotal:")):
            lister = getattr(self.app, "open_queue_list", None)
            kind, _, value = key.partition(":")
            if lister is not None:
                lister(*(("queue", "deferred") if kind == "qtotal" else (kind[1:], value)))
            return
        if key.startswith(("src:", "net:")):
            tracer = getattr(self.app, "open_client_trace", None)
            if tracer is not None:
                tracer(key[4:])
            return
        if key.startswith("m") and key[1:].isdigit():
            tracer = getattr(self.app, "open_trace", None)
            if tracer is not None:
                tracer(int(key[1:]))
            return
        if key.startswith("finding:") and key.split(":")[1] in QUEUE_TAB_CODES:
            self.action_tab("queue")  # the queue's and the vitals' findings: their tab has the detail
            return
        if key.startswith("finding:"):
            where = key.rsplit(":", 1)[1]
            if where == "host":  # host-wide (the firewall): its tab is where the detail is
                self.action_tab("firewall")
                return
            key = f"port:{where}" if where.isdigit() else self._socket_key_for(where)
        opener = getattr(self.app, "open_detail", None)
        if opener is not None and key:
            opener(key)

    def _socket_key_for(self, path: str) -> str:
        if self.view is None:
            return ""
        for s in self.view.snapshot.sockets:
            if s.spec.path == path:
                return s.key
        return ""

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.add_class("-shown")
        table = self.current_table()
        box.value = table.filter_text if table else ""
        box.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        table = self.current_table()
        if table is not None:
            table.set_filter(event.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        table = self.current_table()
        if table is not None:
            table.focus()
        if not event.value:
            self.query_one("#filter", Input).remove_class("-shown")

    def action_clear_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.value = ""
        box.remove_class("-shown")
        for each in self.query(LiveTable):
            each.set_filter("")
        table = self.current_table()
        if table is not None:
            table.focus()


def action_target(app: object, kind: str, key: str, view: View | None) -> str | None:
    """What ``kind`` acts on for the row ``key``; None when it does not apply."""
    what, _, rest = key.partition(":")
    if kind == "restart":
        service = getattr(app, "target_service", None)
        return service(key) if service is not None else None
    if kind == "fix-perms" and what == "socket" and view is not None:
        return next((s.spec.path for s in view.snapshot.sockets if s.key == key), None)
    if kind == "free-port" and what == "port":
        return rest
    if kind in ("block", "unblock") and what in ("src", "net", "remote"):
        return rest
    return None
