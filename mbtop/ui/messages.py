"""Messages from the sampling worker to the app (post_message is the only thread-safe path)."""

from __future__ import annotations

from textual.message import Message

from mbtop.logs.events import MailEvent, WebEvent
from mbtop.model.flood import FloodState
from mbtop.model.history import Rates
from mbtop.model.types import Snapshot
from mbtop.probes.fail2ban import Fail2ban
from mbtop.probes.sample import Sample


class SnapshotReady(Message):
    def __init__(
        self,
        sample: Sample,
        snapshot: Snapshot,
        rates: Rates,
        flood: FloodState | None = None,
        fail2ban: Fail2ban | None = None,
    ) -> None:
        super().__init__()
        self.fail2ban = fail2ban
        self.sample = sample
        self.snapshot = snapshot
        self.rates = rates
        self.flood = flood


class LogBatch(Message):
    """New events from one followed log."""

    def __init__(
        self, which: str, path: str, events: list[MailEvent] | list[WebEvent], status: str, history: int = 0
    ) -> None:
        super().__init__()
        self.history = history  # events with line_no up to this came from the backfill: the past
        self.which = which
        self.path = path
        self.events = events
        self.status = status
