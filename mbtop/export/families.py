"""One frame as Prometheus metric families: pure functions, no state, nothing sampled.

Metric names and labels are a public interface (README, Metrics): extend, never rename or drop.
No label carries a value a stranger chose (a remote address, a sender, a HELO name): labels are
catalog names (port, daemon, socket path), finding codes, severities, verdicts and kernel state
names, so the number of series is bounded by the catalog and never by the traffic.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client.core import GaugeMetricFamily, Metric

from mbtop.export.cluster import cluster_families

if TYPE_CHECKING:
    from mbtop.engine.frame import Frame
    from mbtop.model.types import PortStatus, Severity, Snapshot, SocketStatus

# Kernel TCP state names (mbtop.probes.types.TCP_STATES, LISTEN excepted): every port always has a
# series for each, 0 when none, so a state that appears is a change of value, not a new series.
TCP_STATES = (
    "ESTABLISHED",
    "SYN_SENT",
    "SYN_RECV",
    "FIN_WAIT1",
    "FIN_WAIT2",
    "TIME_WAIT",
    "CLOSE",
    "CLOSE_WAIT",
    "LAST_ACK",
    "CLOSING",
)
VERDICTS = ("allow", "limit", "restricted", "deny", "unknown")
STATUSES = ("ok", "warning", "critical", "unknown")
SEVERITIES: tuple[Severity, ...] = ("critical", "warning", "unknown")
SERVICE_UP = {"running": 1.0, "stopped": 0.0, "failed": 0.0}  # "unknown": no sample


def _port(p: PortStatus) -> list[str]:
    return [str(p.spec.port), p.spec.service]


def ports(snap: Snapshot) -> Iterator[Metric]:
    listening = GaugeMetricFamily(
        "mbtop_port_listening", "1 when a process listens on the documented port", labels=["port", "daemon"]
    )
    conns = GaugeMetricFamily(
        "mbtop_port_connections",
        "TCP connections whose local port is the documented port, by kernel state (listeners excluded)",
        labels=["port", "daemon", "state"],
    )
    queue = GaugeMetricFamily(
        "mbtop_port_accept_queue", "connections waiting in the listeners' accept queues", labels=["port", "daemon"]
    )
    limit = GaugeMetricFamily(
        "mbtop_port_accept_queue_limit",
        "the listen backlog: the accept queue's limit (the largest of the port's listeners)",
        labels=["port", "daemon"],
    )
    for p in snap.ports:
        labels = _port(p)
        listening.add_metric(labels, 1.0 if p.listening else 0.0)
        counts = dict(p.by_state)
        for state in (*TCP_STATES, *sorted(set(counts) - set(TCP_STATES))):
            conns.add_metric([*labels, state], float(counts.get(state, 0)))
        queue.add_metric(labels, float(p.accept_queue))
        if p.backlog is not None:
            limit.add_metric(labels, float(p.backlog))
    yield from (listening, conns, queue, limit)


def socket_ok(s: SocketStatus) -> bool:
    """Exists, is a socket, has the documented owner, group and mode, and accepts connections."""
    f, spec = s.file, s.spec
    return (
        f.exists
        and f.kind == "socket"
        and f.owner == spec.owner
        and f.group == spec.group
        and f.mode == spec.mode
        and s.accepting
    )


def sockets(snap: Snapshot) -> Iterator[Metric]:
    ok = GaugeMetricFamily(
        "mbtop_socket_ok",
        "1 when the documented socket exists, is a socket, has the documented owner, group and mode, and accepts",
        labels=["path", "daemon"],
    )
    clients = GaugeMetricFamily(
        "mbtop_socket_clients", "connections accepted on the documented socket", labels=["path", "daemon"]
    )
    for s in snap.sockets:
        labels = [s.spec.path, s.spec.service]
        ok.add_metric(labels, 1.0 if socket_ok(s) else 0.0)
        clients.add_metric(labels, float(s.clients))
    yield from (ok, clients)


def _targets(snap: Snapshot) -> dict[str, str]:
    """A finding's path as the socket it is (``socket:ID``), as health targets name it."""
    return {s.spec.path: f"socket:{s.spec.id}" for s in snap.sockets}


def findings(snap: Snapshot) -> Iterator[Metric]:
    each = GaugeMetricFamily(
        "mbtop_finding",
        "1 for each active finding (target: port:N, socket:ID, a path, or host)",
        labels=["code", "target", "severity"],
    )
    by_path = _targets(snap)
    seen: set[tuple[str, str, str]] = set()
    for f in snap.findings:
        if f.port is not None:
            target = f"port:{f.port}"
        elif f.path is not None:
            target = by_path.get(f.path, f.path)
        else:
            target = "host"
        key = (f.code, target, f.severity)
        if key not in seen:  # two findings alike (two foreign listeners) are one series
            seen.add(key)
            each.add_metric(list(key), 1.0)
    counts = GaugeMetricFamily("mbtop_findings", "active findings by severity", labels=["severity"])
    for sev in SEVERITIES:
        counts.add_metric([sev], float(snap.count(sev)))
    status = GaugeMetricFamily(
        "mbtop_status", "the gateway's worst status: 1 for the one in force, 0 for the others", labels=["status"]
    )
    for name in STATUSES:
        status.add_metric([name], 1.0 if name == snap.status else 0.0)
    yield from (each, counts, status)


