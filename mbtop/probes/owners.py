"""Socket inode -> owning processes, from /proc/PID/fd, kept between samples.

A full scan reads every fd link of every process; that is what makes
``ss -p`` slow.  The map is therefore incremental: each sample scans only
processes it has not seen, re-checks the few (pid, fd) pairs that hold the
inodes asked for, and falls back to a full rescan only when an asked-for inode
is unknown (rate-limited) or the periodic full rescan is due.

Only the inodes asked for (the listeners, a few dozen) are kept: a gateway under load has tens of
thousands of connected sockets, and an index of them all cost more memory than the rest of the
program.  An inode asked for later that a known process already held is found by the rescan for
unknown inodes.

Hand-written because the library is the bottleneck (``bench/libs_vs_hand.py``, loopback
connections to port 25 in a namespace, this 2-core machine): the steady refresh takes 0.3 ms at
10,002 sockets and 0.7 ms at 50,007 (a cold one, every fd of every process, 211 ms and 1,041 ms),
while ``psutil.net_connections("tcp")``, the library's only way from a socket to its process,
reads every fd and parses every socket on each call: 743 ms and 4,285 ms.  A process's details
(name, user, command line, parent, start) come from psutil.
"""

from __future__ import annotations

import os
import pwd
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import psutil

from mbtop.probes.types import ProcessInfo

FULL_RESCAN_EVERY = 60.0  # seconds: catches fds passed to already-known processes
MISSING_RESCAN_EVERY = 10.0  # seconds: inodes nobody can be found for (other netns, no root)


@dataclass(frozen=True, slots=True)
class Owners:
    by_inode: dict[int, tuple[ProcessInfo, ...]]
    denied: bool  # some processes' fds could not be read: owners may be incomplete (not root)


