"""`mbtop fleet`'s screen with Pilot, fed by real HTTP servers on loopback (tests/support/fleetlab.py):
three agents' expositions (written by prometheus_client), a port that refuses, one that accepts and
never answers, one that answers HTML, one whose labels carry escape sequences and markup."""

from __future__ import annotations

import time
from contextlib import ExitStack
from pathlib import Path

from textual.pilot import Pilot

from mbtop.fleet.prometheus import PrometheusSource
from mbtop.fleet.scrape import TargetsSource
from mbtop.ui.fleetapp import FleetApp
from mbtop.ui.screens.fleet import FleetScreen, GatewayScreen
from mbtop.ui.widgets.livetable import LiveTable
from mbtop.ui.widgets.textbox import TextBox
from tests.support import fleetlab


async def answers(pilot: Pilot[int], count: int, timeout: float = 10.0) -> None:
    app = pilot.app
    assert isinstance(app, FleetApp)
    deadline = time.monotonic() + timeout
    while app.fetches < count and time.monotonic() < deadline:
        await pilot.pause(0.05)
    assert app.fetches >= count, f"only {app.fetches} answers"
    await pilot.pause()


async def details(pilot: Pilot[int], name: str, timeout: float = 10.0) -> None:
    app = pilot.app
    assert isinstance(app, FleetApp)
    deadline = time.monotonic() + timeout
    while name not in app.details and time.monotonic() < deadline:
        await pilot.pause(0.05)
    assert name in app.details, "no details"
    await pilot.pause()


def table(app: FleetApp, id_: str = "#fleet-table") -> LiveTable:
    return app.screen.query_one(id_, LiveTable)


def cells(app: FleetApp, key: str, *columns: str) -> tuple[str, ...]:
    t = table(app)
    return tuple(t.cell_text(key, c) for c in columns)


def header(app: FleetApp) -> str:
    """The header line as put on screen (plain text of the Text given to the widget)."""
    text = app.screen.query_one("#fleet-header", TextBox)._text
    assert text is not None
    return text.plain


async def test_rows_states_and_details() -> None:
    with ExitStack() as stack:
        a, b, c = (stack.enter_context(fleetlab.agent(s)) for s in fleetlab.STATES)
        refused = stack.enter_context(fleetlab.refusing())
        slow = stack.enter_context(fleetlab.hanging())
        html = stack.enter_context(fleetlab.endpoint(fleetlab.HTML, "text/html"))
        targets = [a.target, b.target, c.target, refused, slow, html.target]
        app = FleetApp(TargetsSource(targets, timeout=0.5), interval=3600)
        async with app.run_test(size=(160, 48)) as pilot:
            await answers(pilot, 1)
            t = table(app)
            assert [k.value for k in t.rows] == [f"gw:{x}" for x in targets]
            cols = ("status", "crit", "warn", "ports", "flood", "cert", "peers", "reason")
            assert cells(app, f"gw:{a.target}", *cols) == ("OK", "0", "0", "0", "no", "59d", "2 up", "as documented")
            assert cells(app, f"gw:{b.target}", *cols) == (
                "CRIT",
                "2",
                "1",
                "1",
                "no",
                "59d",
                "1 down",
                "2 critical, 1 warning, 1 port down, 1 peer unreachable",
            )
            assert cells(app, f"gw:{c.target}", "status", "flood", "cert")[:2] == ("CRIT", "88/s")
            assert cells(app, f"gw:{refused}", "status", "reason") == ("UNKN", "DOWN: connection refused")
            assert cells(app, f"gw:{slow}", "status", "reason") == ("UNKN", "SLOW: no answer in 0.5 s")
            assert cells(app, f"gw:{html.target}", "status", "reason") == (
                "UNKN",
                "NOT METRICS: not Prometheus text (text/html)",
            )
            assert "6 gateways: 2 critical 0 warning 3 unreachable" in header(app)
            # enter on the second row: that gateway's findings and ports, read-only.
            await pilot.press("down", "enter")
            await details(pilot, b.target)
            assert isinstance(app.screen, GatewayScreen) and app.screen.gateway_name == b.target
            findings = table(app, "#gw-findings")
            assert [findings.cell_text(str(k.value), "code") for k in findings.rows] == [
                "health-failed",
                "not-listening",
                "cluster-peer-down",
            ]
            ports = table(app, "#gw-ports")
            assert ports.cell_text("p:25:postfix", "state") == "NOT LISTENING"
            assert ports.cell_text("c:gw3.example", "state") == "UNREACHABLE"
            await pilot.press("escape")
            await pilot.pause()
            assert isinstance(app.screen, FleetScreen)
            assert t.selected_key == f"gw:{b.target}"  # the cursor stayed on the gateway


