"""The one-line header: host, uptime, privileges, last refresh, finding counts, alerts."""

from __future__ import annotations

from rich.text import Text

from mbtop.ui.cells import clock, duration, roles, safe
from mbtop.ui.state import View
from mbtop.ui.widgets.textbox import TextBox


class StatusHeader(TextBox):
    """One line of fixed size: a new text never needs a layout of the screen."""

    DEFAULT_CSS = """
    StatusHeader { height: 1; background: $panel; color: $foreground; padding: 0 1; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(fixed=True, id=id)

    def show(self, view: View | None, interval: float) -> None:
        c = roles(self.app.current_theme)
        t = Text(no_wrap=True, overflow="ellipsis")
        t.append("mbtop ", style=f"bold {c['primary']}")
        if view is None:
            t.append("sampling…", style="dim")
            self.put(t)
            return
        snap = view.snapshot
        t.append(safe(snap.host), style="bold")
        if view.sample.uptime is not None:
            t.append(f"  up {duration(view.sample.uptime)}", style="dim")
        t.append("  ")
        t.append("root" if snap.root else "not root", style="" if snap.root else f"bold {c['warning']}")
        crit, warn = snap.count("critical"), snap.count("warning")
        t.append("  ")
        t.append(f"{crit} critical", style=f"bold {c['error']}" if crit else "dim")
        t.append(" ")
        t.append(f"{warn} warning", style=f"bold {c['warning']}" if warn else "dim")
        if view.timeline is not None:
            # A recording: its time, never the clock's, and what it is (the time bar has the rest).
            t.append("  ")
            t.append(f" {view.timeline.mode} {clock(snap.taken_at)} ", style=f"bold reverse {c['accent']}")
        else:
            t.append(f"   {clock(snap.taken_at)}", style="dim")
            t.append(f" /{interval:g}s", style="dim")
        every = view.sample.connections_every
        if every > interval * 1.5:
            # Tens of thousands of connections: the table is read less often than the rest (a
            # budget of CPU); say so, the counts are that old at most.
            t.append(f", connections /{every:.0f}s", style=f"bold {c['warning']}")
        if view.via:
            lost = view.via.startswith("own engine")  # the agent went away: this process samples now
            t.append(f"  {view.via}", style=f"bold {c['warning']}" if lost else f"bold {c['primary']}")
        if view.paused:
            t.append("  PAUSED", style=f"bold reverse {c['warning']}")
        if view.flood is not None and view.flood.alert:
            t.append(f"  FLOOD {'/'.join(str(p) for p in view.flood.ports)}: ", style=f"bold reverse {c['error']}")
            t.append(f" {safe(view.flood.reasons[0])}", style=f"bold {c['error']}")
        if view.error:
            t.append(f"  sampling failed: {safe(view.error)}", style=f"bold {c['error']}")
        self.put(t)
