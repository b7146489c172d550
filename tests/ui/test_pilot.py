"""Every key and pane, driven with Pilot on an app fed with recorded samples (no system is read)."""

from __future__ import annotations

from textual.widgets import Input, TabbedContent, TabPane

from mbtop.ui.app import MbtopApp
from mbtop.ui.screens.detail import PortDetail, SocketDetail
from mbtop.ui.screens.help import HelpScreen
from mbtop.ui.screens.main import MainScreen
from mbtop.ui.widgets.livetable import LiveTable
from tests.ui.appkit import make_app, samples


def _main(app: MbtopApp) -> MainScreen:
    screen = app.screen_stack[1]
    assert isinstance(screen, MainScreen)
    return screen


def _table(app: MbtopApp, name: str) -> LiveTable:
    return _main(app).query_one(f"#{name}-table", LiveTable)


async def test_overview_has_every_port_and_socket_and_cursor_survives_refresh() -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await samples(pilot, 1)
        table = _table(app, "overview")
        keys = [str(k.value) for k in table.rows]
        assert keys == [p.key for p in app.view.snapshot.ports] + [s.key for s in app.view.snapshot.sockets]
        await pilot.press("down", "down", "down", "down")
        assert table.selected_key == "port:465"
        await samples(pilot, 3)
        assert table.selected_key == "port:465" and table.cursor_row == 4


async def test_tabs_by_number_and_tab_key() -> None:
    from textual.widgets._tabbed_content import ContentTabs

    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await samples(pilot, 1)
        tabs = _main(app).query_one(TabbedContent)
        for key, name in (("2", "sockets"), ("3", "findings"), ("4", "logs"), ("7", "services"), ("1", "overview")):
            await pilot.press(key)
            assert tabs.active == name
        # tab: from the table to the tab bar, where the arrows change tabs (and the new tab's table
        # takes the focus); tab again: back to the tab bar.
        assert app.focused is _table(app, "overview")
        await pilot.press("tab")
        assert isinstance(app.focused, ContentTabs)
        await pilot.press("right")
        assert tabs.active == "sockets" and app.focused is _table(app, "sockets")
        await pilot.press("tab")
        assert isinstance(app.focused, ContentTabs)
        await pilot.press("1")
        findings = _table(app, "findings")
        assert findings.row_count == len(app.view.snapshot.findings)
        first = next(iter(findings.rows)).value
        assert first is not None and first.startswith("finding:unexpected-owner:465")


async def test_the_first_tab_can_be_named_and_every_name_is_a_tab() -> None:
    """`mbtop --tab NAME` (and `mbtop web`'s ?tab=NAME): the screen opens on that tab, its table focused."""
    from mbtop.cli import TABS

    app = make_app()
    app.first_tab = "firewall"
    async with app.run_test(size=(80, 24)) as pilot:
        await samples(pilot, 1)
        tabs = _main(app).query_one(TabbedContent)
        assert tabs.active == "firewall" and app.focused is _table(app, "firewall")
        assert [str(p.id) for p in tabs.query(TabPane)] == list(TABS)


async def test_enter_opens_port_detail_with_filters_and_sorts() -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await samples(pilot, 3)
        await pilot.press("enter")
        screen = app.screen
        assert isinstance(screen, PortDetail) and screen.key == "port:25"
        conns = screen.query_one("#connections", LiveTable)
        port = next(p for p in app.view.snapshot.ports if p.spec.port == 25)
        assert conns.row_count == min(500, port.connections_total)
        await pilot.press("s")
        assert screen.sort == "state"
        await pilot.press("s", "s")
        assert screen.sort == "remote"
        await pilot.press("f")
        assert screen.state_filter == "ESTABLISHED"
        await pilot.press("f")
        assert screen.state_filter is None or screen.state_filter != "ESTABLISHED"
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)


async def test_socket_detail_from_sockets_pane() -> None:
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await samples(pilot, 1)
        await pilot.press("2", "down", "enter")
        assert isinstance(app.screen, SocketDetail) and app.screen.key == "socket:mb-rpcd"


async def test_filter_narrows_and_escape_clears() -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await samples(pilot, 1)
        table = _table(app, "overview")
        total = table.row_count
        await pilot.press("slash")
        box = _main(app).query_one("#filter", Input)
        assert box.has_focus
        await pilot.press(*"redis")
        assert 0 < table.row_count < total
        assert all("redis" in " ".join(str(c) for c in table.get_row(k)).lower() for k in table.rows)
        await pilot.press("enter")
        assert table.has_focus and table.row_count < total  # the filter stays
        await pilot.press("escape")
        assert table.row_count == total


