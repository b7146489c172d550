"""The time bar of a recorded screen: play state, speed, the shown time and where it stands in
the recording's span. One line; hidden while the screen shows the machine now."""

from __future__ import annotations

import time

from rich.text import Text

from mbtop.ui.cells import roles
from mbtop.ui.state import Timeline
from mbtop.ui.widgets.textbox import TextBox


def _stamp(ts: float, same_day_as: float) -> str:
    """``03:10:05``, or ``11-27 03:10`` for a time on another day than the shown one."""
    here, there = time.localtime(ts), time.localtime(same_day_as)
    if here[:3] == there[:3]:
        return time.strftime("%H:%M:%S", here)
    return time.strftime("%m-%d %H:%M", here)


def bar_text(tl: Timeline, width: int, ascii_only: bool = False, colours: dict[str, str] | None = None) -> Text:
    """``▶ 10×  2026-11-27 03:10:05  03:00:00 ━━━━━●────── 04:00:00`` in ``width`` cells."""
    c = colours or {"accent": "", "warning": "", "primary": ""}
    t = Text(no_wrap=True, overflow="ellipsis")
    if tl.mode == "history":
        t.append("history ", style=f"bold {c['accent']}")
        t.append("[ ] ", style="dim")
    else:
        # "paused" in words: a pause glyph (U+23F8) is missing from many terminal fonts
        play = (">" if ascii_only else "▶") if tl.playing else "paused"
        t.append(f"{play} ", style=f"bold {c['accent']}" if tl.playing else f"bold {c['warning']}")
        t.append(f"{tl.speed:g}{'x' if ascii_only else '×'} ", style="bold")
    t.append(time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(tl.at)), style="bold")
    left, right = f"  {_stamp(tl.start, tl.at)} ", f" {_stamp(tl.end, tl.at)}"
    room = width - len(t.plain) - len(left) - len(right)
    if room < 8:  # too narrow for a bar: the time alone says enough
        return t
    span = tl.end - tl.start
    frac = 0.0 if span <= 0 else min(1.0, max(0.0, (tl.at - tl.start) / span))
    mark = min(room - 1, round(frac * (room - 1)))
    done, todo, knob = ("=", "-", "o") if ascii_only else ("━", "─", "●")
    t.append(left, style="dim")
    t.append(done * mark, style=c["primary"])
    t.append(knob, style=f"bold {c['accent']}")
    t.append(todo * (room - 1 - mark), style="dim")
    t.append(right, style="dim")
    return t


class TimeBar(TextBox):
    DEFAULT_CSS = """
    TimeBar { height: 1; background: $panel; color: $foreground; padding: 0 1; display: none; }
    TimeBar.-shown { display: block; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(fixed=True, id=id)

    def show(self, timeline: Timeline | None, ascii_only: bool = False) -> None:
        self.set_class(timeline is not None, "-shown")
        if timeline is None:
            return
        width = max(20, (self.size.width or self.app.size.width) - 2)
        self.put(bar_text(timeline, width, ascii_only, roles(self.app.current_theme)))
