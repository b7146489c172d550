"""Protocol checks on their own schedule, each answer tied to the listener it came from.

A health answer describes one listener: the process (main pid) and the listening
socket (inode) that answered.  When a sample shows another listener on that port
or socket (the daemon restarted, stopped, or a squatter took its place), the old
answer no longer says anything about what is there: it is dropped at once
("checking…") and a round of checks runs without waiting for the next one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence

from mbtop.catalog import Catalog
from mbtop.probes.health import Health, Target, check_all
from mbtop.probes.sample import LISTEN_STATE, Sample, health_targets
from mbtop.probes.schedule import Periodic
from mbtop.probes.types import ProcessInfo

CHECKING = "checking…"
Identity = frozenset[tuple[int | None, int]]  # (main pid or None when unknown, socket inode)
Checker = Callable[[Sequence[Target], float], Mapping[str, Health]]


def _main(inode: int, owners: Mapping[int, tuple[ProcessInfo, ...]]) -> list[tuple[int | None, int]]:
    """The group's root processes holding ``inode`` (Postfix's master, not its smtpd children that
    come and go while sharing the socket)."""
    procs = owners.get(inode, ())
    pids = {p.pid for p in procs}
    roots = [p.pid for p in procs if p.ppid not in pids] or [p.pid for p in procs]
    return [(pid, inode) for pid in roots] or [(None, inode)]


def listeners(catalog: Catalog, sample: Sample) -> dict[str, Identity]:
    """Per health key ("port:25", "socket:redis"), who listens there now; empty when nobody does."""
    by_port: dict[int, set[tuple[int | None, int]]] = {p.port: set() for p in catalog.ports}
    for s in sample.tcp.sockets:
        group = by_port.get(s.local_port)
        if group is not None and s.state == LISTEN_STATE:
            group.update(_main(s.inode, sample.owners))
    out = {f"port:{port}": frozenset(group) for port, group in by_port.items()}
    for spec in catalog.sockets:
        file = sample.files.get(spec.path)
        names = sample.aliases.get(spec.path, frozenset({spec.path}))
        ident: set[tuple[int | None, int]] = set()
        if file is not None and file.kind == "socket" and file.inode:
            ident.add((None, file.inode))  # a new file at the path (a restart) is another listener too
            for u in sample.unix.sockets:
                if u.listening and (u.vfs_inode == file.inode or (u.vfs_inode is None and u.path in names)):
                    ident.update(_main(u.inode, sample.owners))
        out[f"socket:{spec.id}"] = frozenset(ident)
    return out


class HealthWatch:
    """Runs the protocol checks every ``every`` seconds in a thread of its own (a hung daemon never
    delays a sample); ``observe(sample)`` returns the answers that belong to that sample's listeners."""

    def __init__(self, catalog: Catalog, every: float, timeout: float, check: Checker = check_all) -> None:
        self.catalog = catalog
        self.timeout = timeout
        self._check = check
        self._lock = threading.Lock()
        self._sample: Sample | None = None
        self._results: dict[str, tuple[Identity, Health]] = {}
        self._checking: dict[str, str] = {}  # key -> protocol: answers dropped, a new one not in yet
        self._job: Periodic[None] = Periodic("health", self._round, every)

    def observe(self, sample: Sample) -> dict[str, Health]:
        """The answers still true of ``sample``'s listeners; for a listener that changed, the old answer
        is replaced by "checking…" and a round of checks is asked for at once."""
        now = listeners(self.catalog, sample)
        with self._lock:
            self._sample = sample
            stale = [k for k, (ident, _h) in self._results.items() if now.get(k, frozenset()) != ident]
            for key in stale:
                self._checking[key] = self._results.pop(key)[1].protocol
            out = {k: h for k, (_i, h) in self._results.items()}
            out.update({k: Health(None, CHECKING, protocol=proto) for k, proto in self._checking.items()})
        self._job.start()  # the first round needs a sample to know where to connect
        if stale:
            self._job.wake()
        return out

    def _round(self) -> None:
        with self._lock:
            sample = self._sample
        if sample is None:
            return
        ident = listeners(self.catalog, sample)
        results = self._check(health_targets(self.catalog, sample), self.timeout)
        with self._lock:
            for key, h in results.items():
                self._results[key] = (ident.get(key, frozenset()), h)
            self._checking.clear()  # a round checks every target: what it left out has nothing to check

    @property
    def rounds(self) -> int:
        return self._job.runs

    def stop(self) -> None:
        self._job.stop()
