"""Turning model values into table cells: plain strings with a style role (hashable, diffable)."""

from __future__ import annotations

import time

from rich.text import Text
from textual.color import Color, ColorParseError
from textual.theme import Theme

from mbtop.model.types import SEVERITY_RANK
from mbtop.text import clean
from mbtop.ui.state import View

Cell = tuple[str, str]  # (text, role); role "" means the default style

MARK = {"ok": "OK", "warning": "WARN", "critical": "CRIT", "unknown": "UNKN"}


def colour(value: str | None, fallback: str = "default") -> str:
    """A theme colour as Rich understands it: ANSI themes say "ansi_bright_red", Rich wants color(9)."""
    if not value:
        return fallback
    try:
        c = Color.parse(value)
    except ColorParseError:  # a theme file may hold anything; never crash on it
        return fallback
    if c.ansi is not None:
        return "default" if c.ansi < 0 else f"color({c.ansi})"
    return c.hex6


def roles(theme: Theme) -> dict[str, str]:
    return {
        "primary": colour(theme.primary),
        "secondary": colour(theme.secondary),
        "accent": colour(theme.accent),
        "success": colour(theme.success),
        "warning": colour(theme.warning),
        "error": colour(theme.error),
    }


def style_for(role: str, theme: Theme) -> str:
    c = roles(theme)
    if role == "critical":
        return f"bold {c['error']}"
    if role == "warning":
        return f"bold {c['warning']}"
    if role == "ok":
        return c["success"]
    if role == "unknown":
        return c["secondary"]
    if role == "dim":
        return "dim"
    if role == "accent":
        return c["accent"]
    if role == "primary":
        return f"bold {c['primary']}"
    return ""


def render(cell: Cell, theme: Theme) -> Text:
    """A Text built from plain text: outside strings are never parsed as markup."""
    text, role = cell
    return Text(text, style=style_for(role, theme), no_wrap=True, overflow="ellipsis")


def safe(value: object) -> str:
    return clean(str(value))


def duration(seconds: float | None) -> str:
    if seconds is None or seconds < 0:
        return "?"
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{(s % 3600) // 60:02d}m"
    return f"{s // 86400}d{(s % 86400) // 3600}h"


def clock(ts: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(ts))


def findings_text(view: View, theme: Theme) -> Text:
    """Every finding, worst first, with its fix: the overview's bottom panel on tall terminals."""
    t = Text()
    findings = sorted(view.snapshot.findings, key=lambda f: -SEVERITY_RANK[f.severity])
    if not findings:
        t.append(
            "No findings: every documented port and socket is as the reference says.", style=style_for("ok", theme)
        )
    for f in findings:
        where = str(f.port) if f.port is not None else (f.path or "host")
        t.append(f"{MARK[f.severity]:<5}", style=style_for(f.severity, theme))
        t.append(f"{safe(where)}  ", style="bold")
        t.append(safe(f.message))
        t.append("  → ", style="dim")
        t.append(safe(f.fix) + "\n", style="dim")
    for note in view.snapshot.notes:
        t.append(f"note: {safe(note)}\n", style="dim")
    return t


def firewall_summary(view: View, theme: Theme) -> Text:
    """The firewall tab's head: which backend is in force, its policies, what could not be read."""
    state = view.snapshot.firewall
    t = Text(no_wrap=True, overflow="ellipsis")
    if state is None:
        t.append("firewall not read (--no-firewall, or a recording without it)", style="dim")
        return t
    if state.backend == "unknown":
        t.append("firewall unknown: ", style="bold")
        t.append(safe(state.reason))
        return t
    t.append(f"firewall: {state.backend}", style="bold")
    if not state.active:
        t.append("  no filtering rules: every port bound to a network address is reachable")
    else:
        t.append(f"  ·  {state.rules} rules")
        if state.established is not None:
            t.append(f"  ·  established/related accepted: {'yes' if state.established else 'no'}")
        if state.policies:
            t.append("\n" + safe("  ·  ".join(state.policies)), style="dim")
    if state.reason:
        t.append("\n" + safe(state.reason), style=style_for("warning", theme))
    if state.notes:
        more = f" (+{len(state.notes) - 1} more)" if len(state.notes) > 1 else ""
        t.append("\nnot evaluated: " + safe(state.notes[0]) + more, style="dim")
    return t
