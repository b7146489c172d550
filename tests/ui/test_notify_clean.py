"""Action reports and notifications carry outside text (command output, process names, file names):
it reaches the screen as plain text, without escapes, controls, bidi overrides or zero-width
characters, and is never read as markup."""

from __future__ import annotations

from mbtop.actions.plan import Plan, Result, Step
from tests.ui.appkit import make_app, samples

HOSTILE = "\x1b]0;pwned\x07[bold red]x[/]\x1b[2J \u202eevil\u202c\u200b\x9b31m"


async def test_action_reports_and_notifications_are_plain_text() -> None:
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await samples(pilot, 1)
        plan = Plan("free-port", "465", "free port 465", (Step("exec", "x", argv=("true",)),))
        result = Result(False, f"free port 465: failed — true: exit status 1: {HOSTILE}", [f"said {HOSTILE}"])
        app.report_action(plan, result, [f"port 465: CRITICAL — held by {HOSTILE}"], False)
        app.screen.notify(f"from a screen: {HOSTILE}", title=HOSTILE)
        await pilot.pause()
        shown = list(app._notifications)[-2:]
        assert len(shown) == 2
        for note in shown:
            text = note.title + note.message
            assert not note.markup
            assert not {c for c in text if (c < " " and c != "\n") or "\x7f" <= c <= "\x9f"}, repr(text)
            assert "\u202e" not in text and "\u200b" not in text
            assert "[bold red]x[/]" in note.message and "evil" in note.message
        assert shown[0].message.splitlines()[1] == "now: port 465: CRITICAL — held by [bold red]x[/] evil"
