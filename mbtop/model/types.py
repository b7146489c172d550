"""What mbtop concludes about the gateway: a Snapshot of ports and sockets with Findings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from mbtop.catalog import PortSpec, SocketSpec
from mbtop.probes.cluster import ClusterState
from mbtop.probes.firewall import FirewallState, PortFirewall
from mbtop.probes.health import Health
from mbtop.probes.services import ServiceState
from mbtop.probes.types import SocketFile

if TYPE_CHECKING:
    from mbtop.model.queue import QueueState
    from mbtop.probes.vitals import Vitals

Severity = Literal["ok", "warning", "critical", "unknown"]
SEVERITY_RANK: dict[str, int] = {"ok": 0, "unknown": 1, "warning": 2, "critical": 3}


def worst(severities: list[Severity] | tuple[Severity, ...], default: Severity = "ok") -> Severity:
    best: Severity = default
    for s in severities:
        if SEVERITY_RANK[s] > SEVERITY_RANK[best]:
            best = s
    return best


@dataclass(frozen=True, slots=True)
class Finding:
    severity: Severity
    code: str
    message: str  # one line: what is wrong
    fix: str  # in words: what to do about it
    port: int | None = None
    path: str | None = None
    action: str | None = None  # the mbtop action that fixes it, e.g. "free-port 6379"


@dataclass(frozen=True, slots=True)
class Listener:
    address: str
    port: int
    inode: int
    pid: int | None
    process: str | None
    user: str | None
    cmdline: tuple[str, ...]
    started: float | None
    expected: bool | None  # the process belongs to the port's service; None when unknown
    main: bool  # the group's root process (postfix master, nginx master)
    accept_queue: int
    backlog: int | None


@dataclass(frozen=True, slots=True)
class PortStatus:
    spec: PortSpec
    listening: bool
    listeners: tuple[Listener, ...]
    connections_total: int
    by_state: tuple[tuple[str, int], ...]  # sorted by count, descending
    top_remotes: tuple[tuple[str, int], ...]
    accept_queue: int
    backlog: int | None
    findings: tuple[Finding, ...]
    status: Severity
    reason: str
    firewall: PortFirewall | None = None  # None: not read (yet)
    health: Health | None = None  # None: not checked (yet)

    @property
    def key(self) -> str:
        return f"port:{self.spec.port}"

    def state_count(self, state: str) -> int:
        return dict(self.by_state).get(state, 0)


@dataclass(frozen=True, slots=True)
class SocketStatus:
    spec: SocketSpec
    file: SocketFile
    accepting: bool
    listeners: tuple[Listener, ...]  # address = the bound path; port = 0
    clients: int
    pending: int
    backlog: int | None
    findings: tuple[Finding, ...]
    status: Severity
    reason: str
    health: Health | None = None

    @property
    def key(self) -> str:
        return f"socket:{self.spec.id}"


@dataclass(frozen=True, slots=True)
class Snapshot:
    host: str
    taken_at: float
    root: bool
    ports: tuple[PortStatus, ...]
    sockets: tuple[SocketStatus, ...]
    findings: tuple[Finding, ...]  # every finding, worst first
    notes: tuple[str, ...]  # what could not be seen and why
    sources: tuple[tuple[str, str], ...]  # ("tcp", "netlink"), ("unix", "proc"), ...
    status: Severity
    firewall: FirewallState | None = None
    services: tuple[ServiceState, ...] = ()
    queue: QueueState | None = None  # None: not read (mbtop.model.vitals.extend adds it)
    vitals: Vitals | None = None
    cluster: ClusterState | None = None  # None: no peers configured (mbtop.model.cluster.extend adds it)

    def count(self, severity: Severity) -> int:
        return sum(1 for f in self.findings if f.severity == severity)