async def test_pause_stops_sampling_and_says_so() -> None:
    app = make_app(interval=0.2)
    async with app.run_test(size=(80, 24)) as pilot:
        await samples(pilot, 2)
        await pilot.press("p")
        taken = app.samples_taken
        await pilot.pause(0.6)
        assert app.samples_taken <= taken + 1  # at most the one already under way
        header = str(_main(app).query_one("#header").render())
        assert "PAUSED" in header
        await pilot.press("p")
        await samples(pilot, taken + 2)


async def test_help_theme_palette_and_quit() -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await samples(pilot, 1)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)
        before = app.theme
        await pilot.press("t")
        assert app.theme != before and app.theme.startswith("mbtop-")
        await pilot.press("ctrl+p")
        await pilot.pause()
        assert app.screen.__class__.__name__ == "CommandPalette"
        await pilot.press(*"Port 465")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause(0.2)
        assert isinstance(app.screen, PortDetail) and app.screen.key == "port:465"
        await pilot.press("escape")
        assert app.is_running
        await pilot.press("q")
        await pilot.pause()
        assert not app.is_running  # q quit, not the end of the test
    assert app.return_code == 0


async def test_hostile_text_is_shown_literally() -> None:
    app = make_app()
    async with app.run_test(size=(160, 40)) as pilot:
        await samples(pilot, 1)
        await pilot.press("down", "down", "down", "down", "enter")
        screen = app.screen
        assert isinstance(screen, PortDetail) and screen.key == "port:465"
        listeners = screen.query_one("#listeners", LiveTable)
        cells = [str(c) for row in listeners.rows for c in listeners.get_row(row)]
        assert "[bold red]x[/]" in cells
        cmd = next(c for c in cells if "sockprog" in c)
        assert "\x1b" not in cmd and "\x07" not in cmd and "[link=http://evil]click[/link]" in cmd
        assert "pwned" not in cmd  # the OSC title sequence is removed whole


async def test_a_failing_probe_never_crashes_the_app() -> None:
    """The source raises on every other call: the header says so, the last good data stays."""
    from tests.ui.appkit import SAMPLES

    calls = {"n": 0}

    def flaky():  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] % 2 == 0:
            raise PermissionError("netlink: Operation not permitted")
        return SAMPLES[0]

    app = make_app()
    app.source = flaky
    async with app.run_test(size=(100, 24)) as pilot:
        await samples(pilot, 1)
        await pilot.press("r")
        for _ in range(100):
            await pilot.pause(0.02)
            if app.error:
                break
        header = str(_main(app).query_one("#header").render())
        assert "sampling failed: PermissionError: netlink: Operation not permitted" in header
        assert _table(app, "overview").row_count == 17  # the last good sample is still shown
        await samples(pilot, 2)
        assert app.error is None


