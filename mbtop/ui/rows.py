"""Rows of the overview, sockets and findings tables, from a View. Pure: no widgets, no system."""

from __future__ import annotations

from dataclasses import dataclass

from mbtop.engine.types import Health
from mbtop.model.build import is_loopback
from mbtop.model.history import sparkline
from mbtop.model.types import SEVERITY_RANK, PortStatus, SocketStatus
from mbtop.ui.cells import MARK, Cell, duration, safe
from mbtop.ui.state import View


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    label: str
    width: int | None  # None: takes what is left
    priority: int  # 0 is always shown; higher numbers are dropped first on narrow terminals


OVERVIEW = (
    Column("status", "", 4, 0),
    Column("what", "Port", 12, 0),
    Column("service", "Service", 10, 4),
    Column("process", "Process", 13, 2),
    Column("conns", "Conn/Est", 8, 1),
    Column("bind", "Bind", 15, 4),
    Column("rate", "New/s", 6, 5),
    Column("trend", "Trend", 12, 6),
    Column("top", "Top remote", 17, 7),
    Column("fw", "FW", 6, 5),
    Column("health", "Health", 8, 3),
    Column("reason", "Reason", None, 0),
)
SOCKETS = (
    Column("status", "", 4, 0),
    Column("path", "Path", None, 0),
    Column("service", "Service", 9, 5),
    Column("ownergroup", "Owner:group", 21, 1),
    Column("mode", "Mode", 4, 1),
    Column("expect", "Expected", 24, 4),
    Column("accepting", "Accept", 6, 3),
    Column("clients", "Clients", 7, 3),
    Column("weberr", "nginx err", 9, 3),
    Column("reason", "Reason", 36, 2),
)
FIREWALL = (
    Column("status", "", 4, 0),
    Column("what", "Port", 12, 0),
    Column("service", "Service", 10, 4),
    Column("expect", "Expected", 10, 2),
    Column("verdict", "Verdict", 10, 0),
    Column("who", "Who gets in", 26, 1),
    Column("rule", "Deciding rule", None, 0),
)
SERVICES = (
    Column("status", "", 4, 0),
    Column("name", "Service", 11, 0),
    Column("state", "State", 8, 0),
    Column("pid", "PID", 8, 2),
    Column("up", "Up", 9, 3),
    Column("manager", "From", 9, 4),
    Column("serves", "Ports and sockets", None, 1),
    Column("health", "Answers", 22, 1),
)
FINDINGS = (
    Column("status", "", 4, 0),
    Column("where", "Where", 14, 0),
    Column("code", "Code", 20, 2),
    Column("message", "Finding", None, 0),
    Column("fix", "Fix", 40, 3),
)
MIN_FLEX = 24
SOCKET_PATH_WIDTH = 32  # /var/run/mailborder/mb-rpcd.sock
PADDING = 2  # DataTable's cell padding, both sides


def fit(columns: tuple[Column, ...], width: int, min_flex: int = MIN_FLEX) -> tuple[tuple[Column, ...], int]:
    """The columns that fit in ``width``, dropping the highest priorities first; and the flex width."""
    chosen = list(columns)
    while True:
        fixed = sum((c.width or 0) + PADDING for c in chosen) + PADDING
        flex = width - fixed - 2  # scrollbar
        if flex >= min_flex or all(c.priority == 0 for c in chosen):
            return tuple(chosen), max(min_flex, flex)
        drop = max((c for c in chosen if c.priority > 0), key=lambda c: (c.priority, chosen.index(c)))
        chosen.remove(drop)


def _status(sev: str) -> Cell:
    return (MARK[sev], sev)


def _process(p: PortStatus | SocketStatus) -> str:
    names: list[str] = []
    for lst in sorted(p.listeners, key=lambda lst: (not lst.main, lst.pid or 0)):
        if lst.process is None:
            return "? (root)" if not names else "/".join(names)
        if lst.process not in names:
            names.append(safe(lst.process))
    return "/".join(names) or "-"


def _holder(p: PortStatus | SocketStatus) -> str:
    foreign = [lst for lst in p.listeners if lst.expected is False]
    main = [lst for lst in foreign if lst.main] or foreign
    return ",".join(sorted({f"{safe(lst.process)}[{lst.pid}]" for lst in main})) or "?"


