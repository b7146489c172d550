"""Time travel on the screen: `mbtop replay` (the screen's source is a recording) and the live
screen's history (`[`/`]` scroll back and forth through the agent's recording). Both are the same
``RecordingSource``; actions are refused on either, with the reason.

A mixin of ``MbtopApp``. Replay keys are priority bindings (a table's own left/right would take
them first) that stand aside (``check_action``) where they do not apply: the live screen, a
modal, a focused input.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.widgets import Input

from mbtop.engine.playback import RecordingSource
from mbtop.engine.store import RecordingError
from mbtop.engine.types import Frame, LogBatch, MailEvent, WebEvent, Window, mail_tally, web_tally
from mbtop.engine.when import parse_time, when
from mbtop.ui import messages
from mbtop.ui.acting import ActingApp
from mbtop.ui.screens.detail import DetailScreen
from mbtop.ui.screens.goto import GotoScreen
from mbtop.ui.screens.main import MainScreen
from mbtop.ui.state import Timeline

HISTORY_STEP = 60.0  # seconds one `[` or `]` moves
PLAYER_KEYS = ("play", "step", "jump", "goto", "speed")
Logs = tuple[Window[MailEvent], Window[WebEvent], dict[str, str]]


class TravelApp(ActingApp):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("space", "play", "Play/pause", show=False, priority=True),
        Binding("left", "step(-1)", "Frame back", show=False, priority=True),
        Binding("right", "step(1)", "Frame on", show=False, priority=True),
        Binding("shift+left", "jump(-60)", "-1 min", show=False, priority=True),
        Binding("shift+right", "jump(60)", "+1 min", show=False, priority=True),
        Binding("g", "goto", "Go to", show=False),
        Binding("plus,equals_sign", "speed(1)", "Faster", show=False),
        Binding("minus", "speed(-1)", "Slower", show=False),
        Binding("left_square_bracket", "history(-1)", "Back in time", show=False),
        Binding("right_square_bracket", "history(1)", "On in time", show=False),
    ]

    history_path: Path | None
    past: RecordingSource | None  # the live screen scrolled back: the recording it shows
    _live_logs: Logs | None  # the live log windows, kept (and fed) while the screen shows the past
    _held: Frame | None
    paused: bool

    @property
    def player(self) -> RecordingSource | None:
        """The recording being shown: the replay's source, or the history's."""
        if isinstance(self.frames, RecordingSource):
            return self.frames
        return self.past

    @property
    def mode(self) -> str | None:
        """ "replay", "history", or None for the machine now."""
        return "replay" if isinstance(self.frames, RecordingSource) else "history" if self.past else None

    def timeline(self, frame: Frame) -> Timeline | None:
        player, mode = self.player, self.mode
        if player is None or mode is None:
            return None
        cur = player.cursor
        return Timeline(mode, frame.time, cur.start, max(cur.end, frame.time), cur.playing, cur.speed)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in PLAYER_KEYS:
            if not isinstance(self.screen, MainScreen | DetailScreen) or isinstance(self.focused, Input):
                return False  # a modal's keys, or typing
            if action in ("play", "goto", "speed"):
                return self.mode == "replay"
            return self.player is not None
        return True

    # --- the player's keys ---

    def action_play(self) -> None:
        if isinstance(self.frames, RecordingSource):
            self.frames.toggle()
            self._redraw_timeline()

    def action_step(self, frames: int) -> None:
        if self.player is not None:
            self.player.step(frames)

    def action_jump(self, seconds: float) -> None:
        if self.player is not None:
            self.player.jump(seconds)

    def action_speed(self, step: int) -> None:
        if isinstance(self.frames, RecordingSource):
            speed = self.frames.change_speed(step)
            self.notify(f"replay speed {speed:g}×", timeout=2)
            self._redraw_timeline()

    def action_goto(self) -> None:
        player = self.player
        if player is None:
            return
        cur = player.cursor
        span = f"the recording holds {when(cur.start)} to {when(cur.end)}"
        self.push_screen(GotoScreen(span), self._go_to)

    def _go_to(self, text: str | None) -> None:
        player = self.player
        if player is None or text is None or not text.strip():
            return
        cur = player.cursor
        try:
            ts = parse_time(text, now=cur.end)
        except ValueError as exc:
            self.notify(f"go to: {exc}", severity="error", timeout=6)
            return
        if not cur.start - 1 <= ts <= cur.end + 1:
            self.notify(
                f"go to: {when(ts)} is outside the recording (it holds {when(cur.start)} to {when(cur.end)})",
                severity="error",
                timeout=6,
            )
            return
        player.goto(ts)

    def _redraw_timeline(self) -> None:
        """The play state or speed changed: the bar says so now, not at the next frame."""
        frame = self.frame
        if frame is not None and self.view is not None:
            self.view = dataclasses.replace(self.view, timeline=self.timeline(frame))
            self._render_view()  # type: ignore[attr-defined]

    # --- history: the live screen scrolled back through the agent's recording ---

    def action_history(self, direction: int) -> None:
        if isinstance(self.frames, RecordingSource):
            self.frames.jump(direction * HISTORY_STEP)  # a replay: the same as shift+arrows
            return
        if self.past is None:
            if direction > 0:
                self.notify("history: this is now", timeout=2)
                return
            self._enter_history()
            return
        cur = self.past.cursor
        if direction > 0 and cur.at + HISTORY_STEP >= cur.end:
            self._leave_history()
            return
        self.past.jump(direction * HISTORY_STEP)

    def _enter_history(self) -> None:
        path = self.history_path
        if path is None:
            self.notify("history: no recording to read (the agent's `record` is off)", severity="warning", timeout=5)
            return
        start = (self.frame.time if self.frame is not None else time.time()) - HISTORY_STEP
        try:
            past = RecordingSource(path, at=start, playing=False, origin="history")
        except RecordingError as exc:
            self.notify(f"history: {exc}", severity="warning", timeout=8)
            return
        self.past = past
        self._held = self.frame  # the live frame shown now: back on `]` (newer ones replace it)
        self._live_logs = (self.mail_window, self.web_window, self.log_status)
        self.mail_window, self.web_window, self.log_status = Window(), Window(), {}
        past.start(self._past_frame, self._past_logs)

    def _past_frame(self, frame: Frame) -> None:
        """From the history's thread."""
        self.post_message(messages.FrameReady(frame, origin="history"))

    def _past_logs(self, batch: LogBatch) -> None:
        self.post_message(messages.LogBatch(batch, origin="history"))

    def _leave_history(self) -> None:
        past, self.past = self.past, None
        if past is not None:
            past.stop()
        if self._live_logs is not None:
            self.mail_window, self.web_window, self.log_status = self._live_logs
            self._live_logs = None
        held, self._held = self._held, None
        if held is not None:
            self._show(held)  # type: ignore[attr-defined]
        elif self.frame is not None:
            self._redraw_timeline()
        self.render_logs(force=True)

    def live_batch_while_away(self, batch: messages.LogBatch) -> None:
        """A live log batch while the screen shows the past: into the live windows kept aside."""
        if self._live_logs is None:
            return
        mail, web, status = self._live_logs
        now = time.monotonic()
        if batch.which == "mail":
            mail.add(batch.events, now, mail_tally)  # type: ignore[arg-type]
        else:
            web.add(batch.events, now, web_tally)  # type: ignore[arg-type]
        status[batch.path] = f"{batch.path}: {batch.status}"

    # --- actions: never on a recording ---

    def propose(self, kind: str, target: str) -> None:
        mode = self.mode
        if mode == "replay":
            self.notify(
                "replay: actions are disabled — the screen shows a recording, not this machine now",
                severity="warning",
                timeout=5,
            )
            return
        if mode == "history":
            self.notify(
                "history: actions are disabled while the screen shows the past — ] back to now first",
                severity="warning",
                timeout=5,
            )
            return
        super().propose(kind, target)
