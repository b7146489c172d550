"""`mbtop fleet`: one row per gateway; enter opens that gateway's findings and ports (read-only)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, ClassVar, cast

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import DataTable

from mbtop.fleet.model import Details, Fleet, Gateway
from mbtop.ui import fleetrows
from mbtop.ui.cells import MARK, clock, roles, safe, style_for
from mbtop.ui.widgets.footer import KeyFooter
from mbtop.ui.widgets.livetable import LiveTable
from mbtop.ui.widgets.textbox import TextBox

if TYPE_CHECKING:
    from mbtop.ui.fleetapp import FleetApp


def fleet_header(app: FleetApp, fleet: Fleet | None, shown: Fleet | None) -> Text:
    """``fleet``: the last answer (maybe an error); ``shown``: the last one with rows."""
    c = roles(app.current_theme)
    t = Text(no_wrap=True, overflow="ellipsis")
    t.append("mbtop fleet", style=f"bold {c['primary']}")
    if fleet is None:
        t.append("  asking…", style="dim")
    if shown is not None:
        n = fleetrows.counts(shown, time.time(), app.stale_after)
        t.append(f"  {len(shown.gateways)} gateway{'s' if len(shown.gateways) != 1 else ''}:")
        for sev, word in (("critical", "critical"), ("warning", "warning"), ("unknown", "unreachable")):
            t.append(f" {n[sev]} {word}", style=style_for(sev, app.current_theme) if n[sev] else "dim")
        t.append(f"  {clock(shown.fetched_at)} /{app.interval:g}s", style="dim")
    if app.paused:
        t.append("  PAUSED", style=f"bold reverse {c['warning']}")
    if fleet is not None and fleet.error:
        t.append(f"  {safe(fleet.error)}", style=f"bold {c['error']}")
    t.append(f"  · {safe(app.source_label)}", style="dim")
    return t


class FleetScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("enter", "details", "Details")]
    DEFAULT_CSS = """
    FleetScreen #fleet-header { height: 1; background: $panel; color: $foreground; padding: 0 1; }
    FleetScreen #fleet-empty { padding: 1 2; color: $text-muted; height: auto; display: none; }
    FleetScreen #fleet-empty.-shown { display: block; }
    """

    def compose(self) -> ComposeResult:
        yield TextBox(fixed=True, id="fleet-header")
        yield LiveTable(fleetrows.FLEET, min_flex=fleetrows.FLEET_MIN_FLEX, id="fleet-table")
        yield TextBox(id="fleet-empty")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#fleet-table", LiveTable).focus()
        self.show()

    @property
    def fleet_app(self) -> FleetApp:
        return cast("FleetApp", self.app)

    def show(self) -> None:
        app = self.fleet_app
        self.query_one("#fleet-header", TextBox).put(fleet_header(app, app.fleet, app.shown))
        shown = app.shown
        if shown is not None:
            rows = fleetrows.fleet_rows(shown, time.time(), app.stale_after)
            self.query_one("#fleet-table", LiveTable).set_rows(rows)
        empty = self.query_one("#fleet-empty", TextBox)
        nothing = shown is not None and not shown.gateways
        empty.put(Text(f"No gateway: {safe(app.empty_hint)}" if nothing else ""))
        empty.set_class(nothing, "-shown")

    def restyle(self) -> None:
        self.query_one("#fleet-table", LiveTable).restyle()
        self.show()

    def action_details(self) -> None:
        self._open(self.query_one("#fleet-table", LiveTable).selected_key)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        """Enter on the focused table (DataTable takes the key before the screen's binding)."""
        event.stop()
        self._open(event.row_key.value)

    def _open(self, key: str | None) -> None:
        if key and key.startswith("gw:"):
            self.fleet_app.open_gateway(key[3:])


class GatewayScreen(Screen[None]):
    """One gateway's findings, ports, sockets and cluster peers, as its agent exports them (read-only)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "back", "Back")]
    DEFAULT_CSS = """
    GatewayScreen #gw-header { height: 1; background: $panel; color: $foreground; padding: 0 1; }
    GatewayScreen #gw-status { height: auto; max-height: 3; padding: 0 1; }
    GatewayScreen #gw-findings { height: auto; max-height: 40%; }
    GatewayScreen .title { height: 1; padding: 0 1; background: $boost; text-style: bold; }
    """

    def __init__(self, name: str) -> None:
        super().__init__()
        self.gateway_name = name

    def compose(self) -> ComposeResult:
        yield TextBox(fixed=True, id="gw-header")
        yield TextBox(id="gw-status")
        with Vertical():
            yield TextBox(fixed=True, id="gw-findings-title", classes="title")
            yield LiveTable(fleetrows.FINDINGS, id="gw-findings")
            yield TextBox(fixed=True, id="gw-ports-title", classes="title")
            yield LiveTable(fleetrows.PORTS, id="gw-ports")
        yield KeyFooter()

    @property
    def fleet_app(self) -> FleetApp:
        return cast("FleetApp", self.app)

    def on_mount(self) -> None:
        self.query_one("#gw-ports", LiveTable).focus()
        self.show()

    def _gateway(self) -> Gateway | None:
        shown = self.fleet_app.shown
        for gw in shown.gateways if shown else ():
            if gw.name == self.gateway_name:
                return gw
        return None

    def show(self) -> None:
        app = self.fleet_app
        theme = app.current_theme
        c = roles(theme)
        head = Text(no_wrap=True, overflow="ellipsis")
        head.append("mbtop fleet ", style=f"bold {c['primary']}")
        head.append("› ", style="dim")
        head.append(safe(self.gateway_name), style="bold")
        head.append("  read-only, as its agent exports it", style="dim")
        self.query_one("#gw-header", TextBox).put(head)
        gw = self._gateway()
        status = Text()
        if gw is None:
            status.append("no longer in the fleet's answer", style=style_for("unknown", theme))
        else:
            sev, why = gw.status(time.time(), app.stale_after)
            status.append(f"{MARK[sev]} ", style=style_for(sev, theme))
            if gw.reach != "up":
                status.append(
                    f"{fleetrows.REACH.get(gw.reach, gw.reach)}: {safe(gw.reason)}", style=style_for(sev, theme)
                )
            else:
                status.append(why or "as documented")
        details: Details | None = app.details.get(self.gateway_name)
        if details is None and gw is not None and gw.reach == "up":
            status.append("\nasking for the details…", style="dim")
        self.query_one("#gw-status", TextBox).put(status)
        findings = details.findings if details else ()
        self.query_one("#gw-findings-title", TextBox).put(
            Text(f"Findings ({len(findings)})" if findings else "Findings: none active")
        )
        self.query_one("#gw-ports-title", TextBox).put(Text("Ports, sockets and cluster peers"))
        if details is not None:
            self.query_one("#gw-findings", LiveTable).set_rows(fleetrows.finding_rows(details))
            self.query_one("#gw-ports", LiveTable).set_rows(fleetrows.port_rows(details))

    def restyle(self) -> None:
        for table in self.query(LiveTable):
            table.restyle()
        self.show()

    def action_back(self) -> None:
        self.fleet_app.close_gateway()
