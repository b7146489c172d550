"""The Queue tab: counts with a trend, qshape's age table, deferred reasons, top senders, and the
gateway's vitals in two lines. Enter on a row lists its messages; H/L/D/E act on all of them."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Static

from mbtop.engine.types import Vitals
from mbtop.model.gateway import GatewayState
from mbtop.model.history import sparkline
from mbtop.model.queue import QueueState
from mbtop.model.vitals import days_left
from mbtop.ui.cells import Cell, duration, safe, style_for
from mbtop.ui.rows import Column
from mbtop.ui.widgets.livetable import LiveTable
from mbtop.ui.widgets.textbox import TextBox

SHAPE_ROWS = 30
QUEUE_TAB_CODES = frozenset(
    {
        "queue-over-threshold",
        "queue-deferred-old",
        "queue-hold",
        "queue-corrupt",
        "disk-low",
        "inodes-low",
        "certificate-file-expiring",
        "certificate-file-expired",
        "clock-unsynchronized",
    }
)


def shape_columns(heads: tuple[str, ...]) -> tuple[Column, ...]:
    cols = [Column("domain", "Deferred to", None, 0)]  # takes what the buckets leave
    for i, h in enumerate(heads):
        cols.append(Column(f"b{i}", h, max(4, len(h) + 1), 0 if i < 4 else i))
    return tuple(cols)


HEADS = ("T", "5", "10", "20", "40", "80", "160", "320", "640", "1280", "1280+")
SHAPE = shape_columns(HEADS)
REASONS = (Column("count", "Msgs", 6, 0), Column("reason", "Deferred reason", None, 0))
SENDERS = (Column("count", "Msgs", 6, 0), Column("sender", "Top sender", None, 0))


def shape_rows(state: QueueState | None) -> dict[str, dict[str, Cell]]:
    if state is None or not state.available:
        return {}
    out: dict[str, dict[str, Cell]] = {}
    for domain, counts in state.shape(["deferred"]).rows[: SHAPE_ROWS + 1]:
        key = "qtotal:" if domain == "TOTAL" else f"qdomain:{domain}"
        row: dict[str, Cell] = {"domain": (safe(domain), "bold" if domain == "TOTAL" else "")}
        for i, n in enumerate(counts):
            row[f"b{i}"] = (str(n), ("warning" if i >= 6 else "") if n else "dim")
        out[key] = row
    return out


def count_rows(items: tuple[tuple[str, int], ...], prefix: str, column: str) -> dict[str, dict[str, Cell]]:
    return {f"{prefix}{name}": {"count": (str(n), ""), column: (safe(name), "")} for name, n in items}


def _size(n: int) -> str:
    for unit in ("B", "K", "M", "G"):
        if n < 1024 or unit == "G":
            return f"{n}{unit}" if unit == "B" else f"{n:.0f}{unit}"
        n //= 1024
    return f"{n}G"


def summary(state: GatewayState | None, threshold: int, ascii_only: bool, theme: object) -> Text:
    t = Text(no_wrap=True, overflow="ellipsis")
    q = state.queue if state else None
    if q is None:
        t.append("Queue: not read yet", style="dim")
    elif not q.available:
        t.append("Queue: unknown — " + safe(q.reason or ""), style=style_for("warning", theme))  # type: ignore[arg-type]
    else:
        over = q.total > threshold
        role = "critical" if over else "ok"
        t.append(f"Queue {q.total}", style=style_for(role, theme) + " bold")  # type: ignore[arg-type]
        t.append(f"  (threshold {threshold})  ", style="dim")
        if state is not None and state.trend:
            t.append(sparkline(state.trend, 24, ascii_only), style=style_for("accent", theme))  # type: ignore[arg-type]
        ages, sizes = dict(q.oldest_seconds), dict(q.bytes)
        t.append("\n")
        for name, n in q.counts:
            if name == "maildrop" and not n:
                continue
            bad = n and name in ("hold", "corrupt")
            t.append(f"{name} ", style="dim")
            t.append(str(n), style=style_for("warning", theme) if bad else "bold")  # type: ignore[arg-type]
            if n:
                t.append(f" ({_size(sizes.get(name, 0))}, oldest {duration(ages.get(name))})", style="dim")
            t.append("  ")
    t.append("\n")
    t.append_text(vitals_text(state.vitals if state else None, theme))
    return t


def vitals_text(v: Vitals | None, theme: object) -> Text:
    t = Text(no_wrap=True, overflow="ellipsis")
    if v is None:
        t.append("Vitals: not read yet", style="dim")
        return t
    warn = style_for("warning", theme)  # type: ignore[arg-type]
    for fs in v.filesystems:
        low = fs.free_ratio < 0.2
        t.append(f"{safe(fs.mount)} ", style="dim")
        t.append(f"{fs.free_ratio * 100:.0f}% free", style=warn if low else "")
        t.append(f" ({','.join(fs.roles)})  ", style="dim")
    mem = dict(v.memory)
    t.append(f"mem {mem.get('used_ratio', 0) * 100:.0f}%  load {v.load[0]:.2f}/{v.cpus}  ", style="")
    t.append("\n")
    clock = {True: "synchronised", False: "NOT synchronised", None: "unknown"}[v.clock_synchronized]
    t.append("clock ", style="dim")
    t.append(clock, style=warn if v.clock_synchronized is False else "")
    for c in v.certificates:
        left = days_left(c, v.taken_at)
        name = safe(c.path.rsplit("/", 1)[-1])
        t.append(f"  cert {name} ", style="dim")
        t.append(
            f"{left} d" if left is not None else safe(c.error or "?"), style=warn if left is None or left <= 30 else ""
        )
    if v.mailborder_logs:
        errors = sum(e.errors for e in v.mailborder_logs)
        t.append(f"  mailborder logs: {errors} error line(s)", style=warn if errors else "dim")
    return t


class QueuePane(Vertical):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("H", "queue('hold')", "Hold", show=False),
        Binding("L", "queue('release')", "Release", show=False),
        Binding("D", "queue('delete')", "Delete", show=False),
        Binding("E", "queue('requeue')", "Requeue", show=False),
        Binding("f", "queue('flush')", "Flush", show=False),
    ]
    DEFAULT_CSS = """
    QueuePane #queue-summary { height: auto; max-height: 5; padding: 0 1; text-wrap: nowrap; text-overflow: ellipsis; }
    QueuePane .label { height: 1; padding: 0 1; background: $panel; color: $text-muted; }
    QueuePane #queue-shape { height: 2fr; }
    QueuePane #queue-lists { height: 1fr; }
    QueuePane #queue-reasons { width: 3fr; }
    QueuePane #queue-senders { width: 2fr; }
    """

    def compose(self) -> ComposeResult:
        yield TextBox(id="queue-summary")
        yield Static("Age of deferred mail per domain, minutes (qshape) — enter: the messages", classes="label")
        yield LiveTable(SHAPE, min_flex=16, id="queue-shape")
        with Horizontal(id="queue-lists"):
            yield LiveTable(REASONS, min_flex=20, id="queue-reasons")
            yield LiveTable(SENDERS, min_flex=16, id="queue-senders")

    def show(self, state: GatewayState | None, threshold: int, ascii_only: bool) -> None:
        theme = self.app.current_theme
        self.query_one("#queue-summary", TextBox).put(summary(state, threshold, ascii_only, theme))
        q = state.queue if state else None
        self.query_one("#queue-shape", LiveTable).set_rows(shape_rows(q))
        reasons = q.deferred_reasons if q and q.available else ()
        senders = q.top_senders if q and q.available else ()
        self.query_one("#queue-reasons", LiveTable).set_rows(count_rows(reasons, "qreason:", "reason"))
        self.query_one("#queue-senders", LiveTable).set_rows(count_rows(senders, "qsender:", "sender"))

    def selected(self) -> str | None:
        focused = self.screen.focused
        if isinstance(focused, LiveTable) and focused in self.query(LiveTable):
            return focused.selected_key
        return self.query_one("#queue-shape", LiveTable).selected_key

    def action_queue(self, action: str) -> None:
        key = self.selected() or ""
        target = key_target(key)
        if action == "flush":
            target = "all"
        if target is None:
            self.notify(f"{action}: choose a domain, reason or sender row", timeout=3, markup=False)
            return
        propose = getattr(self.app, "propose", None)
        if propose is not None:
            propose(f"queue-{action}", target)


def key_target(key: str) -> str | None:
    """A row key (qdomain:x, qreason:x, qsender:x, qid:x) as an action's target (domain:x, ...)."""
    kind, _, value = key.partition(":")
    by = {"qdomain": "domain", "qreason": "reason", "qsender": "sender", "qid": "id", "qtotal": "queue"}.get(kind)
    if by is None:
        return None
    return "queue:deferred" if by == "queue" else f"{by}:{value}"
