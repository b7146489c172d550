"""``RecordingSource`` on real recordings (the real engine's frames, the real Store) and the time
bar's text: pure code and a real SQLite file, nothing faked."""

from __future__ import annotations

import time
from pathlib import Path

from mbtop.engine import codec
from mbtop.engine.frame import Frame
from mbtop.engine.playback import RecordingSource
from mbtop.engine.store import Store
from mbtop.ui.state import Timeline
from mbtop.ui.widgets.timebar import bar_text
from tests.support import recording


def wait(ok: object, timeout: float = 5.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if ok():  # type: ignore[operator]
            return True
        time.sleep(0.02)
    return False


def test_playing_at_the_end_follows_a_recording_still_being_written(tmp_path: Path) -> None:
    frames = recording.frames(12, start=time.time() - 10)
    path = tmp_path / "r" / "mbtop.db"
    store = Store(path, key_every=4)
    for f in frames[:10]:
        store.append(f.time, codec.to_json(f))
    got: list[Frame] = []
    source = RecordingSource(path, at=frames[9].time, playing=True, tick=0.05)
    try:
        source.start(got.append, lambda _b: None)
        assert wait(lambda: got and got[-1].time == frames[9].time)
        for f in frames[10:]:
            store.append(f.time, codec.to_json(f))  # the agent goes on writing
        assert wait(lambda: got[-1].time == frames[11].time, timeout=6), [f.time - frames[0].time for f in got]
    finally:
        source.stop()
        store.close()


def test_steps_past_either_end_stay_on_the_first_or_last_frame(tmp_path: Path) -> None:
    frames = recording.frames(6)
    path = recording.write(tmp_path / "r" / "mbtop.db", frames)
    got: list[Frame] = []
    source = RecordingSource(path, playing=False, tick=0.05)
    try:
        source.start(got.append, lambda _b: None)
        assert wait(lambda: len(got) == 1)
        source.step(-3)
        assert wait(lambda: len(got) == 2) and got[-1].time == frames[0].time
        source.step(100)
        assert wait(lambda: len(got) == 3) and got[-1].time == frames[-1].time
        source.jump(-2.0)
        assert wait(lambda: len(got) == 4) and got[-1].time == frames[-3].time
    finally:
        source.stop()


def test_the_time_bar_fits_its_width_and_puts_the_knob_where_the_time_is() -> None:
    start = recording.START
    for width in (78, 120, 158):
        for at in (start, start + 1800, start + 3600):
            tl = Timeline("replay", at, start, start + 3600, False, 10.0)
            text = bar_text(tl, width).plain
            assert len(text) <= width, (width, text)
            assert text.startswith("paused 10× 2026-11-28 ")
            bar = text[text.index("●") - text.count("━") : text.index("●") + text.count("─") + 1]
            frac = (at - start) / 3600
            assert abs(bar.index("●") / (len(bar) - 1) - frac) < 0.05, (width, at, text)
    narrow = bar_text(Timeline("history", start, start, start + 60, False, 1.0), 30, ascii_only=True).plain
    assert narrow.startswith("history [ ] 2026-11-28 00:10:00") and len(narrow) <= 40