class OwnerMap:
    def __init__(self, proc: Path = Path("/proc")) -> None:
        self._proc = proc
        self._root = str(proc)  # paths built as strings: pathlib was most of a steady refresh's time
        self._ticks_now: dict[int, int | None] = {}  # pid -> start ticks read during this refresh
        self._fds: dict[int, dict[int, int]] = {}  # pid -> {socket inode: fd}
        self._start: dict[int, int | None] = {}  # pid -> start ticks when scanned
        self._index: dict[int, set[int]] = {}  # inode -> pids
        self._info: dict[tuple[int, int | None], ProcessInfo] = {}
        self._denied: set[int] = set()
        self._last_full = float("-inf")
        self._last_missing_scan = float("-inf")
        self._boot: float | None = None
        self._users: dict[int, str | None] = {}
        self._keep: frozenset[int] = frozenset()  # the inodes asked for by the current refresh
        self.full_scans = 0  # for tests and benchmarks

    def _pids(self) -> set[int]:
        try:
            return {int(n) for n in os.listdir(self._proc) if n.isdigit()}
        except OSError:
            return set()

    def _start_ticks(self, pid: int) -> int | None:
        stat = self._read_stat(pid)
        return stat[1] if stat else None

    def _read_stat(self, pid: int) -> tuple[int, int] | None:
        """(ppid, start ticks) from /proc/PID/stat; the comm field may contain ') '."""
        try:
            with open(f"{self._root}/{pid}/stat", "rb") as fh:
                raw = fh.read()
        except OSError:
            return None
        try:
            rest = raw[raw.rindex(b")") + 2 :].split()
            return int(rest[1]), int(rest[19])
        except (ValueError, IndexError):
            return None

    def _scan_pid(self, pid: int) -> None:
        self._forget(pid)
        base = f"{self._root}/{pid}/fd"
        try:
            names = os.listdir(base)
        except PermissionError:
            self._denied.add(pid)
            self._start[pid] = self._start_ticks(pid)
            self._fds[pid] = {}
            return
        except OSError:
            return  # the process is gone: normal
        self._denied.discard(pid)
        start = self._start_ticks(pid)
        if start is None:
            return  # exited between the listing of its fds and its stat: gone, nothing to attribute
        found: dict[int, int] = {}
        readlink = os.readlink
        keep = self._keep
        for name in names:
            try:
                target = readlink(f"{base}/{name}")
            except OSError:
                continue
            if target.startswith("socket:["):
                inode = int(target[8:-1])
                if inode in keep:
                    found[inode] = int(name)
        if found and self._start_ticks(pid) != start:
            return  # exited (and its pid perhaps reused) while its fds were read: those fds were not its
        self._fds[pid] = found
        self._start[pid] = start
        index = self._index
        for inode in found:
            index.setdefault(inode, set()).add(pid)

    def _forget(self, pid: int) -> None:
        for inode in self._fds.pop(pid, {}):
            holders = self._index.get(inode)
            if holders is not None:
                holders.discard(pid)
                if not holders:
                    del self._index[inode]
        self._start.pop(pid, None)
        self._denied.discard(pid)

    def _still_holds(self, pid: int, inode: int) -> bool:
        fd = self._fds.get(pid, {}).get(inode)
        if fd is None:
            return False
        try:
            if os.readlink(f"{self._root}/{pid}/fd/{fd}") != f"socket:[{inode}]":
                return False
        except OSError:
            return False
        # The start ticks once per process and refresh (Postfix's master holds every listener).
        ticks = self._ticks_now.get(pid, -1)
        if ticks == -1:
            ticks = self._ticks_now[pid] = self._start_ticks(pid)
        return ticks == self._start.get(pid)

    def refresh(self, wanted: Iterable[int]) -> Owners:
        """Bring the map up to date for ``wanted`` inodes and return their owners."""
        now = time.monotonic()
        wanted_set = frozenset(i for i in wanted if i)
        self._keep = wanted_set
        pids = self._pids()
        for gone in set(self._fds) - pids:
            self._forget(gone)
        if now - self._last_full >= FULL_RESCAN_EVERY:
            self._full(pids, now)
        else:
            for pid in pids - set(self._fds):
                self._scan_pid(pid)
        # Verify the holders of what was asked for: a pid may have closed the fd or been reused.
        self._ticks_now = {}
        for inode in wanted_set:
            for pid in list(self._index.get(inode, ())):
                if not self._still_holds(pid, inode):
                    self._scan_pid(pid)
        missing = {i for i in wanted_set if not self._index.get(i)}
        if missing and now - self._last_missing_scan >= MISSING_RESCAN_EVERY and now != self._last_full:
            self._last_missing_scan = now
            self._full(pids, now)
        by_inode = {i: tuple(self.info(pid) for pid in sorted(self._index.get(i, ()))) for i in wanted_set}
        return Owners(
            by_inode={i: tuple(p for p in procs if p is not None) for i, procs in by_inode.items()},
            denied=bool(self._denied),
        )

    def _full(self, pids: set[int], now: float) -> None:
        self.full_scans += 1
        self._last_full = now
        for pid in pids:
            self._scan_pid(pid)

    def snapshot_index(self) -> dict[int, frozenset[int]]:
        """inode -> pids for every socket asked for and seen; to compare with a full rescan in tests."""
        return {i: frozenset(p) for i, p in self._index.items() if p}

    def info(self, pid: int) -> ProcessInfo | None:
        start = self._start.get(pid)
        key = (pid, start)
        cached = self._info.get(key)
        if cached is not None:
            return cached
        info = read_process(pid, self._boot_time(), self._user)
        if info is not None:
            if len(self._info) > 4096:
                self._info.clear()
            self._info[key] = info
        return info

    def _boot_time(self) -> float:
        if self._boot is None:
            self._boot = boot_time()
        return self._boot

    def _user(self, uid: int) -> str | None:
        if uid not in self._users:
            try:
                self._users[uid] = pwd.getpwuid(uid).pw_name
            except KeyError:
                self._users[uid] = None
        return self._users[uid]


def boot_time() -> float:
    """Epoch seconds the system booted (psutil; 0.0 when it cannot be read)."""
    try:
        return float(psutil.boot_time())
    except (OSError, RuntimeError):
        return 0.0


_CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def read_process(pid: int, boot: float, user_of: Callable[[int], str | None]) -> ProcessInfo | None:
    """A process's details (psutil, one read of its stat and status): None when it is gone."""
    try:
        process = psutil.Process(pid)
        with process.oneshot():
            uid = process.uids().effective
            ppid, name, started = process.ppid(), process.name(), process.create_time()
            try:
                cmdline = tuple(process.cmdline())
            except (psutil.AccessDenied, psutil.ZombieProcess):
                cmdline = ()
    except (psutil.Error, OSError, ValueError, IndexError):  # gone, or a stat line psutil cannot read
        return None
    return ProcessInfo(
        pid=pid,
        ppid=ppid,
        name=name,
        user=user_of(uid),
        uid=uid,
        cmdline=cmdline,
        started=started if boot else None,
        start_ticks=round((started - boot) * _CLK_TCK) if boot else None,
    )
