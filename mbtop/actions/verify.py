"""After an action: what a fresh snapshot says about its target (port back? socket mode right?). Pure."""

from __future__ import annotations

import ipaddress

from mbtop.actions.plan import Plan
from mbtop.catalog import Catalog
from mbtop.model.types import PortStatus, Snapshot, SocketStatus
from mbtop.text import clean


def _port_line(p: PortStatus) -> str:
    return f"port {p.spec.port}: {p.status.upper()} — {clean(p.reason)}"


def _socket_line(s: SocketStatus) -> str:
    return f"{s.spec.path}: {s.status.upper()} — {clean(s.reason)}"


def lines(plan: Plan, catalog: Catalog, snap: Snapshot) -> tuple[list[str], bool | None]:
    """What to show, and whether the target now looks as the action meant it to (None: not verified,
    the lines say why)."""
    if plan.action == "restart":
        ports = [p for p in snap.ports if p.spec.service == plan.target and (p.listening or p.spec.required)]
        socks = [s for s in snap.sockets if s.spec.service == plan.target and s.file.exists]
        good = all(p.listening for p in ports) and all(s.accepting for s in socks)
        return [_port_line(p) for p in ports] + [_socket_line(s) for s in socks], good
    if plan.action == "fix-perms":
        socks = [s for s in snap.sockets if s.spec.path == plan.target]
        good = all(not [f for f in s.findings if f.code in ("socket-owner", "socket-mode")] for s in socks)
        return [_socket_line(s) for s in socks], good
    if plan.action == "free-port":
        ports = [p for p in snap.ports if str(p.spec.port) == plan.target]
        good = all(not [f for f in p.findings if f.code == "unexpected-owner"] for p in ports)
        return [_port_line(p) for p in ports], good
    if plan.action in ("block", "unblock"):
        return _firewall_lines(plan, catalog, snap)
    return [], True


def _firewall_lines(plan: Plan, catalog: Catalog, snap: Snapshot) -> tuple[list[str], bool | None]:
    try:
        net = ipaddress.ip_network(plan.target, strict=False)
    except ValueError:
        return [], False
    state = snap.firewall
    if state is None or state.backend == "unknown":
        why = "the firewall was not read"
        if state is not None:
            why = f"the firewall could not be read ({clean(state.reason)})"
        return [f"not verified: {why}, so nothing says whether {net} is {plan.action}ed"], None
    out: list[str] = []
    kept_out_everywhere = True
    for p in snap.ports:
        fw = p.firewall
        if fw is None or p.spec.firewall != "allow":
            continue
        fam = next((f for f in fw.families if f.family == net.version), None)
        if fam is None:
            continue
        excepted = any(_covers(e, net) for e in fam.excepted)
        let_in = fam.verdict in ("allow", "limit") and not excepted
        if fam.verdict == "restricted":
            let_in = any(_covers(s, net) for s in fam.sources) and not excepted
        kept_out_everywhere &= not let_in
        out.append(f"port {p.spec.port}: new connections from {net} are {'let in' if let_in else 'dropped'}")
    if not out:
        return [f"not verified: no IPv{net.version} verdict for a public port to check against"], None
    if plan.action == "block":
        return out, kept_out_everywhere
    return out, not kept_out_everywhere


def _covers(text: str, net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bool:
    try:
        other = ipaddress.ip_network(text.split(" via ")[0], strict=False)
    except ValueError:
        return False
    return other.version == net.version and net.subnet_of(other)  # type: ignore[arg-type]
