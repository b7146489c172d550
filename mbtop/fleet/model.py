"""One gateway's state as its agent's metrics tell it: pure values and functions, no I/O.

The metric names are the agent's public interface (README, "Metrics"): ``mbtop_findings{severity}``,
``mbtop_finding{code,target,severity}``, ``mbtop_port_listening{port,daemon}``,
``mbtop_port_connections{port,daemon,state}``, ``mbtop_socket_ok{path,daemon}``, ``mbtop_flood_alert``,
``mbtop_flood_new_connections_per_second``, ``mbtop_certificate_expiry_timestamp_seconds{target}``,
``mbtop_cluster_peer_up{peer}``, ``mbtop_sample_age_seconds``. Every label value is text an agent
(or whoever answers in its place) chose: it stays data here and is cleaned where it is shown.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from mbtop.model.types import SEVERITY_RANK, Severity, worst

Labels = tuple[tuple[str, str], ...]
Reach = Literal["up", "down", "slow", "garbage"]

# The one series every agent exports: its presence says "this is an mbtop agent".
AGE = "mbtop_sample_age_seconds"
STALE_AFTER = 60.0  # seconds: data older than this (or 5 refresh intervals) is said to be old
CERT_WARN_DAYS = 14.0  # the alert rules' threshold
MAX_SERIES = 50_000  # per gateway: a bigger answer is not an mbtop agent's (memory bound)


@dataclass(frozen=True, slots=True)
class Series:
    """One sample of one metric: its name, labels (sorted) and value."""

    name: str
    labels: Labels
    value: float

    def label(self, key: str) -> str:
        for k, v in self.labels:
            if k == key:
                return v
        return ""


def series(name: str, labels: dict[str, str], value: float) -> Series:
    return Series(name, tuple(sorted(labels.items())), float(value))


@dataclass(frozen=True, slots=True)
class FleetFinding:
    severity: str  # as exported; an unknown word ranks as "unknown"
    code: str
    target: str


@dataclass(frozen=True, slots=True)
class FleetPort:
    port: str
    daemon: str
    listening: bool | None  # None: no mbtop_port_listening for it
    connections: tuple[tuple[str, float], ...]  # (TCP state, count), sorted by state


@dataclass(frozen=True, slots=True)
class FleetSocket:
    path: str
    daemon: str
    ok: bool


@dataclass(frozen=True, slots=True)
class Details:
    """What enter shows for one gateway: its findings, ports, sockets and cluster peers."""

    findings: tuple[FleetFinding, ...]
    ports: tuple[FleetPort, ...]
    sockets: tuple[FleetSocket, ...]
    peers: tuple[tuple[str, bool], ...]


@dataclass(frozen=True, slots=True)
class Summary:
    """One fleet row's numbers. None: the agent exported nothing to say it."""

    critical: int
    warning: int
    ports_down: int
    sockets_wrong: int
    flood: bool | None
    flood_rate: float | None  # new SMTP connections per second
    cert_expiry: float | None  # Unix time of the soonest certificate expiry
    peers_down: int
    peers: int
    sampled_at: float | None  # Unix time the agent's data was sampled


@dataclass(frozen=True, slots=True)
class Gateway:
    name: str  # the target as given, or Prometheus' instance label
    reach: Reach
    reason: str  # why it is not "up" ("" when it is)
    summary: Summary | None
    details: Details | None  # from a direct scrape; through Prometheus only when asked
    fetched_at: float

    def age(self, now: float) -> float | None:
        if self.summary is None or self.summary.sampled_at is None:
            return None
        return max(0.0, now - self.summary.sampled_at)

    def cert_days(self, now: float) -> float | None:
        if self.summary is None or self.summary.cert_expiry is None:
            return None
        return (self.summary.cert_expiry - now) / 86400.0

    def status(self, now: float, stale_after: float = STALE_AFTER) -> tuple[Severity, str]:
        """The worst of what the agent says, and why in a few words; "unknown" when it cannot be asked."""
        if self.reach != "up" or self.summary is None:
            return "unknown", self.reason
        s = self.summary
        levels: list[Severity] = []
        why: list[str] = []
        if s.critical:
            levels.append("critical")
            why.append(f"{s.critical} critical")
        if s.warning:
            levels.append("warning")
            why.append(f"{s.warning} warning")
        if s.ports_down:
            levels.append("critical")
            why.append(f"{s.ports_down} port{'s' if s.ports_down > 1 else ''} down")
        if s.sockets_wrong:
            levels.append("warning")
            why.append(f"{s.sockets_wrong} socket{'s' if s.sockets_wrong > 1 else ''} wrong")
        if s.flood:
            levels.append("critical")
            why.append("SMTP flood")
        if s.peers_down:
            levels.append("warning")
            why.append(f"{s.peers_down} peer{'s' if s.peers_down > 1 else ''} unreachable")
        days = self.cert_days(now)
        if days is not None and days < CERT_WARN_DAYS:
            levels.append("critical" if days < 0 else "warning")
            why.append("certificate expired" if days < 0 else f"certificate expires in {max(0, int(days))} d")
        age = self.age(now)
        if age is not None and age > stale_after:
            levels.append("warning")
            why.append(f"data {int(age)} s old")
        return worst(levels), ", ".join(why)


