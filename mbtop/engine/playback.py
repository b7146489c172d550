"""A recording played as a ``FrameSource``: `mbtop replay` and the live screen's history (`[`/`]`).

``RecordingSource`` reads the flight recorder's file (``mbtop.engine.store``) and delivers its
frames as the engine would, on a clock of its own: recorded time runs at ``speed`` × wall time
while playing, and stands still while paused. Every control (play/pause, step, jump, go to, speed)
may be called from any thread; one thread of the source does the reading and the delivering, so
a face never waits for the disk. After a jump the log events of the ``LOG_BEFORE`` seconds before
the new position are delivered again (a batch with ``reset``), so the Logs tab shows that time.

The recording may still be growing (an agent writing it): playing on at the end follows it. A
recording damaged while it is read does not stop the source: the last frame stays, with the
reason as its ``error`` (the header shows it).
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from mbtop.engine import codec
from mbtop.engine.feeds import LogBatch
from mbtop.engine.frame import Frame
from mbtop.engine.recorder import RecordedFrames
from mbtop.engine.source import FrameCallback, LogCallback
from mbtop.engine.store import RecordingError
from mbtop.logs.events import MailEvent, WebEvent
from mbtop.model.types import Snapshot

SPEEDS = (1.0, 10.0, 60.0)
TICK = 0.25  # seconds between clock ticks while playing
LOG_BEFORE = 120.0  # seconds of log events shown again after a jump
LOG_FRAMES = 600  # frames read for them at most (a jump never reads the whole recording)


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where the player stands: the shown frame's time within the recording's span."""

    at: float
    start: float
    end: float
    playing: bool
    speed: float

    @property
    def at_end(self) -> bool:
        return self.at >= self.end


