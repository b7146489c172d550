"""'?': every key, in one place."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from mbtop.ui.cells import style_for

KEYS = (
    ("Everywhere", ""),
    ("q", "quit"),
    ("?", "this help"),
    ("p", "pause / resume the refresh (the data on screen stays)"),
    ("r", "refresh now"),
    ("t", "next colour theme"),
    ("ctrl+p", "command palette: every action by name"),
    ("Overview", ""),
    ("1 … 8", "Overview, Sockets, Findings, Logs, Flood, Firewall, Services, Queue"),
    ("tab", "next pane"),
    ("up / down", "move the selection (it survives refreshes)"),
    ("enter", "details of the selected port or socket"),
    ("/", "filter the table (esc clears)"),
    ("Logs and Flood", ""),
    ("k", "logs: show one kind of mail event (reject, auth failure, delivery, ...)"),
    ("enter", "logs: every line of that message (queue id); flood: the source's lines"),
    ("Actions", "each shows its plan first; Cancel is the default; audited"),
    ("R", "restart the service of the selected port, socket or service"),
    ("F", "fix the selected socket's owner, group and mode"),
    ("K", "free the selected port: stop the squatter, start the service"),
    ("b / u", "flood: block / unblock the selected source; port detail: block the remote"),
    ("Queue", "each action previewed with the queue ids, Cancel the default, audited"),
    ("enter", "the messages of the selected domain, reason or sender; on a message: its log lines"),
    ("H / L / D / E", "hold / release / delete / requeue the row's messages (in the list: the message)"),
    ("f", "flush the queue: try every deferred message now"),
    ("History", "the agent's recording, when there is one"),
    ("[ / ]", "the whole screen 1 min back / on in time (header: history); ] at the end: now"),
    ("Replay", "mbtop replay [PATH]: actions are disabled"),
    ("space / p", "play / pause the recording"),
    ("left/right", "one frame back / on (in history too)"),
    ("shift+arrow", "1 min back / on (shift+left / shift+right; [ and ] too)"),
    ("g", "go to a time: 03:10, 2026-11-27 03:10:05, -15m (before the end)"),
    ("+ / -", "faster / slower: 1x, 10x, 60x"),
    ("Port detail", ""),
    ("f", "filter connections by TCP state"),
    ("s", "sort connections: remote, state, age"),
    ("esc", "back to the overview"),
)


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q,question_mark", "dismiss", "Close")]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll { width: 72; max-width: 100%; height: auto; max-height: 100%;
        border: round $primary; background: $surface; padding: 0 1; }
    """

    def compose(self) -> ComposeResult:
        t = Text()
        for key, what in KEYS:
            if not what:
                t.append(f"\n{key}\n", style="bold")
                continue
            t.append(f"  {key:<11}", style=style_for("accent", self.app.current_theme) + " bold")
            t.append(f"{what}\n")
        with VerticalScroll():
            yield Static(t)

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(result)
