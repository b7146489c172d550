"""Preview an action's plan and ask: Cancel (the default) or Run."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from mbtop.actions.plan import Plan
from mbtop.ui.cells import safe, style_for


class ConfirmScreen(ModalScreen[bool]):
    """Dismissed with True only when Run is pressed; Escape, Cancel or `n` say no."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel"),
        Binding("n", "cancel", "Cancel", show=False),
        Binding("left,right,tab", "app.focus_next", "Switch", show=False),
    ]
    DEFAULT_CSS = """
    ConfirmScreen { align: center middle; }
    ConfirmScreen > Vertical {
        width: 90%; max-width: 110; height: auto; max-height: 90%;
        border: thick $warning; background: $surface; padding: 0 1;
    }
    ConfirmScreen #plan { height: auto; max-height: 18; }
    ConfirmScreen Horizontal { height: 3; align: right middle; }
    ConfirmScreen Button { margin: 0 1; min-width: 10; }
    """

    def __init__(self, plan: Plan, read_only: bool = False) -> None:
        super().__init__()
        self.plan = plan
        self.read_only = read_only

    def compose(self) -> ComposeResult:
        theme = self.app.current_theme
        plan = self.plan
        t = Text(no_wrap=False)
        t.append(safe(plan.summary) + "\n", style="bold")
        if plan.refused:
            t.append("Refused: " + safe(plan.refused) + "\n", style=style_for("critical", theme))
        elif not plan.steps:
            t.append("Nothing to do.\n", style=style_for("ok", theme))
        for i, step in enumerate(plan.steps, 1):
            t.append(f"{i:>2}. ", style="dim")
            t.append(safe(step.argv_text()) + "\n")
        if plan.verify:
            t.append("then: " + safe(plan.verify) + "\n", style="dim")
        for note in plan.notes:
            t.append("note: " + safe(note) + "\n", style=style_for("warning", theme))
        runnable = bool(plan.steps) and not plan.refused
        with Vertical():
            yield Static(t, id="plan")
            with Horizontal():
                yield Button("Cancel", id="cancel", variant="primary")
                yield Button("Run", id="run", variant="error", disabled=not runnable)

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()  # the default answer is no

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "run")

    def action_cancel(self) -> None:
        self.dismiss(False)
