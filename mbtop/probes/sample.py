"""One sample of the live system for the catalog's ports and sockets.

``Sampler`` keeps the state worth keeping between samples (the owner map);
each ``sample()`` returns an immutable ``Sample`` that the model turns into a
snapshot.  Nothing here raises on a normal system condition: a source that
cannot be read is recorded as an error string with the reason.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from mbtop.catalog import Catalog
from mbtop.probes import netstat, procnet, sockdiag, sockfiles
from mbtop.probes.firewall import FirewallState
from mbtop.probes.health import Health, Target, connect_address
from mbtop.probes.own import OWN
from mbtop.probes.owners import OwnerMap
from mbtop.probes.schedule import Periodic
from mbtop.probes.services import ServiceProbe, ServiceState
from mbtop.probes.types import InetSocket, InetTable, ProcessInfo, SocketFile, UnixSocket, UnixTable

LISTEN_STATE = "LISTEN"
SERVICES_EVERY = 5.0
# The share of one core that the connection table may take: its read (dump and decode) and what the
# live screen then does with it (rates, flood tracking). Listeners (and their accept queues) are
# read every sample; with tens of thousands of connections the table costs tens of milliseconds, so
# it is then read every few samples instead.
CONNECTIONS_BUDGET = 0.03
FRESH_RULES_WAIT = 30.0  # s an action's re-check waits for the rules read after it


@dataclass(frozen=True, slots=True)
class Sample:
    taken_at: float  # epoch seconds
    monotonic: float
    host: str
    root: bool
    tcp: InetTable
    unix: UnixTable  # only the sockets bound to documented paths (listeners and accepted)
    files: Mapping[str, SocketFile]  # catalog path -> lstat result
    aliases: Mapping[str, frozenset[str]]  # catalog path -> names it may be bound under
    owners: Mapping[int, tuple[ProcessInfo, ...]]  # listening inode -> processes
    owners_denied: bool  # not root: other users' processes could not be inspected
    notes: tuple[str, ...] = ()
    uptime: float | None = None  # seconds since boot, from /proc/uptime
    netstat: Mapping[str, int] = field(default_factory=dict)  # TcpExt counters (ListenOverflows, ...)
    firewall: FirewallState | None = None  # None: not read (--no-firewall, or a replay without it)
    health: Mapping[str, Health] = field(default_factory=dict)  # "port:25" / "socket:redis" -> result
    services: tuple[ServiceState, ...] = ()
    # When the connections (every socket but the listeners) were read, monotonic; None: with this
    # sample. A sampler on a budget reuses them between reads: then this is an earlier sample's time.
    connections_at: float | None = None
    connections_every: float = 0.0  # s between reads of the connection table; 0: every sample

    @property
    def fresh_connections(self) -> bool:
        return self.connections_at is None or self.connections_at == self.monotonic


def _netlink_error(exc: OSError) -> str:
    return os.strerror(exc.errno) if exc.errno else str(exc)


def _read_tcp(ports: tuple[int, ...], proc: Path, use_netlink: bool) -> InetTable:
    netlink_error: str | None = None
    if use_netlink:
        try:
            return InetTable(tuple(sockdiag.tcp_sockets(ports)), "netlink")
        except OSError as exc:
            netlink_error = _netlink_error(exc)
    try:
        return InetTable(tuple(procnet.tcp_sockets(ports, proc)), "proc", None, netlink_error or "--no-netlink")
    except OSError as exc:
        why = f"cannot read TCP sockets: {exc.strerror or exc}"
        if netlink_error:
            why += f" (and {netlink_error})"
        return InetTable((), "none", why)


def _read_unix(proc: Path, use_netlink: bool) -> UnixTable:
    netlink_error: str | None = None
    if use_netlink:
        try:
            return UnixTable(tuple(sockdiag.unix_sockets()), "netlink")
        except OSError as exc:
            netlink_error = _netlink_error(exc)
    try:
        return UnixTable(tuple(procnet.unix_sockets(proc)), "proc", None, netlink_error or "--no-netlink")
    except OSError as exc:
        return UnixTable((), "none", f"cannot read UNIX sockets: {exc.strerror or exc}")


def _why_proc(why: str | None) -> str:
    if why == "--no-netlink":
        return "--no-netlink"
    return f"netlink sock_diag unavailable ({why})" if why else "netlink sock_diag unavailable"


def without_own(table: InetTable, own: frozenset[tuple[str, int]]) -> InetTable:
    """The table without mbtop's own protocol-check connections."""
    if not own:
        return table
    addresses = {a for a, _ in own}
    keep = tuple(
        s for s in table.sockets if s.remote_address not in addresses or (s.remote_address, s.remote_port) not in own
    )
    return table if len(keep) == len(table.sockets) else dataclasses.replace(table, sockets=keep)


