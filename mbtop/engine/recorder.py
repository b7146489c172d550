"""The flight recorder: frames from the engine into a ``Store``, and read back by time.

``Recorder`` is an engine subscriber. ``__call__(frame)`` only puts the frame on a bounded queue;
a thread of its own compacts, encodes and writes it, so a slow disk never blocks the engine:
when the queue is full the frame is dropped and counted. A full filesystem (ENOSPC, or SQLite's
"database or disk is full") does not stop the monitoring: the recorder says so once in its
``state`` and ``problem``, drops frames meanwhile and tries again every ``retry`` seconds.

``RecordedFrames`` reads a recording back: the frame at or before a time, and the log events of
a window.
"""

from __future__ import annotations

import contextlib
import errno
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from mbtop.engine import codec
from mbtop.engine.frame import Frame
from mbtop.engine.store import Recording, RecordingError, Store
from mbtop.logs.events import MailEvent, WebEvent

QUEUE = 64  # frames waiting for the disk before new ones are dropped


# seconds between attempts to write again after the filesystem was full (a test may shorten it)
def _retry() -> float:
    try:
        return max(0.5, float(os.environ.get("MBTOP_TEST_RETRY", "30")))
    except ValueError:
        return 30.0


RETRY = _retry()


FRAME_GUESS = 64 << 10  # bytes a stored frame may take at worst (a flood's compact frame, compressed)


def key_every_for(max_size: int) -> int:
    """Frames per key-frame group for a cap: the store drops whole groups and never the one being
    written, so a group must stay a small part of the cap (a 2M cap under a flood: 8 frames)."""
    return max(2, min(60, max_size // (4 * FRAME_GUESS)))


def _disk_full(exc: BaseException) -> bool:
    text = str(exc).lower()
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return True
    return "disk is full" in text or "no space left" in text or "database or disk is full" in text


@dataclass(frozen=True, slots=True)
class RecorderStatus:
    state: str  # "recording", "disk full", "failed", "stopped"
    written: int
    dropped: int  # frames not written: the queue was full, or the disk
    problem: str | None  # what is wrong, for a person; None while all is well


class Recorder:
    """Subscribe ``recorder`` to the engine; ``close()`` drains the queue and closes the store."""

    def __init__(
        self,
        store: Store,
        *,
        per_port: int = codec.PER_PORT,
        maxsize: int = QUEUE,
        retry: float = RETRY,
        on_state: Callable[[RecorderStatus], None] | None = None,
    ) -> None:
        self.store = store
        self.per_port = per_port
        self.retry = retry
        self.on_state = on_state
        self._queue: queue.Queue[Frame | None] = queue.Queue(maxsize)
        self._lock = threading.Lock()
        self._state = "recording"
        self._problem: str | None = None
        self._written = 0
        self._dropped = 0
        self._paused_until = 0.0
        self._thread = threading.Thread(target=self._run, name="mbtop-recorder", daemon=True)
        self._thread.start()

    def __call__(self, frame: Frame) -> None:
        try:
            self._queue.put_nowait(frame)
        except queue.Full:
            with self._lock:
                self._dropped += 1

    @property
    def status(self) -> RecorderStatus:
        with self._lock:
            return RecorderStatus(self._state, self._written, self._dropped, self._problem)

    def _set(self, state: str, problem: str | None) -> None:
        with self._lock:
            changed = (state, problem) != (self._state, self._problem)
            self._state, self._problem = state, problem
        if changed and self.on_state is not None:
            self.on_state(self.status)

    def _run(self) -> None:
        while True:
            frame = self._queue.get()
            if frame is None:
                return
            self._write(frame)

    def _write(self, frame: Frame) -> None:
        now = time.monotonic()
        if now < self._paused_until:
            with self._lock:
                self._dropped += 1
            return
        try:
            self.store.append(frame.time, codec.to_json(codec.compact(frame, self.per_port)))
        except (RecordingError, OSError, sqlite3.DatabaseError) as exc:
            with self._lock:
                self._dropped += 1
            if _disk_full(exc):
                self._paused_until = now + self.retry
                self._set(
                    "disk full",
                    f"{self.store.path}: the filesystem is full; monitoring goes on, recording "
                    f"is retried every {self.retry:g} s",
                )
            else:
                self._paused_until = now + self.retry
                self._set("failed", f"{self.store.path}: cannot record: {exc}; retried every {self.retry:g} s")
            return
        with self._lock:
            self._written += 1
        if self._state != "recording":
            self._set("recording", None)

    def close(self, timeout: float = 10.0) -> None:
        """Write what is queued, stop the thread, close the store (its WAL checkpointed)."""
        with contextlib.suppress(queue.Full):
            self._queue.put(None, timeout=timeout)
        self._thread.join(timeout)
        self.store.close()
        with self._lock:
            self._state = "stopped"


class RecordedFrames:
    """A recording read as frames."""

    def __init__(self, path: Path) -> None:
        self.recording = Recording(path)
        self.path = path

    def span(self) -> tuple[float, float] | None:
        return self.recording.span()

    def _decode(self, data: dict[str, object]) -> Frame:
        try:
            return codec.from_json(data)
        except codec.CodecError as exc:
            raise RecordingError(f"{self.path}: {exc}") from None

    def at(self, ts: float) -> Frame | None:
        """The last frame at or before ``ts``; None before the first one."""
        found = self.recording.at(ts)
        return None if found is None else self._decode(found[1])

    def between(self, start: float, end: float) -> Iterator[Frame]:
        for _ts, data in self.recording.between(start, end):
            yield self._decode(data)

    def events(self, start: float, end: float) -> tuple[list[MailEvent], list[WebEvent]]:
        """The log events of the frames taken in ``[start, end]``, in the order they arrived."""
        mail: list[MailEvent] = []
        web: list[WebEvent] = []
        for _ts, data in self.recording.between(start, end):
            try:
                logs = codec.logs_from_json(data)
            except codec.CodecError as exc:
                raise RecordingError(f"{self.path}: {exc}") from None
            mail.extend(logs.mail)
            web.extend(logs.web)
        return mail, web

    def close(self) -> None:
        self.recording.close()
