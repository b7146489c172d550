"""Plain-text renderings of a Snapshot for the headless commands."""

from __future__ import annotations

from mbtop.catalog import Catalog
from mbtop.model.types import Finding, PortStatus, Snapshot, SocketStatus
from mbtop.probes.firewall import FirewallState
from mbtop.text import clean, clip

MARK = {"ok": "OK", "warning": "WARN", "critical": "CRIT", "unknown": "UNKN"}
EXIT = {"ok": 0, "warning": 1, "critical": 2, "unknown": 3}


def _owner(p: PortStatus | SocketStatus) -> str:
    names: list[str] = []
    for lst in p.listeners:
        if lst.process is None:
            continue
        text = clean(lst.process)
        main = lst.main and lst.pid is not None
        if main:
            text = f"{text}[{lst.pid}]"
        if text not in names:
            names.append(text)
    if not names and p.listeners:
        return "?"
    return ",".join(names) or "-"


def snapshot_table(snap: Snapshot, width: int | None = None) -> str:
    """One row per documented port and socket, worst status visible at a glance."""
    head = (
        f"mbtop snapshot — {clean(snap.host)} — {snap.count('critical')} critical, "
        f"{snap.count('warning')} warning" + ("" if snap.root else " — not root: some owners unknown")
    )
    rows: list[tuple[str, ...]] = [("STATUS", "PORT", "SERVICE", "BIND", "PROCESS", "CONNS", "REASON")]
    for p in snap.ports:
        addrs = ",".join(sorted({lst.address for lst in p.listeners})) or "-"
        est = p.state_count("ESTABLISHED")
        rows.append(
            (
                MARK[p.status],
                f"{p.spec.port}/tcp",
                p.spec.service,
                addrs,
                _owner(p),
                f"{p.connections_total}/{est}",
                clean(p.reason),
            )
        )
    rows.append(("STATUS", "SOCKET", "SERVICE", "OWNER:GROUP", "MODE", "CLIENTS", "REASON"))
    for s in snap.sockets:
        f = s.file
        og = f"{clean(f.owner or str(f.uid))}:{clean(f.group or str(f.gid))}" if f.exists else "-"
        mode = f"{f.mode:04o}" if f.mode is not None else "-"
        rows.append((MARK[s.status], clean(s.spec.path), s.spec.service, og, mode, str(s.clients), clean(s.reason)))
    widths = [max(len(r[i]) for r in rows if r[0] != "STATUS" or True) for i in range(6)]
    lines = [head, ""]
    for r in rows:
        if r[0] == "STATUS" and len(lines) > 2:
            lines.append("")
        line = "  ".join(c.ljust(widths[i]) for i, c in enumerate(r[:6])) + "  " + r[6]
        lines.append(clip(line, width) if width else line)
    for note in snap.notes:
        lines.append(f"note: {clean(note)}")
    return "\n".join(lines)


def _finding_line(f: Finding) -> str:
    return f"{MARK[f.severity]}: {clean(f.message)} — fix: {clean(f.fix)}"


def check_text(snap: Snapshot) -> tuple[str, int]:
    """Monitoring-plugin output: a summary line, then one line per finding; and the exit code."""
    status = snap.status
    crit, warn = snap.count("critical"), snap.count("warning")
    label = {"ok": "OK", "warning": "WARNING", "critical": "CRITICAL", "unknown": "UNKNOWN"}[status]
    nports = sum(1 for p in snap.ports if p.listening)
    if crit or warn:
        first = clean(snap.findings[0].message)
        summary = f"MBTOP {label} - {crit} critical, {warn} warning: {first}"
    elif status == "unknown":
        summary = f"MBTOP UNKNOWN - {clean('; '.join(snap.notes) or 'probes failed')}"
    else:
        summary = (
            f"MBTOP OK - {nports} ports listening, {sum(1 for s in snap.sockets if s.accepting)} sockets accepting"
        )
    perf = f" | critical={crit} warning={warn} listening={nports}"
    lines = [summary + perf] + [_finding_line(f) for f in snap.findings]
    lines += [f"note: {clean(n)}" for n in snap.notes]
    return "\n".join(lines), EXIT[status]


def firewall_table(catalog: Catalog, state: FirewallState) -> str:
    """``mbtop firewall``: per documented port, what a new connection from outside meets."""
    head = f"firewall: {state.backend}" + ("" if state.active else " (no filtering rules)")
    lines = [head]
    if state.reason:
        lines.append(f"  {clean(state.reason)}")
    lines += [f"  {clean(p)}" for p in state.policies]
    if state.established is not None:
        lines.append(f"  established/related accepted: {'yes' if state.established else 'no'}")
    lines.append("")
    rows = [("PORT", "SERVICE", "EXPECTED", "VERDICT", "WHO", "RULE")]
    for spec in catalog.ports:
        pf = state.get(spec.port)
        if pf is None:
            continue
        who = pf.who(show_except=len(pf.excepted))  # every exception: this is the full answer
        rows.append(
            (f"{spec.port}/tcp", spec.service, spec.firewall, pf.verdict, clean(who), clean(pf.rule or pf.reason))
        )
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    for r in rows:
        lines.append("  ".join(c.ljust(widths[i]) for i, c in enumerate(r[:5])) + "  " + r[5])
    lines += [f"note: {clean(n)}" for n in state.notes]
    return "\n".join(lines)
