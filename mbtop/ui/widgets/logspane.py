"""The Logs tab: the mail log and the web logs, live, with counters, a kind filter and queue-id traces."""

from __future__ import annotations

from collections import Counter

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical

from mbtop.engine.types import MailEvent, WebEvent, Window
from mbtop.ui.cells import Cell, safe, style_for
from mbtop.ui.rows import Column
from mbtop.ui.widgets.livetable import LiveTable
from mbtop.ui.widgets.textbox import TextBox

SHOWN = 300  # rows per table; the counters cover everything
MAIL_COLUMNS = (
    Column("time", "Time", 8, 2),
    Column("kind", "Event", 15, 0),
    Column("client", "Client", 16, 1),
    Column("qid", "Queue id", 11, 3),
    Column("message", "Line", None, 0),
)
WEB_COLUMNS = (
    Column("time", "Time", 8, 2),
    Column("status", "Status", 6, 0),
    Column("client", "Client", 16, 1),
    Column("request", "Request", None, 0),
    Column("agent", "User agent", 24, 4),
)
OWN = "own"  # the filter that shows mbtop's own health-check lines (hidden otherwise)
KIND_FILTERS = (
    None,
    "reject",
    "sasl_fail",
    "delivery",
    "connect",
    "postscreen",
    "rate_limit",
    "pipelining",
    "non_smtp",
    "warning",
    OWN,
)
# Postfix's own severities (msg_syslog.c: warning < error < fatal < panic) and what they mean for mail.
CRITICAL_KINDS = frozenset(
    {"reject", "milter_reject", "sasl_fail", "error", "fatal", "panic", "too_many_errors", "rate_limit"}
)
WARNING_KINDS = frozenset(
    {"warning", "lost_connection", "timeout", "pipelining", "non_smtp", "tls_error", "reject_warning", "connect_error"}
)


def _time(ts: str | None) -> str:
    if not ts or "T" not in ts:
        return "-"
    return ts.split("T", 1)[1][:8]


def mail_role(ev: MailEvent) -> str:
    if ev.kind in CRITICAL_KINDS:
        return "critical"
    if ev.kind in WARNING_KINDS:
        return "warning"
    if ev.kind == "delivery":
        status = ev.fields.get("status")
        return {"sent": "ok", "deferred": "warning"}.get(status or "", "critical")
    return ""


def mail_rows(events: list[MailEvent], kind: str | None) -> dict[str, dict[str, Cell]]:
    out: dict[str, dict[str, Cell]] = {}
    for ev in events:
        if (kind == OWN) != ev.own:  # mbtop's own checks: only, and only, under their filter
            continue
        if kind and kind != OWN and not (ev.kind == kind or (kind == "reject" and ev.kind == "milter_reject")):
            continue
        label = ev.kind + (f" {ev.fields['status']}" if ev.kind == "delivery" and "status" in ev.fields else "")
        if ev.own:
            label += " (mbtop)"
        out[f"m{ev.line_no}"] = {
            "time": (_time(ev.timestamp), "dim"),
            "kind": (label, "dim" if ev.own else mail_role(ev)),
            "client": (ev.client_ip or "", ""),
            "qid": (ev.queue_id or "", "dim"),
            "message": (safe(ev.message), ""),
        }
    return out


def web_rows(events: list[WebEvent], own: bool = False) -> dict[str, dict[str, Cell]]:
    out: dict[str, dict[str, Cell]] = {}
    for ev in events:
        if ev.own != own:  # mbtop's own health checks, under the "own" filter only
            continue
        if ev.kind == "access":
            status = str(ev.status)
            role = "critical" if (ev.status or 0) >= 500 else "warning" if (ev.status or 0) >= 400 else ""
            request = f"{ev.method} {ev.path}" if ev.method else ev.fields.get("request", "")
        else:
            status, role = ev.fields.get("level", ev.kind), "critical" if ev.kind == "error" else ""
            request = ev.message
        out[f"w{ev.line_no}-{ev.kind}"] = {
            "time": (_time(ev.timestamp), "dim"),
            "status": (status, role),
            "client": (ev.client_ip or "", ""),
            "request": (safe(request), ""),
            "agent": (safe(ev.user_agent or ""), "dim"),
        }
    return out


