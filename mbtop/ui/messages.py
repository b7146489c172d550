"""Messages from the engine's threads to the app (post_message is the only thread-safe path)."""

from __future__ import annotations

from textual.message import Message

from mbtop.engine.types import Frame
from mbtop.engine.types import LogBatch as Batch


class FrameReady(Message):
    """A frame from the source (the engine's sampling thread, or a recording)."""

    def __init__(self, frame: Frame, origin: str = "") -> None:
        super().__init__()
        self.frame = frame
        self.origin = origin  # "history": from the recording the screen scrolls through ([ and ])


class LogBatch(Message):
    """New events from one followed log, as they came (before the next frame)."""

    def __init__(self, batch: Batch, origin: str = "") -> None:
        super().__init__()
        self.origin = origin  # as FrameReady's
        self.reset = batch.reset  # a recording jumped: the events replace the window's
        self.which = batch.which
        self.path = batch.path
        self.events = batch.events
        self.status = batch.status
        self.history = batch.history  # events with line_no up to this came from the backfill: the past
