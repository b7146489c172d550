"""A terminal driver whose output can be abandoned: quitting behind a slow link must not wait.

Textual writes each frame from a writer thread; a frame of tens of KiB takes seconds over a
congested SSH link, and the thread cannot be interrupted mid-write.  Here the frame is written in
small pieces, each flushed, and ``abandon()`` makes the thread drop the rest of the frame in
progress and every queued one; the terminal's own unsent output is discarded too (tcflush).  What
is written after that (Textual restoring the terminal on exit) goes out normally.
"""

from __future__ import annotations

import contextlib
import os
import termios
import threading
from typing import IO, Any, cast

from textual.drivers.linux_driver import LinuxDriver

PIECE = 1024  # characters per write: how long an abandoned frame can still hold the link


class AbortableOutput:
    def __init__(self, inner: IO[str]) -> None:
        self._inner = inner
        self.discarding = threading.Event()

    def write(self, text: str) -> int:
        for i in range(0, len(text), PIECE):
            if self.discarding.is_set():
                return len(text)
            self._inner.write(text[i : i + PIECE])
            self._inner.flush()
        return len(text)

    def flush(self) -> None:
        if not self.discarding.is_set():
            self._inner.flush()

    def fileno(self) -> int:
        return self._inner.fileno()

    def isatty(self) -> bool:
        return self._inner.isatty()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class MbtopDriver(LinuxDriver):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.output = AbortableOutput(cast(IO[str], self._file))
        self._file = self.output  # type: ignore[assignment]

    def abandon_output(self) -> None:
        """Drop every frame not yet on the wire; then let writes through again."""
        out = self.output
        out.discarding.set()
        writer = self._writer_thread
        queue = getattr(writer, "_queue", None)
        if queue is not None:
            stop_seen = False
            with contextlib.suppress(Exception):
                while True:
                    if queue.get_nowait() is None:
                        stop_seen = True
            if stop_seen:
                queue.put(None)
        with contextlib.suppress(OSError, ValueError):
            fd = out.fileno()
            if os.isatty(fd):
                termios.tcflush(fd, termios.TCOFLUSH)
        # The frame in progress stops at its next piece; give the thread that moment.
        threading.Event().wait(0.05)
        out.discarding.clear()
