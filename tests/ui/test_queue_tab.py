"""The Queue tab on a made-up queue state (the pure-UI part; the real queue is read in
tests/integration/test_queue.py and shown in screenshots/queue-*.png): rows, hostile text,
drill-down, actions refused from a recording."""

from __future__ import annotations

from mbtop.model import queue as qm
from mbtop.model.gateway import GatewayState
from mbtop.probes.queue import Message
from mbtop.ui.screens.confirm import ConfirmScreen
from mbtop.ui.screens.main import MainScreen
from mbtop.ui.screens.queuelist import QueueListScreen
from mbtop.ui.widgets.livetable import LiveTable
from tests.ui.appkit import make_app, samples

NOW = 1_800_000_000.0
HOSTILE = "[bold red]x[/]\x1b]0;pwned\x07@evil.test"


def state() -> GatewayState:
    msgs = [
        Message(
            "deferred",
            f"A{i:09X}",
            NOW - 600,
            900,
            HOSTILE,
            ((f"u{i}@dead.test", "connect to 10.0.0.1[10.0.0.1]:25: refused"),),
        )
        for i in range(5)
    ]
    msgs.append(Message("hold", "BBBBBBBBBB", NOW - 60, 100, "ok@x.org", (("y@held.test", None),)))
    return GatewayState(qm.summarise(msgs, NOW), None, (1, 3, 6))


async def _wait(pilot, cls):  # type: ignore[no-untyped-def]
    for _ in range(150):
        if isinstance(pilot.app.screen, cls):
            return pilot.app.screen
        await pilot.pause(0.02)
    raise AssertionError(f"no {cls.__name__}")


async def test_queue_tab_rows_hostile_text_drill_down_and_refused_actions() -> None:
    app = make_app()
    app.gateway_state = state()
    async with app.run_test(size=(120, 40)) as pilot:
        await samples(pilot, 1)
        await pilot.press("8")
        await pilot.pause(0.2)
        main = app.screen
        assert isinstance(main, MainScreen)
        shape = main.query_one("#queue-shape", LiveTable)
        assert shape.cell_text("qtotal:", "b0") == "5" and shape.cell_text("qdomain:dead.test", "b0") == "5"
        assert shape.cell_text("qdomain:dead.test", "b3") == "5"  # ten minutes old: [10, 20), qshape's "20"
        senders = main.query_one("#queue-senders", LiveTable)
        shown = senders.cell_text(f"qsender:{HOSTILE.lower()}", "sender")
        assert shown == "[bold red]x[/]@evil.test"  # literal, the escape sequence gone
        reasons = main.query_one("#queue-reasons", LiveTable)
        assert reasons.cell_text("qreason:connect to IP[IP]:25: refused", "count") == "5"
        summary = str(main.query_one("#queue-summary").render())
        assert "Queue 6" in summary and "hold 1" in summary

        shape.focus()
        shape.move_cursor(row=1)
        await pilot.press("enter")
        listing = await _wait(pilot, QueueListScreen)
        assert (listing.by, listing.value) == ("domain", "dead.test")
        await pilot.press("escape")
        await pilot.pause(0.1)

        senders.focus()
        await pilot.press("H")
        confirm = await _wait(pilot, ConfirmScreen)
        assert confirm.plan.action == "queue-hold" and confirm.plan.target == f"sender:{HOSTILE.lower()}"
        assert confirm.plan.refused and "read-only" in confirm.plan.refused  # a recording: never run
        await pilot.press("escape")


async def test_a_queue_finding_opens_the_queue_tab() -> None:
    from mbtop.model.vitals import VitalsThresholds, extend

    app = make_app()
    gs = state()
    app.gateway_state = gs
    async with app.run_test(size=(120, 40)) as pilot:
        await samples(pilot, 1)
        assert app.view is not None
        snap = extend(app.view.snapshot, gs.queue, None, qm.QueueThresholds(), VitalsThresholds())
        assert "queue-hold" in {f.code for f in snap.findings}
        await pilot.press("3")
        await pilot.pause(0.3)
        main = app.screen
        assert isinstance(main, MainScreen)
        table = main.query_one("#findings-table", LiveTable)
        keys = [k for k in table._rows if k.startswith("finding:queue-hold")]
        assert keys == ["finding:queue-hold:host"]  # the app added the queue's findings to its snapshot
        table.move_cursor(row=list(table._rows).index(keys[0]))
        await pilot.press("enter")
        await pilot.pause(0.2)
        assert main.query_one("#tabs").active == "queue"  # type: ignore[attr-defined]