def path_aliases(path: str) -> frozenset[str]:
    """The names a daemon may have bound a documented path under (/var/run vs /run)."""
    names = {path}
    with contextlib.suppress(OSError):
        names.add(os.path.join(os.path.realpath(os.path.dirname(path)), os.path.basename(path)))
    return frozenset(names)


def relevant_unix(
    table: UnixTable, files: Mapping[str, SocketFile], aliases: Mapping[str, frozenset[str]]
) -> UnixTable:
    """Keep the sockets bound to a documented path, matched by file inode or by name."""
    inodes = {f.inode for f in files.values() if f.kind == "socket" and f.inode}
    names: set[str] = set()
    for group in aliases.values():
        names |= group
    keep: list[UnixSocket] = [
        s
        for s in table.sockets
        if (s.vfs_inode is not None and s.vfs_inode in inodes) or (s.path is not None and s.path in names)
    ]
    return dataclasses.replace(table, sockets=tuple(keep))


class Sampler:
    def __init__(
        self,
        catalog: Catalog,
        proc: Path = Path("/proc"),
        use_netlink: bool = True,
        firewall_every: float | None = 10.0,
        connections_budget: float | None = None,
        background: bool = False,
        service_probe: ServiceProbe | None = None,
    ) -> None:
        """``connections_budget``: read the connection table at most that share of one core (the
        live screen); None reads it with every sample (a one-shot snapshot).

        ``background``: the probes that run programs (the firewall's iptables-save/nft, init-script
        status) run in threads of their own on their own schedule, and a sample takes their latest
        answer without waiting (the live screen); otherwise a sample runs them when they are due."""
        self.catalog = catalog
        self._budget = connections_budget
        self._conns: tuple[InetSocket, ...] | None = None
        self._conns_at = 0.0
        self._conns_due = float("-inf")
        self._conns_every = 0.0
        self._conns_period = 0.0
        self._proc = proc
        self._netlink = use_netlink
        self._owners = OwnerMap(proc)
        self._host = socket.gethostname()
        # Rules change rarely and reading them runs iptables-save and nft: not every tick.
        self._fw_every = firewall_every
        self._fw: FirewallState | None = None
        self._fw_at = float("-inf")
        self._services = service_probe or ServiceProbe(catalog, proc)
        self._svc: tuple[ServiceState, ...] | None = None
        self._svc_at = float("-inf")
        self._fw_job: Periodic[FirewallState] | None = None
        self._svc_job: Periodic[tuple[ServiceState, ...]] | None = None
        if background:
            # Started now: the first answers are usually in before the first sample is taken.
            if firewall_every is not None:
                self._fw_job = Periodic("firewall", self._read_firewall, firewall_every).start()
            self._svc_job = Periodic("services", self._services.read, SERVICES_EVERY).start()

    def close(self) -> None:
        """Stop the background probes (a run under way finishes on its own)."""
        for job in (self._fw_job, self._svc_job):
            if job is not None:
                job.stop()

    def _read_firewall(self) -> FirewallState:
        from mbtop.probes.firewall.read import read

        return read(self.catalog.tcp_ports)

    def services(self) -> tuple[ServiceState, ...]:
        """Service states, read every SERVICES_EVERY seconds (a scan of the process table): a stopped
        daemon shows at once anyway, as a port that stopped listening."""
        if self._svc_job is not None:
            return self._svc_job.latest() or ()
        now = time.monotonic()
        if self._svc is None or now - self._svc_at >= SERVICES_EVERY:
            self._svc = self._services.read()
            self._svc_at = now
        return self._svc

    def firewall(self, force: bool = False) -> FirewallState | None:
        """The rules in force (None: not read); ``force`` reads them again now (after an action)."""
        if self._fw_every is None:
            return None
        if self._fw_job is not None:
            return self._fw_job.fresh(FRESH_RULES_WAIT) if force else self._fw_job.latest()
        now = time.monotonic()
        if force or self._fw is None or now - self._fw_at >= self._fw_every:
            self._fw = self._read_firewall()
            self._fw_at = now
        return self._fw

    @property
    def owner_map(self) -> OwnerMap:
        return self._owners

    def charge_connections(self, seconds: float) -> None:
        """CPU the caller spent on the last connection table (rates, flood tracking): counted in
        the budget like the read itself, so the next read waits for both."""
        if self._budget and self._conns is not None:
            extra = seconds / self._budget
            self._conns_every += extra
            self._conns_due += extra

    def read_connections_next(self) -> None:
        """The next sample reads the whole connection table, whatever the budget says."""
        self._conns_due = float("-inf")

    def _tcp(self, now: float) -> tuple[InetTable, float]:
        """The TCP table and when its connections were read: all of it when due, else fresh
        listeners with the connections of the last full read."""
        ports = self.catalog.tcp_ports
        if self._budget and self._conns is not None and now < self._conns_due:
            try:
                listeners = sockdiag.tcp_sockets(ports, state_mask=sockdiag.LISTEN_ONLY)
            except OSError:
                pass  # the full read below says why
            else:
                return InetTable((*listeners, *self._conns), "netlink"), self._conns_at
        start = time.thread_time()
        # mbtop's own protocol-check connections left out once, here: those made later are not in
        # the reused connections, and listeners are never ours.
        table = without_own(_read_tcp(ports, self._proc, self._netlink), OWN.current())
        cost = time.thread_time() - start
        if self._budget and table.source == "netlink":
            if self._conns is not None:
                self._conns_period = now - self._conns_at  # what the header shows: the real cadence
            self._conns = tuple(s for s in table.sockets if s.state != LISTEN_STATE)
            self._conns_at = now
            self._conns_every = cost / self._budget
            self._conns_due = now + self._conns_every - 0.05  # a tick's jitter must not skip a read
        else:
            self._conns = None
            self._conns_every = 0.0
        return table, now

    def sample(self) -> Sample:
        catalog = self.catalog
        now = time.monotonic()
        tcp, conns_at = self._tcp(now)
        files = {s.path: sockfiles.probe(s.path) for s in catalog.sockets}
        aliases = {s.path: path_aliases(s.path) for s in catalog.sockets}
        unix = relevant_unix(_read_unix(self._proc, self._netlink), files, aliases)
        wanted = [s.inode for s in tcp.sockets if s.state == LISTEN_STATE]
        wanted += [u.inode for u in unix.sockets if u.listening]
        owners = self._owners.refresh(wanted)
        root = os.geteuid() == 0
        notes: list[str] = []
        if tcp.source == "proc":
            notes.append(f"{_why_proc(tcp.why_proc)}: read /proc/net/tcp (no listen backlog)")
        if unix.source == "proc":
            notes.append(f"{_why_proc(unix.why_proc)}: read /proc/net/unix (sockets matched by path)")
        if owners.denied and not root:
            notes.append("not root: owners of other users' sockets are unknown (run with sudo)")
        return Sample(
            taken_at=time.time(),
            monotonic=now,
            host=self._host,
            root=root,
            tcp=tcp,
            unix=unix,
            files=MappingProxyType(files),
            aliases=MappingProxyType(aliases),
            owners=MappingProxyType(owners.by_inode),
            owners_denied=owners.denied,
            notes=tuple(notes),
            uptime=read_uptime(self._proc),
            netstat=MappingProxyType(netstat.read(self._proc)),
            firewall=self.firewall(),
            services=self.services(),
            connections_at=conns_at,
            connections_every=max(self._conns_every, self._conns_period) if self._conns_every > 1.0 else 0.0,
        )


def read_uptime(proc: Path) -> float | None:
    try:
        return float((proc / "uptime").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def health_targets(catalog: Catalog, sample: Sample) -> list[Target]:
    """What to check: every documented port (at a listening address, or loopback) and every socket file."""
    listen: dict[int, str] = {}
    for s in sample.tcp.sockets:
        if s.state == LISTEN_STATE and s.local_port not in listen:
            listen[s.local_port] = s.local_address
    targets = [
        Target(f"port:{p.port}", p.health, connect_address(listen.get(p.port)), p.port)
        for p in catalog.ports
        if p.port in listen or p.required
    ]
    for spec in catalog.sockets:
        f = sample.files.get(spec.path)
        if f is not None and f.kind == "socket":
            targets.append(Target(f"socket:{spec.id}", spec.health, path=spec.path))
    return targets