@dataclass(frozen=True, slots=True)
class Fleet:
    source: str  # where the rows come from, for the header
    gateways: tuple[Gateway, ...]
    error: str | None  # the source itself failed (Prometheus down): no rows, the reason
    fetched_at: float


def is_agent(samples: Iterable[Series]) -> bool:
    return any(s.name == AGE for s in samples)


def _finite(value: float) -> bool:
    return not (math.isnan(value) or math.isinf(value))


def summarize(samples: Iterable[Series], fetched_at: float) -> Summary:
    """A row's numbers from one agent's samples (a direct scrape; taken at ``fetched_at``)."""
    crit = warn = ports_down = sockets_wrong = peers_down = peers = 0
    counted: dict[str, float] = {}
    finding_counts: dict[str, int] = {}
    flood: bool | None = None
    rate: float | None = None
    expiry: float | None = None
    sampled_at: float | None = None
    for s in samples:
        if s.name == "mbtop_findings" and _finite(s.value):
            counted[s.label("severity")] = counted.get(s.label("severity"), 0.0) + s.value
        elif s.name == "mbtop_finding" and s.value == 1:
            sev = s.label("severity")
            finding_counts[sev] = finding_counts.get(sev, 0) + 1
        elif s.name == "mbtop_port_listening" and s.value == 0:
            ports_down += 1
        elif s.name == "mbtop_socket_ok" and s.value == 0:
            sockets_wrong += 1
        elif s.name == "mbtop_flood_alert" and _finite(s.value):
            flood = bool(flood) or s.value >= 1
        elif s.name == "mbtop_flood_new_connections_per_second" and _finite(s.value):
            rate = s.value if rate is None else max(rate, s.value)
        elif s.name == "mbtop_certificate_expiry_timestamp_seconds" and _finite(s.value) and s.value > 0:
            expiry = s.value if expiry is None else min(expiry, s.value)
        elif s.name == "mbtop_cluster_peer_up":
            peers += 1
            peers_down += s.value != 1
        elif s.name == AGE and _finite(s.value):
            sampled_at = fetched_at - max(0.0, s.value)
    # The counts when exported; else the active findings counted one by one.
    source: dict[str, float] = counted or {k: float(v) for k, v in finding_counts.items()}
    crit = int(source.get("critical", 0))
    warn = int(source.get("warning", 0))
    return Summary(crit, warn, ports_down, sockets_wrong, flood, rate, expiry, peers_down, peers, sampled_at)


def detail(samples: Iterable[Series]) -> Details:
    """The findings, ports, sockets and peers of one agent's samples, in a stable order."""
    findings: set[FleetFinding] = set()
    listening: dict[tuple[str, str], bool] = {}
    conns: dict[tuple[str, str], dict[str, float]] = {}
    sockets: set[FleetSocket] = set()
    peers: dict[str, bool] = {}
    for s in samples:
        if s.name == "mbtop_finding" and s.value == 1:
            findings.add(FleetFinding(s.label("severity"), s.label("code"), s.label("target")))
        elif s.name == "mbtop_port_listening":
            listening[(s.label("port"), s.label("daemon"))] = s.value == 1
        elif s.name == "mbtop_port_connections" and _finite(s.value):
            by_state = conns.setdefault((s.label("port"), s.label("daemon")), {})
            by_state[s.label("state")] = by_state.get(s.label("state"), 0.0) + s.value
        elif s.name == "mbtop_socket_ok":
            sockets.add(FleetSocket(s.label("path"), s.label("daemon"), s.value == 1))
        elif s.name == "mbtop_cluster_peer_up":
            peers[s.label("peer")] = s.value == 1
    keys = sorted(set(listening) | set(conns), key=_port_order)
    ports = tuple(
        FleetPort(port, daemon, listening.get((port, daemon)), tuple(sorted(conns.get((port, daemon), {}).items())))
        for port, daemon in keys
    )
    return Details(
        tuple(sorted(findings, key=lambda f: (-SEVERITY_RANK.get(f.severity, 1), f.code, f.target))),
        ports,
        tuple(sorted(sockets, key=lambda s: (s.ok, s.path, s.daemon))),
        tuple(sorted(peers.items())),
    )


def _port_order(key: tuple[str, str]) -> tuple[int, str, str]:
    port, daemon = key
    return (int(port) if port.isdigit() else 1 << 20, port, daemon)