def short_reason(p: PortStatus | SocketStatus) -> str:
    """The findings in a few words each, worst first: the overview's narrow reason column."""
    parts: list[str] = []
    for f in sorted(p.findings, key=lambda f: -SEVERITY_RANK[f.severity]):
        code = f.code
        if code == "exposed-bind":
            parts.append(
                "exposed on " + ",".join(sorted({a.address for a in p.listeners if not is_loopback(a.address)}))
            )
        elif code == "unexpected-owner":
            parts.append(f"held by {_holder(p)}")
        elif code == "socket-owner" and isinstance(p, SocketStatus):
            parts.append(
                f"owner {safe(p.file.owner or p.file.uid)}:{safe(p.file.group or p.file.gid)}"
                f" (want {p.spec.owner}:{p.spec.group})"
            )
        elif code == "socket-mode" and isinstance(p, SocketStatus) and p.file.mode is not None:
            parts.append(f"mode {p.file.mode:04o} (want {p.spec.mode_text})")
        elif code == "not-a-socket" and isinstance(p, SocketStatus):
            parts.append(f"is a {p.file.kind}, not a socket")
        else:
            parts.append(SHORT.get(code, code))
    if parts:
        return "; ".join(parts)
    if isinstance(p, PortStatus):
        if p.listening:
            return "listening on " + ",".join(sorted({safe(a.address) for a in p.listeners}))
        return safe(p.reason)
    if p.accepting:
        return f"accepting, {p.clients} client{'s' if p.clients != 1 else ''}"
    return safe(p.reason)


SHORT = {
    "not-listening": "not listening",
    "bind-loopback-only": "loopback only",
    "accept-queue-full": "accept queue full",
    "socket-missing": "missing",
    "socket-not-accepting": "not accepting",
}


def port_row(p: PortStatus, view: View, ascii_only: bool) -> dict[str, Cell]:
    port = p.spec.port
    rate = view.rates.new_per_s.get(port)
    hist = view.rates.history.get(port, ())
    top = f"{p.top_remotes[0][0]} ×{p.top_remotes[0][1]}" if p.top_remotes else "-"
    addrs = ",".join(sorted({lst.address for lst in p.listeners})) or "-"
    role = p.status if p.status != "ok" else ""
    return {
        "status": _status(p.status),
        "what": (f"{port} {p.spec.name}", ""),
        "service": (p.spec.service, ""),
        "process": (_process(p), "" if p.listening else "dim"),
        "conns": (f"{p.connections_total}/{p.state_count('ESTABLISHED')}", ""),
        "bind": (addrs, "critical" if any(f.code == "exposed-bind" for f in p.findings) else ""),
        "rate": (f"{rate:.1f}" if rate is not None else "…", ""),
        "trend": (sparkline(hist, 12, ascii_only), "accent"),
        "top": (safe(top), ""),
        "fw": fw_cell(p),
        "health": health_cell(p.health, p.listening),
        "reason": (short_reason(p), role),
    }


def health_cell(h: Health | None, live: bool) -> Cell:
    """ok with the latency, or what failed, in a few characters."""
    if h is None or h.ok is None:
        return ("—", "dim")
    if h.ok:
        if h.cert_days is not None and h.cert_days < 14:
            return (f"cert {h.cert_days}d", "warning" if h.cert_days >= 0 else "critical")
        ms = h.latency_ms or 0.0
        return (f"ok {ms:.0f}ms" if ms < 1000 else f"ok {ms / 1000:.1f}s", "ok")
    if not live:
        return ("down", "dim")  # not listening: its own finding says so
    short = "timeout" if h.detail.startswith("no answer") else "bad"
    return (short, "critical")


SHOW_EXCEPT = 6  # the rest is in the JSON
FW_SHORT = {"allow": "allow", "limit": "limit", "restricted": "restr", "deny": "deny", "unknown": "?"}


def fw_cell(p: PortStatus) -> Cell:
    """The verdict, coloured by what the reference expects of this port."""
    fw = p.firewall
    if fw is None:
        return ("—", "dim")
    if fw.verdict == "unknown":
        return ("?", "dim")
    if fw.backend == "none":
        return ("none", "dim")
    bad = [f for f in p.findings if f.code.startswith("firewall-")]
    style = max((f.severity for f in bad), key=lambda s: SEVERITY_RANK[s]) if bad else ""
    return (FW_SHORT[fw.verdict], style)


def firewall_who(p: PortStatus) -> str:
    fw = p.firewall
    if fw is None:
        return "-"
    return safe(fw.who(SHOW_EXCEPT)) or "-"


def firewall_rows(view: View) -> dict[str, dict[str, Cell]]:
    out: dict[str, dict[str, Cell]] = {}
    for p in view.snapshot.ports:
        fw = p.firewall
        bad = [f for f in p.findings if f.code.startswith("firewall-")]
        sev = max((f.severity for f in bad), key=lambda s: SEVERITY_RANK[s]) if bad else "ok"
        out[p.key] = {
            "status": _status(sev if fw is not None and fw.verdict != "unknown" else "unknown"),
            "what": (f"{p.spec.port} {p.spec.name}", ""),
            "service": (p.spec.service, ""),
            "expect": (p.spec.firewall, "dim"),
            "verdict": fw_cell(p) if fw is None or fw.backend != "none" else ("allow", "dim"),
            "who": (firewall_who(p), ""),
            "rule": (safe(fw.rule or fw.reason) if fw is not None else "not read", "dim" if fw is None else ""),
        }
    return out