async def test_logs_pane_follows_counts_filters_and_traces(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Real files, written while the app runs: lines appear, counters count, k filters, enter traces."""
    import shutil

    from tests.ui.appkit import FIXTURE

    fix = FIXTURE.parent / "logs"
    (tmp_path / "mail.log").write_text("")
    shutil.copy(fix / "nginx-access.log", tmp_path / "access.log")
    shutil.copy(fix / "nginx-error.log", tmp_path / "error.log")
    app = make_app(logs=tmp_path)
    async with app.run_test(size=(140, 40)) as pilot:
        await samples(pilot, 1)
        await pilot.press("4")
        mail_lines = (fix / "postfix-events.log").read_text()
        with open(tmp_path / "mail.log", "a") as fh:
            fh.write(mail_lines)
        for _ in range(200):
            await pilot.pause(0.02)
            if app.mail_window.total == len(mail_lines.splitlines()):
                break
        await pilot.pause(0.4)
        pane = _main(app).query_one("#logs-pane")
        mail = pane.query_one("#mail-table", LiveTable)
        assert mail.row_count == len(mail_lines.splitlines())
        web = pane.query_one("#web-table", LiveTable)
        assert web.row_count == 9  # 6 access + 3 error lines
        counters = str(pane.query_one("#mail-counters").render())
        assert "reject 4" in counters and "auth-fail 1" in counters and "sent 1" in counters
        web_counters = str(pane.query_one("#web-counters").render())
        assert "2xx 1" in web_counters and "5xx 1" in web_counters and "errors 3" in web_counters
        assert "top path /index.php ×2" in web_counters
        await pilot.press("k")
        await pilot.pause(0.4)
        assert mail.row_count == 4  # smtpd, postscreen and two milter rejects
        await pilot.press("k", "k")  # delivery
        await pilot.pause(0.4)
        mail.focus()
        mail.move_cursor(row=0)  # the pane follows the newest line; go back to the first delivery
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause(0.2)
        from mbtop.ui.screens.trace import TraceScreen

        assert isinstance(app.screen, TraceScreen)
        assert [e.kind for e in app.screen.events][:2] == ["client", "cleanup"]
        assert app.screen.title_text == "Queue id 4A1B2C3D4E"


async def test_logs_tab_straight_from_the_overview(tmp_path) -> None:  # type: ignore[no-untyped-def]
    for name in ("mail.log", "access.log", "error.log"):
        (tmp_path / name).write_text("")
    app = make_app(logs=tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await samples(pilot, 1)
        await pilot.press("4")
        await pilot.pause(0.4)
        assert _main(app).query_one(TabbedContent).active == "logs"
        assert "mail/min" in str(_main(app).query_one("#mail-counters").render())


async def test_port_and_socket_details_show_their_log_events(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import shutil

    from tests.ui.appkit import FIXTURE

    fix = FIXTURE.parent / "logs"
    shutil.copy(fix / "postfix-events.log", tmp_path / "mail.log")
    (tmp_path / "access.log").write_text("")
    shutil.copy(fix / "nginx-error.log", tmp_path / "error.log")
    app = make_app(logs=tmp_path)
    async with app.run_test(size=(140, 48)) as pilot:
        await samples(pilot, 1)
        for _ in range(100):
            await pilot.pause(0.02)
            if app.mail_window.total and app.web_window.total:
                break
        # Port 587: only the submission service's lines.
        assert [e.program for e in app.port_events(587)] == ["postfix/submission/smtpd"]
        assert {e.program for e in app.port_events(25)} <= {"postfix/smtpd", "postfix/postscreen", "postfix/anvil"}
        assert [e.kind for e in app.port_events(465)] == ["lost_connection"]
        app.open_detail("port:587")
        await pilot.pause(0.3)
        assert "client.example[192.0.2.200]" in str(app.screen.query_one("#events").render())
        await pilot.press("escape")
        # The php-fpm socket: the nginx error line that names it, and the count in the sockets pane.
        await pilot.press("2")
        await pilot.pause(0.2)
        sockets = _table(app, "sockets")
        assert sockets.cell_text("socket:php-fpm", "weberr") == "1"
        assert sockets.cell_text("socket:redis", "weberr") == "0"  # no error line names it
        app.open_detail("socket:php-fpm")
        await pilot.pause(0.3)
        assert "13: Permission denied" in str(app.screen.query_one("#events").render())


async def test_flood_tab_top_talkers_and_drill_down() -> None:
    app = make_app()
    async with app.run_test(size=(140, 40)) as pilot:
        await samples(pilot, 3)
        await pilot.press("5")
        await pilot.pause(0.2)
        assert _main(app).query_one(TabbedContent).active == "flood"
        talkers = _main(app).query_one("#talkers", LiveTable)
        first = [str(c) for c in talkers.get_row("src:127.66.0.1")]
        assert first[:2] == ["127.66.0.1", "12"]  # the recorded flood: 12 connections held from it
        prefixes = _main(app).query_one("#prefixes", LiveTable)
        assert "net:127.66.0.0/24" in [k.value for k in prefixes.rows]
        summary = str(_main(app).query_one("#flood-summary").render())
        assert "ports 25/587/465" in summary and "open 70" in summary
        talkers.focus()
        await pilot.press("enter")
        await pilot.pause(0.2)
        from mbtop.ui.screens.trace import TraceScreen

        assert isinstance(app.screen, TraceScreen) and app.screen.title_text == "Mail log lines of 127.66.0.1"


async def test_a_broken_theme_file_with_markup_in_its_name_is_reported_as_text(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Theme problems name files and quote parser errors: shown as plain text, never parsed as markup."""
    bad = tmp_path / "evil[@click=app.quit]x[bold red].toml"
    bad.write_text("name = [unclosed\n")
    app = make_app(theme=str(bad))
    async with app.run_test(size=(80, 24)) as pilot:
        await samples(pilot, 1)
        assert app.theme == "mbtop-dark"
        assert any("evil[@click=app.quit]x[bold red].toml" in p for p in app.theme_problems)
        assert _table(app, "overview").row_count == 17  # the app runs on
        # The notification carries the name as plain text, not as markup (a click action here would run).
        (note,) = [n for n in app._notifications if "evil" in n.message]
        assert note.markup is False and "evil[@click=app.quit]x[bold red].toml" in note.message


async def test_firewall_tab_and_port_detail_show_the_verdicts() -> None:
    """The recorded stack sample with the firewall of the reference's ufw rules (evaluated from a
    recording of a lab namespace: the lab stack's own host has no firewall to show)."""
    import dataclasses

    from mbtop.catalog import load_reference
    from mbtop.probes.firewall import FirewallState, Host, analyse
    from mbtop.probes.record import Replay
    from tests.ui.appkit import SAMPLES
    from tests.unit.test_firewall_rules import ufw_reference

    rulesets = ufw_reference()
    ports = analyse(rulesets, load_reference().tcp_ports, Host(("eth0",)), "ufw", [4, 6])
    state = FirewallState("ufw", True, ports, ("IPv4 INPUT policy DROP (ufw)",), True, rules=120)
    app = make_app()
    app.source = Replay([dataclasses.replace(s, firewall=state) for s in SAMPLES])
    async with app.run_test(size=(160, 48)) as pilot:
        await samples(pilot, 1)
        overview = _table(app, "overview")
        assert overview.cell_text("port:25", "fw") == "limit"
        assert overview.cell_text("port:465", "fw") == "deny"
        await pilot.press("6")
        assert _main(app).query_one("#tabs", TabbedContent).active == "firewall"
        table = _table(app, "firewall")
        assert table.cell_text("port:10050", "verdict") == "restr"
        assert "192.168.1.0/24" in table.cell_text("port:10050", "who")
        assert table.cell_text("port:25", "rule").startswith("ufw limit 25/tcp")
        assert "5 new connections per 30 s per source" in table.cell_text("port:25", "who")
        await pilot.press("enter")  # the first row: port 25's detail
        detail = app.screen
        assert isinstance(detail, PortDetail)
        assert "firewall (ufw): limit" in str(detail.query_one("#summary").render())
        # Port 465 is optional: denied by the firewall, and no finding says otherwise.
        assert not [f for f in app.view.snapshot.findings if f.code.startswith("firewall-")]


async def test_actions_from_a_recording_are_refused_in_the_preview() -> None:
    """A replay is not the system: the plan is shown, Run is disabled, Cancel has the focus."""
    from textual.widgets import Button

    from mbtop.ui.screens.confirm import ConfirmScreen

    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await samples(pilot, 1)
        await pilot.press("R")  # on port 25: restart postfix
        for _ in range(100):
            if isinstance(app.screen, ConfirmScreen):
                break
            await pilot.pause(0.02)
        screen = app.screen
        assert isinstance(screen, ConfirmScreen)
        assert screen.plan.action == "restart" and screen.plan.target == "postfix"
        assert screen.plan.refused is not None and "read-only" in screen.plan.refused
        assert screen.query_one("#run", Button).disabled
        assert app.focused is screen.query_one("#cancel", Button)
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen)


