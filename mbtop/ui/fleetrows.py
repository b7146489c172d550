"""Rows of the fleet screen and of one gateway's details, from the fleet model. Pure: no widgets.

Every name, reason, code, target, path and daemon came from an agent or Prometheus (or whatever
answered in their place): each goes through ``safe`` (``mbtop.text.clean``) and is rendered as plain
``Text`` by the table, never as markup.
"""

from __future__ import annotations

from mbtop.fleet.model import CERT_WARN_DAYS, Details, Fleet, Gateway
from mbtop.model.types import SEVERITY_RANK
from mbtop.ui.cells import MARK, Cell, duration, safe
from mbtop.ui.rows import Column

FLEET = (
    Column("status", "", 4, 0),
    Column("gateway", "Gateway", 18, 0),
    Column("crit", "Crit", 4, 0),
    Column("warn", "Warn", 4, 0),
    Column("ports", "Ports", 5, 1),
    Column("flood", "Flood", 6, 1),
    Column("age", "Age", 5, 1),
    Column("sockets", "Socks", 5, 2),
    Column("cert", "Cert", 5, 2),
    Column("peers", "Peers", 7, 3),
    Column("reason", "Reason", None, 0),
)
FLEET_MIN_FLEX = 14
FINDINGS = (
    Column("status", "", 4, 0),
    Column("code", "Code", 24, 0),
    Column("target", "Target", None, 0),
)
PORTS = (
    Column("status", "", 4, 0),
    Column("what", "Port / socket / peer", None, 0),
    Column("daemon", "Daemon", 12, 1),
    Column("state", "State", 13, 0),
    Column("conns", "Connections", 30, 2),
)
REACH = {"down": "DOWN", "slow": "SLOW", "garbage": "NOT METRICS"}


def _count(n: int, role: str) -> Cell:
    return (str(n), role if n else "dim")


def gateway_row(gw: Gateway, now: float, stale_after: float) -> dict[str, Cell]:
    status, why = gw.status(now, stale_after)
    row: dict[str, Cell] = {"status": (MARK[status], status), "gateway": (safe(gw.name), "primary")}
    s = gw.summary
    if gw.reach != "up" or s is None:
        row["reason"] = (f"{REACH.get(gw.reach, gw.reach.upper())}: {safe(gw.reason)}", "critical")
        for key in ("crit", "warn", "ports", "flood", "age", "sockets", "cert", "peers"):
            row[key] = ("-", "dim")
        return row
    row["crit"] = _count(s.critical, "critical")
    row["warn"] = _count(s.warning, "warning")
    row["ports"] = _count(s.ports_down, "critical")
    row["sockets"] = _count(s.sockets_wrong, "warning")
    if s.flood is None:
        row["flood"] = ("?", "unknown")
    elif s.flood:
        row["flood"] = (f"{s.flood_rate:.0f}/s" if s.flood_rate is not None else "FLOOD", "critical")
    else:
        row["flood"] = ("no", "dim")
    days = gw.cert_days(now)
    if days is None:
        row["cert"] = ("-", "dim")
    else:
        row["cert"] = (
            f"{int(days)}d" if days >= 0 else "exp",
            "critical" if days < 0 else "warning" if days < CERT_WARN_DAYS else "",
        )
    row["peers"] = (
        ("-", "dim") if not s.peers else (f"{s.peers_down} down", "warning") if s.peers_down else (f"{s.peers} up", "")
    )
    age = gw.age(now)
    row["age"] = (duration(age), "warning" if age is not None and age > stale_after else "dim")
    row["reason"] = (why or "as documented", status if why else "ok")
    return row


def fleet_rows(fleet: Fleet, now: float, stale_after: float) -> dict[str, dict[str, Cell]]:
    """One row per gateway, keyed by its name (the cursor stays on it across refreshes)."""
    return {f"gw:{gw.name}": gateway_row(gw, now, stale_after) for gw in fleet.gateways}


def counts(fleet: Fleet, now: float, stale_after: float) -> dict[str, int]:
    """How many gateways are in each status, for the header."""
    out = {"critical": 0, "warning": 0, "unknown": 0, "ok": 0}
    for gw in fleet.gateways:
        out[gw.status(now, stale_after)[0]] += 1
    return out


def finding_rows(details: Details) -> dict[str, dict[str, Cell]]:
    rows: dict[str, dict[str, Cell]] = {}
    for i, f in enumerate(details.findings):
        sev = f.severity if f.severity in SEVERITY_RANK else "unknown"
        rows[f"f:{i}:{f.code}:{f.target}"] = {
            "status": (MARK[sev], sev),
            "code": (safe(f.code), ""),
            "target": (safe(f.target), ""),
        }
    return rows


def port_rows(details: Details) -> dict[str, dict[str, Cell]]:
    rows: dict[str, dict[str, Cell]] = {}
    for p in details.ports:
        sev = "unknown" if p.listening is None else "ok" if p.listening else "critical"
        state = "?" if p.listening is None else "listening" if p.listening else "NOT LISTENING"
        conns = ", ".join(f"{safe(k)} {v:g}" for k, v in p.connections if v) or "-"
        rows[f"p:{p.port}:{p.daemon}"] = {
            "status": (MARK[sev], sev),
            "what": (f"port {safe(p.port)}", "primary"),
            "daemon": (safe(p.daemon), ""),
            "state": (state, sev if sev != "ok" else ""),
            "conns": (conns, "dim" if conns == "-" else ""),
        }
    for s in details.sockets:
        rows[f"s:{s.path}:{s.daemon}"] = {
            "status": (MARK["ok" if s.ok else "warning"], "ok" if s.ok else "warning"),
            "what": (safe(s.path), ""),
            "daemon": (safe(s.daemon), ""),
            "state": ("as documented" if s.ok else "WRONG", "" if s.ok else "warning"),
            "conns": ("", ""),
        }
    for peer, up in details.peers:
        rows[f"c:{peer}"] = {
            "status": (MARK["ok" if up else "warning"], "ok" if up else "warning"),
            "what": (f"peer {safe(peer)}", ""),
            "daemon": ("cluster", "dim"),
            "state": ("accepts" if up else "UNREACHABLE", "" if up else "warning"),
            "conns": ("", ""),
        }
    return rows
