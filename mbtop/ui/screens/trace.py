"""Enter on a mail log line: every line of that message (its queue id) in order, or the client's lines."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Static

from mbtop.engine.types import MailEvent
from mbtop.ui.cells import safe, style_for
from mbtop.ui.widgets.footer import KeyFooter
from mbtop.ui.widgets.logspane import mail_role


class TraceScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "app.pop_screen", "Back")]
    DEFAULT_CSS = """
    TraceScreen #trace-title { height: 1; padding: 0 1; background: $panel; }
    TraceScreen #trace { padding: 0 1; }
    """

    def __init__(self, title: str, events: list[MailEvent]) -> None:
        super().__init__()
        self.title_text = title
        self.events = events

    def compose(self) -> ComposeResult:
        yield Static(Text(self.title_text, style="bold", no_wrap=True), id="trace-title")
        with VerticalScroll(id="trace"):
            yield Static(self._body())
        yield KeyFooter()

    def _body(self) -> Text:
        theme = self.app.current_theme
        t = Text()
        if not self.events:
            t.append("No lines of it are in the recent log any more.", style="dim")
        for ev in self.events:
            t.append(f"{ev.line_no:>7} ", style="dim")
            t.append(f"{(ev.timestamp or '-')[:19]:<19} ", style="dim")
            t.append(f"{ev.kind:<15}", style=style_for(mail_role(ev), theme))
            t.append(f" {safe(ev.program or '')}: ", style="bold")
            t.append(safe(ev.message) + "\n")
        return t