async def test_block_from_the_flood_tab_plans_the_selected_source() -> None:
    from mbtop.ui.screens.confirm import ConfirmScreen

    app = make_app()
    async with app.run_test(size=(140, 40)) as pilot:
        await samples(pilot, 3)
        await pilot.press("5")
        await pilot.pause(0.2)
        talkers = _main(app).query_one("#talkers", LiveTable)
        talkers.focus()
        await pilot.pause()
        assert talkers.selected_key == "src:127.66.0.1"
        await pilot.press("b")
        for _ in range(100):
            if isinstance(app.screen, ConfirmScreen):
                break
            await pilot.pause(0.02)
        screen = app.screen
        assert isinstance(screen, ConfirmScreen)
        assert (screen.plan.action, screen.plan.target) == ("block", "127.66.0.1")
        assert screen.plan.refused  # a loopback address, and a recording: never run
        await pilot.press("escape")


async def test_a_sample_landing_while_the_screen_is_torn_down_is_skipped() -> None:
    # Quitting while the sampling thread finishes: the sample arrives after the screen's widgets
    # are gone (seen once when regenerating screenshots: a NoMatches traceback on exit).
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await samples(pilot, 1)
        main = _main(app)
        await main.query_one("#header").remove()
        app._render_view()  # must not raise
        assert app.view is not None and not main.query("#header")


async def test_header_says_when_connections_are_read_less_often() -> None:
    import dataclasses

    from mbtop.ui.widgets.header import StatusHeader

    app = make_app()
    async with app.run_test(size=(140, 30)) as pilot:
        await samples(pilot, 1)
        header = _main(app).query_one("#header", StatusHeader)
        assert app.view is not None and "connections /" not in str(header.render())
        slow = dataclasses.replace(app.view.sample, connections_every=4.0)  # the budget at 50k connections
        header.show(dataclasses.replace(app.view, sample=slow), 1.0)
        await pilot.pause()
        assert "/1s, connections /4s" in str(header.render())
