"""Enter on a Queue tab row: the messages of that domain, sender or reason with their queue ids.
Enter on a message: its log lines (the trace). H/L/D/E act on the selected message."""

from __future__ import annotations

import time
from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Static

from mbtop.engine.types import queue_probe as probe
from mbtop.model import queue as queuemodel
from mbtop.ui.cells import Cell, duration, safe
from mbtop.ui.rows import Column
from mbtop.ui.widgets.footer import KeyFooter
from mbtop.ui.widgets.livetable import LiveTable

LIMIT = 2000  # messages listed (the count says how many there are)
MESSAGES = (
    Column("id", "Queue id", 12, 0),
    Column("queue", "Queue", 8, 3),
    Column("age", "Age", 6, 0),
    Column("size", "Size", 7, 4),
    Column("sender", "Sender", 26, 1),
    Column("rcpt", "Recipients", 26, 2),
    Column("reason", "Deferred reason", None, 0),
)


def message_rows(messages: list[probe.Message], now: float) -> dict[str, dict[str, Cell]]:
    out: dict[str, dict[str, Cell]] = {}
    for m in messages[:LIMIT]:
        reasons = sorted({r for _, r in m.recipients if r})
        out[f"qid:{m.queue_id}"] = {
            "id": (safe(m.queue_id), "bold"),
            "queue": (m.queue, "warning" if m.queue == "hold" else ""),
            "age": (duration(now - m.arrival) if m.arrival else "?", ""),
            "size": (str(m.size), "dim"),
            "sender": (safe(queuemodel.sender_key(m.sender)), ""),
            "rcpt": (safe(", ".join(a for a, _ in m.recipients)), ""),
            "reason": (safe("; ".join(reasons)), "dim"),
        }
    return out


class QueueListScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("H", "queue('hold')", "Hold"),
        Binding("L", "queue('release')", "Release"),
        Binding("D", "queue('delete')", "Delete"),
        Binding("E", "queue('requeue')", "Requeue", show=False),
        Binding("r", "reload", "Reload", show=False),
    ]
    DEFAULT_CSS = """
    QueueListScreen #queue-list-title { height: 1; padding: 0 1; background: $panel; }
    """

    def __init__(self, by: str, value: str) -> None:
        super().__init__()
        self.by = by
        self.value = value

    def compose(self) -> ComposeResult:
        yield Static(Text(f"Messages of {self.by} {safe(self.value)}: reading…", no_wrap=True), id="queue-list-title")
        yield LiveTable(MESSAGES, min_flex=20, id="queue-list")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one(LiveTable).focus()
        self.action_reload()

    def action_reload(self) -> None:
        self.read_worker()

    @work(thread=True, exclusive=True, exit_on_error=False, group="queue-list")
    def read_worker(self) -> None:
        gateway = getattr(self.app, "gateway", None)
        reader = probe.Reader(getattr(gateway, "config_dir", None))
        found: list[probe.Message] = []
        count = 0
        for m in reader:
            if queuemodel.matches(m, self.by, self.value):
                count += 1
                if len(found) < LIMIT:  # the count is exact; the list is bounded
                    found.append(m)
        self.app.call_from_thread(self.fill, found, count, reader.error)

    def fill(self, found: list[probe.Message], count: int, error: str | None) -> None:
        what = f"Messages of {self.by} {safe(self.value)}: {count}"
        if count > LIMIT:
            what += f" (the first {LIMIT} shown)"
        if error:
            what += f" — {safe(error)}"
        self.query_one("#queue-list-title", Static).update(Text(what + " — enter: log lines", no_wrap=True))
        self.query_one(LiveTable).set_rows(message_rows(found, time.time()))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        key = event.row_key.value or ""
        tracer = getattr(self.app, "open_queue_trace", None)
        if key.startswith("qid:") and tracer is not None:
            tracer(key[4:])

    def action_queue(self, action: str) -> None:
        key = self.query_one(LiveTable).selected_key or ""
        propose = getattr(self.app, "propose", None)
        if key.startswith("qid:") and propose is not None:
            propose(f"queue-{action}", f"id:{key[4:]}")