def health(snap: Snapshot, taken_at: float) -> Iterator[Metric]:
    up = GaugeMetricFamily(
        "mbtop_health_up", "1 when the daemon answered its own protocol at the last check", labels=["target"]
    )
    took = GaugeMetricFamily(
        "mbtop_health_duration_seconds", "how long the last protocol check took", labels=["target"]
    )
    expiry = GaugeMetricFamily(
        "mbtop_certificate_expiry_timestamp_seconds",
        "when the TLS certificate expires (Unix time): the certificate a protocol check saw (port:N, to the day),"
        " or a certificate file Postfix or nginx is configured with (its path)",
        labels=["target"],
    )
    checked = [(p.key, p.health) for p in snap.ports] + [(s.key, s.health) for s in snap.sockets]
    for key, h in checked:
        if h is None or h.ok is None:
            continue
        up.add_metric([key], 1.0 if h.ok else 0.0)
        if h.latency_ms is not None:
            took.add_metric([key], h.latency_ms / 1000.0)
        if h.cert_days is not None:
            expiry.add_metric([key], taken_at + h.cert_days * 86400.0)
    if snap.vitals is not None:
        for c in snap.vitals.certificates:
            if c.not_after is not None:
                expiry.add_metric([c.path], c.not_after)
    yield from (up, took, expiry)


def services(snap: Snapshot) -> Iterator[Metric]:
    up = GaugeMetricFamily(
        "mbtop_service_up", "1 when the daemon runs, 0 when stopped or failed (absent: unknown)", labels=["daemon"]
    )
    for s in snap.services:
        value = SERVICE_UP.get(s.state)
        if value is not None:
            up.add_metric([s.name], value)
    yield up


def firewall(snap: Snapshot) -> Iterator[Metric]:
    verdict = GaugeMetricFamily(
        "mbtop_firewall_verdict",
        "what the firewall does with a new inbound connection to the port: 1 for the verdict in force",
        labels=["port", "verdict"],
    )
    for p in snap.ports:
        if p.firewall is not None:
            for v in VERDICTS:
                verdict.add_metric([str(p.spec.port), v], 1.0 if v == p.firewall.verdict else 0.0)
    yield verdict


def flood(frame: Frame) -> Iterator[Metric]:
    f = frame.flood
    if f is None:
        return
    yield GaugeMetricFamily(
        "mbtop_flood_alert", "1 while a flood threshold is crossed on the mail ports", value=f.alert
    )
    yield GaugeMetricFamily(
        "mbtop_flood_new_connections_per_second",
        "new connections per second to the mail ports over the last sample interval",
        value=f.new_per_s,
    )
    yield GaugeMetricFamily(
        "mbtop_flood_concurrent_connections", "connections held open to the mail ports", value=f.concurrent
    )
    yield GaugeMetricFamily(
        "mbtop_flood_syn_recv_connections", "half-open connections to the mail ports", value=f.syn_recv
    )


def gateway(snap: Snapshot) -> Iterator[Metric]:
    q = snap.queue
    if q is not None and q.available:
        queued = GaugeMetricFamily("mbtop_queue_messages", "messages in Postfix's queues", labels=["queue"])
        for name, n in q.counts:
            queued.add_metric([name], float(n))
        yield queued
    v = snap.vitals
    if v is not None:
        free = GaugeMetricFamily(
            "mbtop_filesystem_free_ratio",
            "share of the filesystem free (the spool's, the logs', MariaDB's, the root)",
            labels=["mount"],
        )
        for fs in v.filesystems:
            free.add_metric([fs.mount], fs.free_ratio)
        yield free
        if v.clock_synchronized is not None:
            yield GaugeMetricFamily(
                "mbtop_clock_synchronized",
                "1 when the kernel says the clock is synchronised",
                value=v.clock_synchronized,
            )


def frame_families(frame: Frame) -> Iterator[Metric]:
    """Every family one frame gives (the exporter adds its counters, sample age and its own)."""
    snap = frame.snapshot
    yield from ports(snap)
    yield from sockets(snap)
    yield from findings(snap)
    yield from health(snap, frame.time)
    yield from services(snap)
    yield from firewall(snap)
    yield from flood(frame)
    yield from gateway(snap)
    yield from cluster_families(frame)
