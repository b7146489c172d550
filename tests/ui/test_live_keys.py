"""Keys and findings of the live screen no other Pilot test reaches: 7 (Services), K (free port),
u (unblock), and the flood watch's smtp-flood finding.  Fed with samples recorded from the real
stack (no system is read, nothing is run: a recording is never acted on)."""

from __future__ import annotations

from textual.widgets import Button, TabbedContent

from mbtop.model.flood import Thresholds
from mbtop.ui.app import MbtopApp
from mbtop.ui.screens.confirm import ConfirmScreen
from mbtop.ui.screens.main import MainScreen
from mbtop.ui.widgets.livetable import LiveTable
from tests.ui.appkit import make_app, samples


def _main(app: MbtopApp) -> MainScreen:
    screen = app.screen_stack[1]
    assert isinstance(screen, MainScreen)
    return screen


async def _confirm(pilot, app: MbtopApp) -> ConfirmScreen:  # type: ignore[no-untyped-def]
    for _ in range(100):
        if isinstance(app.screen, ConfirmScreen):
            break
        await pilot.pause(0.02)
    screen = app.screen
    assert isinstance(screen, ConfirmScreen), screen
    return screen


async def test_key_7_shows_every_service_with_its_state() -> None:
    app = make_app()
    async with app.run_test(size=(140, 40)) as pilot:
        await samples(pilot, 1)
        await pilot.press("7")
        await pilot.pause()
        assert _main(app).query_one(TabbedContent).active == "services"
        table = _main(app).query_one("#services-table", LiveTable)
        assert app.focused is table
        assert app.view is not None
        names = [st.name for st in app.view.snapshot.services]
        assert [str(k.value) for k in table.rows] == [f"service:{n}" for n in names]
        assert table.cell_text("service:postfix", "state") == "running"
        assert "25" in table.cell_text("service:postfix", "serves").split()


async def test_key_K_plans_freeing_the_squatted_port_and_refuses_on_the_documented_service() -> None:
    app = make_app()
    async with app.run_test(size=(140, 40)) as pilot:
        await samples(pilot, 1)
        assert app.view is not None
        port = next(p for p in app.view.snapshot.ports if p.spec.port == 465)
        squatter = next(lst for lst in port.listeners if lst.expected is False)
        await pilot.press("down", "down", "down", "down")  # 25, 80, 443, 587, 465
        await pilot.press("K")
        screen = await _confirm(pilot, app)
        assert (screen.plan.action, screen.plan.target) == ("free-port", "465")
        assert any(f"SIGTERM to {squatter.process} (pid {squatter.pid})" in s.text for s in screen.plan.steps)
        assert screen.plan.refused and "read-only" in screen.plan.refused  # a recording
        assert screen.query_one("#run", Button).disabled
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen)
        overview = _main(app).query_one("#overview-table", LiveTable)
        assert app.focused is overview and overview.selected_key == "port:465"
        await pilot.press("up", "up", "up", "up", "K")  # port 25: held by Postfix itself
        screen = await _confirm(pilot, app)
        assert screen.plan.target == "25" and not screen.plan.steps
        await pilot.press("escape")


async def test_key_u_plans_lifting_the_block_of_the_selected_source() -> None:
    app = make_app()
    async with app.run_test(size=(140, 40)) as pilot:
        await samples(pilot, 3)
        await pilot.press("5")
        await pilot.pause(0.2)
        talkers = _main(app).query_one("#talkers", LiveTable)
        talkers.focus()
        await pilot.pause()
        assert talkers.selected_key == "src:127.66.0.1"
        await pilot.press("u")
        screen = await _confirm(pilot, app)
        assert (screen.plan.action, screen.plan.target) == ("unblock", "127.66.0.1")
        assert screen.plan.refused  # a recording: never run
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("1", "u")  # on a port row there is no address to unblock
        await pilot.pause(0.2)
        assert not isinstance(app.screen, ConfirmScreen)
        assert any("unblock: not for this row" in n.message for n in app._notifications)


async def test_flood_alert_is_a_finding_in_the_findings_tab_and_the_overview() -> None:
    """The recording holds 70 SMTP connections open: over a threshold of 50 the live screen raises
    smtp-flood among the findings (as `mbtop check` does), not only FLOOD in the header."""
    app = make_app(thresholds=Thresholds(concurrent=50))
    async with app.run_test(size=(160, 48)) as pilot:
        await samples(pilot, 2)
        assert app.view is not None and app.view.flood is not None and app.view.flood.alert
        assert "FLOOD" in str(_main(app).query_one("#header").render())
        [flood] = [f for f in app.view.snapshot.findings if f.code == "smtp-flood"]
        assert flood.severity == "warning" and "SMTP flood on 25/587/465" in flood.message
        assert "concurrent" in flood.message or "open" in flood.message
        overview = str(_main(app).query_one("#overview-findings-text").render())
        assert "SMTP flood on 25/587/465" in overview
        await pilot.press("3")
        await pilot.pause()
        table = _main(app).query_one("#findings-table", LiveTable)
        assert "finding:smtp-flood:25" in [str(k.value) for k in table.rows]


async def test_no_flood_finding_under_the_thresholds() -> None:
    app = make_app(thresholds=Thresholds(concurrent=500))
    async with app.run_test(size=(160, 48)) as pilot:
        await samples(pilot, 2)
        assert app.view is not None and app.view.flood is not None and not app.view.flood.alert
        assert not [f for f in app.view.snapshot.findings if f.code == "smtp-flood"]