async def test_a_target_that_comes_back_and_one_that_goes() -> None:
    """Live: each refresh scrapes again; a row changes state in place, the cursor stays."""
    with fleetlab.agent("healthy") as a, fleetlab.agent("port-down") as b:
        app = FleetApp(TargetsSource([a.target, b.target], timeout=1), interval=0.2)
        async with app.run_test(size=(120, 30)) as pilot:
            await answers(pilot, 1)
            await pilot.press("down")
            b.body = fleetlab.exposition("healthy")
            seen = app.fetches
            await answers(pilot, seen + 2)
            assert cells(app, f"gw:{b.target}", "status", "ports") == ("OK", "0")
            a.shutdown()
            a.server_close()
            await answers(pilot, app.fetches + 2)
            assert cells(app, f"gw:{a.target}", "status", "reason") == ("UNKN", "DOWN: connection refused")
            assert table(app).selected_key == f"gw:{b.target}"


async def test_hostile_labels_are_plain_text() -> None:
    """Label values are strangers' text: escapes and bidi controls are stripped, markup stays literal."""
    body = fleetlab.exposition("port-down").replace(
        b'code="not-listening"', b'code="[bold red]x[/] \x1b[31mred\xe2\x80\xaeevil\x07"'
    )
    with fleetlab.endpoint(body) as agent:
        app = FleetApp(TargetsSource([agent.target], timeout=1), interval=3600)
        async with app.run_test(size=(120, 30)) as pilot:
            await answers(pilot, 1)
            await pilot.press("enter")
            await details(pilot, agent.target)
            findings = table(app, "#gw-findings")
            codes = [findings.cell_text(str(k.value), "code") for k in findings.rows]
            assert codes[0] == "[bold red]x[/] redevil", codes


async def test_prometheus_rows_stay_when_it_goes_away() -> None:
    """A real HTTP server answering with what the real Prometheus answered (tests/fixtures/fleet); then
    it goes away: the last rows stay, the header says why."""
    fixtures = Path(__file__).resolve().parents[1] / "fixtures" / "fleet"
    js = "application/json"
    with fleetlab.endpoint(b"", js) as prom:
        prom.routes["/api/v1/query"] = ((fixtures / "fleet-query.json").read_bytes(), js)
        prom.routes["/api/v1/targets"] = ((fixtures / "targets.json").read_bytes(), js)
        app = FleetApp(PrometheusSource(f"http://{prom.target}", timeout=1), interval=3600)
        async with app.run_test(size=(160, 30)) as pilot:
            await answers(pilot, 1)
            assert table(app).row_count == 6
            assert cells(app, "gw:127.0.10.4:9955", "reason") == ("DOWN: connection refused (seen by Prometheus)",)
            assert cells(app, "gw:127.0.10.2:9955", "status", "ports") == ("CRIT", "1")
            prom.shutdown()
            prom.server_close()
            await pilot.press("r")
            await answers(pilot, 2)
            assert table(app).row_count == 6
            assert f"Prometheus at http://{prom.target}: connection refused" in header(app)
