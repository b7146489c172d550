"""The Flood tab: connection rates on the mail ports, top talkers and prefixes, and why an alert fired."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from mbtop.engine.types import Fail2ban
from mbtop.model.flood import FloodState, TopSource
from mbtop.model.history import sparkline
from mbtop.ui.cells import Cell, duration, safe, style_for
from mbtop.ui.rows import Column
from mbtop.ui.widgets.livetable import LiveTable
from mbtop.ui.widgets.textbox import TextBox

TALKERS = (
    Column("address", "Source", 24, 0),
    Column("concurrent", "Open", 5, 0),
    Column("per_min", "New/min", 8, 0),
    Column("per_30s", "New/30s", 8, 2),
    Column("rejects", "Rejects", 8, 1),
    Column("auth", "Auth fail", 9, 1),
    Column("limits", "Rate limit", 10, 1),
    Column("pipelining", "Pipelining", 10, 1),
    Column("non_smtp", "Non-SMTP", 8, 1),
    Column("postscreen", "Postscreen", None, 3),
    Column("seen", "Seen for", 9, 2),
)


def talker_rows(
    sources: tuple[TopSource, ...], now: float, limit_30s: float, prefix: str
) -> dict[str, dict[str, Cell]]:
    out: dict[str, dict[str, Cell]] = {}
    for s in sources:
        hot = s.new_per_30s > limit_30s
        out[f"{prefix}{s.address}"] = {
            "address": (safe(s.address), "critical" if hot else ""),
            "concurrent": (str(s.concurrent), ""),
            "per_min": (f"{s.new_per_min:.0f}", "critical" if hot else ""),
            "per_30s": (str(s.new_per_30s), "critical" if hot else "dim"),
            "rejects": (str(s.rejects), "warning" if s.rejects else "dim"),
            "auth": (str(s.auth_failures), "critical" if s.auth_failures else "dim"),
            "limits": (str(s.rate_limits), "critical" if s.rate_limits else "dim"),
            "pipelining": (str(s.pipelining), "warning" if s.pipelining else "dim"),
            "non_smtp": (str(s.non_smtp), "warning" if s.non_smtp else "dim"),
            "postscreen": (" ".join(f"{k}×{n}" for k, n in s.postscreen), "dim"),
            "seen": (duration(now - s.first_seen), "dim"),
        }
    return out


def _fail2ban_text(f: Fail2ban) -> str:
    if not f.running:
        return f"fail2ban: {safe(f.error or 'not running')}"
    if not f.jails:
        return "fail2ban: running, no postfix jail"
    parts = []
    for j in f.jails:
        shown = ", ".join(safe(a) for a in j.banned[:5]) + (" …" if len(j.banned) > 5 else "")
        parts.append(f"jail {safe(j.name)}: {j.currently_banned} banned" + (f" ({shown})" if shown else ""))
    return "fail2ban: " + "; ".join(parts)


class FloodPane(Vertical):
    DEFAULT_CSS = """
    FloodPane #flood-summary { height: auto; max-height: 7; padding: 0 1; text-wrap: nowrap; text-overflow: ellipsis; }
    FloodPane .label { height: 1; padding: 0 1; background: $panel; color: $text-muted; }
    FloodPane #talkers { height: 2fr; }
    FloodPane #prefixes { height: 1fr; }
    """

    def compose(self) -> ComposeResult:
        yield TextBox(id="flood-summary")
        yield Static("Top talkers (enter: their log lines)", classes="label")
        yield LiveTable(TALKERS, id="talkers")
        yield Static("Top networks (/24, /64)", classes="label")
        yield LiveTable(TALKERS, id="prefixes")

    def show(
        self, state: FloodState | None, now: float, ascii_only: bool, limit_30s: float, f2b: Fail2ban | None = None
    ) -> None:
        theme = self.app.current_theme
        t = Text(no_wrap=True, overflow="ellipsis")
        if state is None:
            t.append("sampling…", style="dim")
            self.query_one("#flood-summary", TextBox).put(t)
            return
        t.append(f"ports {'/'.join(str(p) for p in state.ports)}  ", style="bold")
        t.append(f"new/s {state.new_per_s:.1f}  ")
        t.append(f"10 s avg {state.new_per_10s:.1f}/s  ")
        t.append(f"last minute {state.new_per_min:.0f}  ")
        t.append(f"open {state.concurrent}  ")
        t.append(f"SYN_RECV {state.syn_recv}  ", style=style_for("warning", theme) if state.syn_recv else "")
        backlog = f"{state.queue}/{state.backlog}" if state.backlog else str(state.queue)
        t.append(f"accept queue {backlog}\n")
        width = max(10, (self.size.width or 80) - 24)
        t.append("new/s ", style="dim")
        t.append(sparkline(state.history, width, ascii_only), style=style_for("accent", theme))
        t.append(f"  max {max(state.history, default=0):.0f}\n", style="dim")
        kernel = "  ".join(f"{k} +{v}" for k, v in state.kernel.items() if v) or "no drops"
        t.append(f"kernel: {kernel}   sources tracked {state.sources_tracked}\n", style="dim")
        if f2b is not None:
            t.append(_fail2ban_text(f2b) + "\n", style="dim")
        if state.alert:
            t.append("FLOOD: ", style=style_for("critical", theme))
            t.append("; ".join(safe(r) for r in state.reasons), style=style_for("critical", theme))
        else:
            t.append("no flood: every rate is under its threshold", style=style_for("ok", theme))
        th = state.thresholds
        t.append(
            f"\nthresholds ({safe(th.origin)}): {th.total_per_minute:g}/min total, "
            f"{th.source_per_30s:g} per source in 30 s, {th.concurrent} open",
            style="dim",
        )
        self.query_one("#flood-summary", TextBox).put(t)
        self.query_one("#talkers", LiveTable).set_rows(talker_rows(state.top_sources, now, limit_30s, "src:"))
        self.query_one("#prefixes", LiveTable).set_rows(talker_rows(state.top_prefixes, now, limit_30s * 4, "net:"))

    def restyle(self) -> None:
        for table in self.query(LiveTable):
            table.restyle()
