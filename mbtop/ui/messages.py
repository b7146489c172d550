"""Messages from the sampling worker to the app (post_message is the only thread-safe path)."""

from __future__ import annotations

from textual.message import Message

from mbtop.model.history import Rates
from mbtop.model.types import Snapshot
from mbtop.probes.sample import Sample


class SnapshotReady(Message):
    def __init__(self, sample: Sample, snapshot: Snapshot, rates: Rates) -> None:
        super().__init__()
        self.sample = sample
        self.snapshot = snapshot
        self.rates = rates