def socket_overview_row(s: SocketStatus) -> dict[str, Cell]:
    f = s.file
    mode = f"{f.mode:04o}" if f.mode is not None else "-"
    return {
        "status": _status(s.status),
        "what": (f"{s.spec.id}.sock", ""),
        "service": (s.spec.service, ""),
        "process": (_process(s), "" if s.accepting else "dim"),
        "conns": (f"{s.clients}", ""),
        "bind": (mode, "" if f.mode == s.spec.mode else "warning"),
        "rate": ("", ""),
        "trend": ("", ""),
        "top": ("", ""),
        "fw": ("", ""),
        "health": health_cell(s.health, s.accepting),
        "reason": (short_reason(s), s.status if s.status != "ok" else ""),
    }


def overview_rows(view: View, ascii_only: bool = False) -> dict[str, dict[str, Cell]]:
    rows = {p.key: port_row(p, view, ascii_only) for p in view.snapshot.ports}
    rows.update({s.key: socket_overview_row(s) for s in view.snapshot.sockets})
    return rows


def socket_rows(view: View, web_errors: dict[str, int] | None = None) -> dict[str, dict[str, Cell]]:
    """``web_errors``: nginx error lines (recent) that name each socket, by catalog path."""
    web_errors = web_errors or {}
    out: dict[str, dict[str, Cell]] = {}
    for s in view.snapshot.sockets:
        f = s.file
        og = f"{safe(f.owner or f.uid)}:{safe(f.group or f.gid)}" if f.exists else "-"
        wrong_owner = any(x.code == "socket-owner" for x in s.findings)
        wrong_mode = next((x.severity for x in s.findings if x.code == "socket-mode"), "")
        out[s.key] = {
            "status": _status(s.status),
            "path": (safe(s.spec.path), ""),
            "service": (s.spec.service, ""),
            "ownergroup": (og, "critical" if wrong_owner else ""),
            "mode": (f"{f.mode:04o}" if f.mode is not None else "-", wrong_mode),
            "expect": (f"{s.spec.owner}:{s.spec.group} {s.spec.mode_text}", "dim"),
            "accepting": ("yes" if s.accepting else "no", "" if s.accepting else ("critical" if f.exists else "dim")),
            "clients": (str(s.clients), ""),
            "weberr": (str(web_errors.get(s.spec.path, 0)), "critical" if web_errors.get(s.spec.path) else "dim"),
            "reason": (short_reason(s), s.status if s.status != "ok" else ""),
        }
    return out


def finding_rows(view: View) -> dict[str, dict[str, Cell]]:
    out: dict[str, dict[str, Cell]] = {}
    ordered = sorted(view.snapshot.findings, key=lambda f: (-SEVERITY_RANK[f.severity], f.port or 0, f.path or ""))
    for f in ordered:
        where = str(f.port) if f.port is not None else safe(f.path or "host")
        key = f"finding:{f.code}:{where}"
        out[key] = {
            "status": _status(f.severity),
            "where": (where, ""),
            "code": (f.code, "accent"),
            "message": (safe(f.message), ""),
            "fix": (safe(f.fix), "dim"),
        }
    return out


def service_rows(view: View) -> dict[str, dict[str, Cell]]:
    """One row per catalog service: its state, and whether what it serves answers."""
    snap = view.snapshot
    out: dict[str, dict[str, Cell]] = {}
    for st in snap.services:
        ports = [p for p in snap.ports if p.spec.service == st.name]
        sockets = [s for s in snap.sockets if s.spec.service == st.name]
        serves = [str(p.spec.port) for p in ports] + [f"{s.spec.id}.sock" for s in sockets]
        results = [p.health for p in ports] + [s.health for s in sockets]
        checked = [h for h in results if h is not None and h.ok is not None]
        failing = [h for h in checked if not h.ok]
        if not checked:
            answers: Cell = ("—", "dim")
        elif failing:
            answers = (f"{len(failing)} of {len(checked)} fail", "critical")
        else:
            answers = (f"all {len(checked)} answer", "ok")
        needed = any(p.spec.required for p in ports) or any(s.spec.required for s in sockets)
        sev = "ok" if st.state == "running" else ("critical" if needed else "warning")
        if st.state == "unknown":
            sev = "unknown"
        up = duration(snap.taken_at - st.since) if st.since else "-"
        out[f"service:{st.name}"] = {
            "status": _status(sev),
            "name": (st.name, ""),
            "state": (st.state, "" if st.state == "running" else sev),
            "pid": (str(st.pid) if st.pid else "-", "dim"),
            "up": (up, "dim"),
            "manager": (st.manager, "dim"),
            "serves": (" ".join(serves) or "-", ""),
            "health": answers,
        }
    return out
