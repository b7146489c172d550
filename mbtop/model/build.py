"""Pure functions: a probe Sample and the Catalog in, a Snapshot with Findings out."""

from __future__ import annotations

import dataclasses
import heapq
import ipaddress
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from mbtop.catalog import Catalog, PortSpec, SocketSpec
from mbtop.model import culprits
from mbtop.model import firewall as fwmodel
from mbtop.model import health as healthmodel
from mbtop.model.listeners import describe_holder, listeners_of, start_hint
from mbtop.model.sockstatus import socket_status
from mbtop.model.types import SEVERITY_RANK, Finding, PortStatus, Severity, Snapshot, SocketStatus, worst
from mbtop.probes.sample import Sample
from mbtop.probes.types import InetSocket, ProcessInfo, SocketFile

TOP_REMOTES = 5


def is_loopback(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped.is_loopback
    return ip.is_loopback


@dataclass
class _PortSockets:
    """One port's sockets as the model needs them: listeners whole, connections counted."""

    listen: list[InetSocket] = field(default_factory=list)
    by_state: dict[str, int] = field(default_factory=dict)
    remotes: dict[str, int] = field(default_factory=dict)
    total: int = 0


def _group(sockets: Iterable[InetSocket], ports: Iterable[int]) -> dict[int, _PortSockets]:
    """One pass over every socket (tens of thousands on a busy gateway), fields unpacked in the
    loop header: listeners kept, connections counted by state and by remote address."""
    out = {p: _PortSockets() for p in ports}
    get = out.get
    for s in sockets:
        _fam, state, _local, lport, remote, _rport, _inode, _uid, _rq, _wq, _if = s
        group = get(lport)
        if group is None:
            continue
        if state == "LISTEN":
            group.listen.append(s)
            continue
        group.total += 1
        by_state = group.by_state
        by_state[state] = by_state.get(state, 0) + 1
        remotes = group.remotes
        remotes[remote] = remotes.get(remote, 0) + 1
    return out


def port_status(
    spec: PortSpec,
    sockets: _PortSockets,
    owners: Mapping[int, tuple[ProcessInfo, ...]],
    catalog: Catalog,
    alternative_ok: bool,
    owners_known: bool,
    probe_error: str | None,
) -> PortStatus:
    allowed = catalog.processes_for(spec.service)
    listen = sockets.listen
    listeners = listeners_of(
        ((s.local_address, s.local_port, s.inode, s.recv_q, s.send_q or None) for s in listen), owners, allowed
    )
    by_state = sockets.by_state
    remotes = sockets.remotes
    queue = sum(s.recv_q for s in listen)
    backlogs = [s.send_q for s in listen if s.send_q]
    backlog = max(backlogs) if backlogs else None
    findings: list[Finding] = []
    port = spec.port
    label = f"{port} ({spec.name})"

    if probe_error:
        return PortStatus(spec, False, (), 0, (), (), 0, None, (), "unknown", f"unknown — {probe_error}")

    if not listen:
        if spec.required:
            sev: Severity = "warning" if alternative_ok else "critical"
            extra = f"; its socket alternative ({spec.alternative}) is accepting" if alternative_ok else ""
            findings.append(
                Finding(
                    sev,
                    "not-listening",
                    f"port {label} is not listening{extra}",
                    start_hint(spec.service, catalog),
                    port=port,
                    action=f"restart {spec.service}",
                )
            )
    else:
        addresses = sorted({s.local_address for s in listen})
        if spec.bind == "loopback":
            exposed = [a for a in addresses if not is_loopback(a)]
            if exposed:
                findings.append(
                    Finding(
                        "critical",
                        "exposed-bind",
                        f"port {label} listens on {', '.join(exposed)}: reachable from the network, "
                        "the reference binds it to 127.0.0.1 only",
                        f"bind {spec.service} to 127.0.0.1 in its configuration and restart it",
                        port=port,
                        action=f"restart {spec.service}",
                    )
                )
        elif spec.bind == "public" and all(is_loopback(a) for a in addresses):
            findings.append(
                Finding(
                    "warning",
                    "bind-loopback-only",
                    f"public port {label} listens only on {', '.join(addresses)}: other hosts cannot reach it",
                    f"bind {spec.service} to 0.0.0.0 (or the public address) and restart it",
                    port=port,
                )
            )
        foreign = [lst for lst in listeners if lst.expected is False]
        if foreign and allowed:
            holder = describe_holder([f for f in foreign if f.main] or foreign)
            known = culprits.explain(spec, (f.process for f in foreign), catalog)  # exim4 on 25, apache2 on 80 …
            message = f"port {label} is held by {holder}, not {spec.service} (expected {', '.join(allowed[:3])})"
            fix = f"stop the process holding the port, then {start_hint(spec.service, catalog)}"
            if known is not None:
                message = f"port {label} is held by {holder}, {known.what}, not {spec.service}: {known.why}"
                fix = known.fix
            findings.append(
                Finding(
                    "critical",
                    "unexpected-owner",
                    message,
                    fix,
                    port=port,
                    action=f"free-port {port}",
                )
            )
        if backlog and queue >= backlog:
            findings.append(
                Finding(
                    "warning",
                    "accept-queue-full",
                    f"port {label}: accept queue full ({queue}/{backlog}); new connections are dropped",
                    f"{spec.service} is not accepting fast enough: check its process limit and load",
                    port=port,
                )
            )

    status = worst([f.severity for f in findings])
    if findings:
        reason = max(findings, key=lambda f: SEVERITY_RANK[f.severity]).message
    elif listen:
        names = sorted({lst.process for lst in listeners if lst.process})
        who = "/".join(names) if names else ("owner unknown" if not owners_known else "no owner found")
        reason = f"listening on {', '.join(sorted({s.local_address for s in listen}))} ({who})"
    elif spec.cluster_only:
        reason = "not in use (cluster only)"
    else:
        reason = "not in use (optional)"

    return PortStatus(
        spec=spec,
        listening=bool(listen),
        listeners=listeners,
        connections_total=sockets.total,
        by_state=tuple(sorted(by_state.items(), key=lambda kv: (-kv[1], kv[0]))),
        top_remotes=tuple(heapq.nsmallest(TOP_REMOTES, remotes.items(), key=lambda kv: (-kv[1], kv[0]))),
        accept_queue=queue,
        backlog=backlog,
        findings=tuple(findings),
        status=status,
        reason=reason,
    )


def _alternative_socket_ok(catalog: Catalog, spec: PortSpec, accepting: Callable[[SocketSpec], bool]) -> bool:
    alt = catalog.socket(spec.alternative) if spec.alternative else None
    return alt is not None and accepting(alt)


def build(catalog: Catalog, sample: Sample) -> Snapshot:
    """The whole snapshot: every catalog port and socket, their findings, worst first."""
    by_port = _group(sample.tcp.sockets, (p.port for p in catalog.ports))
    owners_known = not sample.owners_denied
    listening_ports = {p for p, group in by_port.items() if group.listen}

    def socket_accepting(spec: SocketSpec) -> bool:
        f = sample.files.get(spec.path)
        if f is None or f.kind != "socket":
            return False
        names = sample.aliases.get(spec.path, frozenset({spec.path}))
        return any(
            u.listening and (u.vfs_inode == f.inode or (u.vfs_inode is None and u.path in names))
            for u in sample.unix.sockets
        )

    ports = tuple(
        port_status(
            spec,
            by_port[spec.port],
            sample.owners,
            catalog,
            alternative_ok=_alternative_socket_ok(catalog, spec, socket_accepting),
            owners_known=owners_known,
            probe_error=sample.tcp.error,
        )
        for spec in catalog.ports
    )
    sockets = tuple(
        socket_status(
            spec,
            sample.files.get(spec.path) or SocketFile(spec.path, exists=False, kind=None, error="not probed"),
            sample.unix.sockets,
            sample.owners,
            catalog,
            alternative_ok=spec.alternative is not None and spec.alternative in listening_ports,
            probe_error=sample.unix.error,
            names=sample.aliases.get(spec.path, frozenset({spec.path})),
        )
        for spec in catalog.sockets
    )
    extra: list[Finding] = []
    ports, sockets = _with_health(ports, sockets, sample)
    if sample.firewall is not None:
        ports, extra = _with_firewall(ports, sample)
    extra += healthmodel.service_findings(catalog, sample.services, ports, sockets)
    extra += culprits.second_instances(catalog, sample.services, ports)
    findings = [f for p in ports for f in p.findings] + [f for s in sockets for f in s.findings] + extra
    findings.sort(key=lambda f: -SEVERITY_RANK[f.severity])
    notes = list(sample.notes)
    for err in (sample.tcp.error, sample.unix.error):
        if err:
            notes.append(err)
    statuses = [p.status for p in ports] + [s.status for s in sockets] + [f.severity for f in extra]
    if sample.firewall is not None and sample.firewall.reason:
        notes.append(f"firewall: {sample.firewall.reason}")
    return Snapshot(
        host=sample.host,
        taken_at=sample.taken_at,
        root=sample.root,
        ports=ports,
        sockets=sockets,
        findings=tuple(findings),
        notes=tuple(notes),
        sources=(("tcp", sample.tcp.source), ("unix", sample.unix.source)),
        status=worst(statuses),
        firewall=sample.firewall,
        services=sample.services,
    )


def with_host_findings(snapshot: Snapshot, extra: Iterable[Finding]) -> Snapshot:
    """``snapshot`` with findings about the host rather than one port (the flood watch's
    smtp-flood), among the others by severity; the status follows the worst."""
    added = tuple(extra)
    if not added:
        return snapshot
    findings = sorted((*snapshot.findings, *added), key=lambda f: -SEVERITY_RANK[f.severity])
    return dataclasses.replace(
        snapshot, findings=tuple(findings), status=worst([snapshot.status, *(f.severity for f in added)])
    )


def _exposed(p: PortStatus) -> list[str]:
    return sorted({lst.address for lst in p.listeners if not is_loopback(lst.address)})


S = TypeVar("S", PortStatus, SocketStatus)


def with_findings(item: S, extra: list[Finding]) -> S:
    """``item`` with more findings; its status and reason follow the worst one."""
    if not extra:
        return item
    findings = (*item.findings, *extra)
    worst_finding = max(findings, key=lambda f: SEVERITY_RANK[f.severity])
    return dataclasses.replace(
        item, findings=findings, status=worst([f.severity for f in findings]), reason=worst_finding.message
    )


def _with_firewall(ports: tuple[PortStatus, ...], sample: Sample) -> tuple[tuple[PortStatus, ...], list[Finding]]:
    """Each port with its firewall verdict and the findings that follow; plus host-wide findings."""
    state = sample.firewall
    if state is None:
        return ports, []
    out: list[PortStatus] = []
    for p in ports:
        pf = state.get(p.spec.port)
        if pf is None:
            out.append(p)
            continue
        out.append(with_findings(dataclasses.replace(p, firewall=pf), fwmodel.port_findings(p, pf, _exposed(p))))
    return tuple(out), fwmodel.global_findings([(p, _exposed(p)) for p in out], state)


def _with_health(
    ports: tuple[PortStatus, ...], sockets: tuple[SocketStatus, ...], sample: Sample
) -> tuple[tuple[PortStatus, ...], tuple[SocketStatus, ...]]:
    if not sample.health:
        return ports, sockets
    new_ports = []
    for p in ports:
        h = sample.health.get(p.key)
        new_ports.append(
            p if h is None else with_findings(dataclasses.replace(p, health=h), healthmodel.port_findings(p, h))
        )
    new_sockets = []
    for s in sockets:
        h = sample.health.get(s.key)
        new_sockets.append(
            s if h is None else with_findings(dataclasses.replace(s, health=h), healthmodel.socket_findings(s, h))
        )
    return tuple(new_ports), tuple(new_sockets)