class RecordingSource:
    """Frames from a recording (see the module's docstring). Raises ``RecordingError`` at once for
    a file that is not a readable recording, or one that holds no frame."""

    live = False

    def __init__(
        self,
        path: Path,
        *,
        at: float | None = None,
        speed: float = 1.0,
        playing: bool = True,
        tick: float = TICK,
        origin: str = "replay",
    ) -> None:
        self.path = path
        self.origin = origin  # "replay" or "history": what a face calls it
        self.tick = tick
        self._rec = RecordedFrames(path)
        try:
            span = self._rec.span()
            if span is None:
                raise RecordingError(f"{path}: the recording holds no frames yet")
            seq = self._rec.recording.seq_at(at) if at is not None else None
            if seq is None:
                seq = self._rec.recording.seq_at(span[0])
            assert seq is not None  # noqa: S101 - span[0] is a frame's time
            ts, data = self._rec.recording.frame(seq)
            self._rec._decode(data)  # a first frame that does not decode is refused here, not later
        except BaseException:
            self._rec.close()
            raise
        self._span = span
        self._seq = seq
        self._pos = ts
        self._playing = playing
        self._speed = speed
        self._commands: deque[tuple[str, float]] = deque(maxlen=64)
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._on_frame: FrameCallback | None = None
        self._on_logs: LogCallback | None = None
        self._last: Frame | None = None
        self.cursor = Cursor(ts, span[0], span[1], playing, speed)

    # --- the FrameSource protocol ---

    def start(self, on_frame: FrameCallback, on_logs: LogCallback) -> None:
        self._on_frame, self._on_logs = on_frame, on_logs
        with self._cond:
            self._commands.append(("show", 0.0))
        self._thread = threading.Thread(target=self._run, name=f"mbtop-{self.origin}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(5)
        self._rec.close()

    def sample_now(self) -> None:
        """`r`: the frame shown again (a recording has no "now" to sample)."""
        self._command("show", 0.0)

    def recheck(self, firewall: bool = False) -> Snapshot | None:
        return None

    def set_flood_visible(self, visible: bool) -> None:
        return None

    def history(self) -> tuple[Frame, ...]:
        return ()

    # --- controls (any thread) ---

    def toggle(self) -> None:
        with self._cond:
            self._playing = not self._playing
            self._update_cursor()
            self._cond.notify()

    def set_playing(self, playing: bool) -> None:
        with self._cond:
            self._playing = playing
            self._update_cursor()
            self._cond.notify()

    def set_speed(self, speed: float) -> None:
        with self._cond:
            self._speed = speed
            self._update_cursor()

    def change_speed(self, step: int) -> float:
        """The next (``step`` > 0) or previous speed of ``SPEEDS``; returns the new one."""
        with self._cond:
            idx = min(range(len(SPEEDS)), key=lambda i: abs(SPEEDS[i] - self._speed))
            self._speed = SPEEDS[max(0, min(len(SPEEDS) - 1, idx + step))]
            self._update_cursor()
            return self._speed

    def step(self, frames: int) -> None:
        """``frames`` frames on (back when negative); stops playing."""
        self._command("step", float(frames))

    def jump(self, seconds: float) -> None:
        """``seconds`` of recorded time on (back when negative), within the recording."""
        self._command("jump", seconds)

    def goto(self, ts: float) -> None:
        """The last frame at or before ``ts`` (the first one when ``ts`` is before it)."""
        self._command("goto", ts)

    def _command(self, what: str, value: float) -> None:
        with self._cond:
            self._commands.append((what, value))
            self._cond.notify()

    # --- the player's thread ---

    def _update_cursor(self) -> None:
        self.cursor = Cursor(self._pos, self._span[0], self._span[1], self._playing, self._speed)

    def _run(self) -> None:
        last = time.monotonic()
        while not self._stop.is_set():
            with self._cond:
                if not self._commands:
                    self._cond.wait(self.tick)
                commands = list(self._commands)
                self._commands.clear()
                playing, speed = self._playing, self._speed
            now = time.monotonic()
            elapsed, last = now - last, now
            if self._stop.is_set():
                return
            try:
                if commands:
                    self._seek(commands)
                elif playing:
                    self._advance(elapsed * speed)
            except RecordingError as exc:
                self._failed(str(exc))

    def _refresh_span(self) -> tuple[float, float]:
        span = self._rec.span()
        if span is not None:
            self._span = span
        return self._span

    def _seek(self, commands: list[tuple[str, float]]) -> None:
        rec = self._rec.recording
        start, end = self._refresh_span()
        seq, pos = self._seq, self._pos
        incremental = True  # only steps forward: the logs of the frames passed are added, not reloaded
        for what, value in commands:
            if what == "step":
                n = int(value)
                found = rec.neighbour(seq, n) if n else seq
                if found is None:  # past either end: the first or the last frame
                    found = rec.seq_at(end if n > 0 else start) or seq
                incremental = incremental and n >= 0
                seq, pos = found, self._time_of(found)
                with self._cond:
                    self._playing = False
            elif what in ("jump", "goto"):
                target = pos + value if what == "jump" else value
                target = max(start, min(end, target))
                seq = rec.seq_at(target) or rec.seq_at(start) or seq
                pos = target
                incremental = False
            elif what == "show":
                incremental = False
        self._deliver(seq, pos, reset=not incremental)

    def _first_seq(self) -> int:
        rows = self._rec.recording._query("SELECT MIN(seq) FROM frames")
        return int(rows[0][0] or 1)

    def _time_of(self, seq: int) -> float:
        rows = self._rec.recording._query("SELECT ts FROM frames WHERE seq = ?", (seq,))
        if not rows:
            raise RecordingError(f"{self.path}: frame {seq} is no longer in the recording")
        return float(rows[0][0])

    def _advance(self, recorded: float) -> None:
        start, end = self._refresh_span()
        target = min(end, max(start, self._pos + recorded))
        seq = self._rec.recording.seq_at(target)
        if seq is None:
            return
        if seq == self._seq:
            with self._cond:
                self._pos = target
                self._update_cursor()
            return
        self._deliver(seq, target, reset=seq < self._seq)

    def _deliver(self, seq: int, pos: float, *, reset: bool) -> None:
        """Show frame ``seq``: the log events since the frame shown before (or, after a jump, of the
        ``LOG_BEFORE`` seconds before it), then the frame."""
        rec = self._rec.recording
        ts = self._time_of(seq)
        if reset:
            first = rec.seq_at(ts - LOG_BEFORE) or self._first_seq()  # (near the start: from the first)
            low = rec.neighbour(seq, -LOG_FRAMES) or first
            since = max(first, low) - 1
        else:
            since = self._seq
        mail, web = self._events(since, seq)  # read first: the frame after them reuses the walk
        frame = self._rec._decode(rec.frame(seq)[1])
        if seq > since:
            mail.extend(frame.logs.mail)
            web.extend(frame.logs.web)
        with self._cond:
            self._seq, self._pos, self._last = seq, max(pos, ts), frame
            self._update_cursor()
        if self._on_logs is not None:
            status = f"recorded in {self.path}"
            self._on_logs(LogBatch("mail", str(self.path), tuple(mail), status, reset=reset))
            self._on_logs(LogBatch("web", str(self.path), tuple(web), status, reset=reset))
        if self._on_frame is not None:
            self._on_frame(frame)

    def _events(self, after: int, upto: int) -> tuple[list[MailEvent], list[WebEvent]]:
        """The log events of frames ``after < seq < upto``, in the order they came."""
        rec = self._rec.recording
        mail: list[MailEvent] = []
        web: list[WebEvent] = []
        rows = rec._query("SELECT seq FROM frames WHERE seq > ? AND seq < ? ORDER BY seq", (after, upto))
        for (s,) in rows[-LOG_FRAMES:]:
            try:
                logs = codec.logs_from_json(rec.frame(int(s))[1])
            except codec.CodecError as exc:
                raise RecordingError(f"{self.path}: {exc}") from None
            mail.extend(logs.mail)
            web.extend(logs.web)
        return mail, web

    def _failed(self, why: str) -> None:
        last = self._last
        with self._cond:
            self._playing = False
            self._update_cursor()
        if last is not None and self._on_frame is not None:
            self._on_frame(dataclasses.replace(last, error=why))