def _tail(table: LiveTable, rows: dict[str, dict[str, Cell]]) -> None:
    """Like tail -f: stay on the newest line, unless the cursor was moved up to read."""
    at_end = table.row_count == 0 or table.cursor_row >= table.row_count - 1
    table.set_rows(rows)
    if at_end and table.row_count:
        table.move_cursor(row=table.row_count - 1, animate=False)


class LogsPane(Vertical):
    DEFAULT_CSS = """
    LogsPane .counters { height: 1; padding: 0 1; background: $panel; }
    LogsPane #mail-table { height: 2fr; }
    LogsPane #web-table { height: 1fr; }
    LogsPane #log-status { height: auto; max-height: 2; padding: 0 1; color: $text-muted; }
    """

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.kind_filter: str | None = None

    def compose(self) -> ComposeResult:
        yield TextBox(fixed=True, id="mail-counters", classes="counters")
        yield LiveTable(MAIL_COLUMNS, id="mail-table")
        yield TextBox(fixed=True, id="web-counters", classes="counters")
        yield LiveTable(WEB_COLUMNS, id="web-table")
        yield TextBox(id="log-status")

    def cycle_kind(self) -> str | None:
        i = KIND_FILTERS.index(self.kind_filter) if self.kind_filter in KIND_FILTERS else 0
        self.kind_filter = KIND_FILTERS[(i + 1) % len(KIND_FILTERS)]
        return self.kind_filter

    def show(self, mail: Window[MailEvent], web: Window[WebEvent], now: float, status: list[str]) -> None:
        theme = self.app.current_theme
        m = mail.last_minute(now)
        t = Text(no_wrap=True, overflow="ellipsis")
        t.append("mail/min ", style="bold")
        for key, label, role in (
            ("connect", "connect", ""),
            ("reject", "reject", "critical"),
            ("auth_fail", "auth-fail", "critical"),
            ("sent", "sent", "ok"),
            ("deferred", "deferred", "warning"),
            ("bounced", "bounced", "critical"),
            ("rate_limit", "rate-limit", "critical"),
            ("pipelining", "pipelining", "warning"),
            ("non_smtp", "non-smtp", "warning"),
        ):
            n = m.get(key, 0)
            t.append(f"{label} ", style="dim")
            t.append(f"{n}  ", style=style_for(role, theme) if n and role else "")
        t.append(f"filter: {self.kind_filter or 'all'} (k)", style="dim")
        self.query_one("#mail-counters", TextBox).put(t)
        w = web.last_minute(now)
        req = sum(w.get(k, 0) for k in ("2xx", "3xx", "4xx", "5xx", "1xx"))
        t = Text(no_wrap=True, overflow="ellipsis")
        t.append("web ", style="bold")
        t.append(f"{req / 60:.1f} req/s  ")
        for cls in ("2xx", "3xx", "4xx", "5xx"):
            n = w.get(cls, 0)
            role = {"4xx": "warning", "5xx": "critical"}.get(cls, "")
            t.append(f"{cls} ", style="dim")
            t.append(f"{n}  ", style=style_for(role, theme) if n and role else "")
        t.append("errors ", style="dim")
        t.append(f"{w.get('error', 0)}  ", style=style_for("critical", theme) if w.get("error") else "")
        top = web.clients.most_common(1)
        if top:
            t.append(f"top client {safe(top[0][0])} ×{top[0][1]}  ", style="dim")
        paths = Counter(e.path.split("?", 1)[0] for e in web.events if e.path and not e.own)
        if paths:
            path, n = paths.most_common(1)[0]
            t.append(f"top path {safe(path)} ×{n}  ", style="dim")
        if web.own or mail.own:
            t.append(f"mbtop's own checks {web.own + mail.own} (filter: {OWN})", style="dim")
        self.query_one("#web-counters", TextBox).put(t)
        mail_events = list(mail.events)[-SHOWN:]
        _tail(self.query_one("#mail-table", LiveTable), mail_rows(mail_events, self.kind_filter))
        _tail(self.query_one("#web-table", LiveTable), web_rows(list(web.events)[-SHOWN:], self.kind_filter == OWN))
        self.query_one("#log-status", TextBox).put(Text("  ·  ".join(safe(s) for s in status), no_wrap=True))

    def restyle(self) -> None:
        for table in self.query(LiveTable):
            table.restyle()
