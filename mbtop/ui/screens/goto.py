"""`g` in a replay: the time to go to, typed (``03:10``, ``2026-11-27 03:10:05``, ``-15m``)."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static


class GotoScreen(ModalScreen[str | None]):
    """Enter answers the text typed; esc answers None."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]
    DEFAULT_CSS = """
    GotoScreen { align: center middle; }
    GotoScreen > Vertical { width: 60; max-width: 100%; height: auto; border: round $primary;
        background: $surface; padding: 0 1; }
    GotoScreen Input { border: none; height: 1; padding: 0; }
    GotoScreen Static { color: $text-muted; }
    """

    def __init__(self, span: str) -> None:
        super().__init__()
        self.span = span

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("Go to: 03:10, 2026-11-27 03:10:05, or -15m (before the end)", markup=False)
            yield Input(placeholder="time", id="goto-input")
            yield Static(self.span, markup=False)

    def on_mount(self) -> None:
        self.query_one("#goto-input", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)
