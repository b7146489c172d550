"""Values the probes return. Immutable; high-volume records are NamedTuples for speed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

TCP_STATES: dict[int, str] = {
    1: "ESTABLISHED",
    2: "SYN_SENT",
    3: "SYN_RECV",
    4: "FIN_WAIT1",
    5: "FIN_WAIT2",
    6: "TIME_WAIT",
    7: "CLOSE",
    8: "CLOSE_WAIT",
    9: "LAST_ACK",
    10: "LISTEN",
    11: "CLOSING",
    12: "SYN_RECV",  # TCP_NEW_SYN_RECV: a request socket; ss prints it as SYN-RECV
}
LISTEN = 10


class InetSocket(NamedTuple):
    """One TCP socket as sock_diag (or /proc/net/tcp) reports it."""

    family: int  # socket.AF_INET or AF_INET6
    state: str  # kernel name, e.g. "ESTABLISHED", "LISTEN"
    local_address: str
    local_port: int
    remote_address: str
    remote_port: int
    inode: int
    uid: int
    recv_q: int  # LISTEN: connections waiting in the accept queue
    send_q: int  # LISTEN: the backlog (accept queue limit); None-like 0 from /proc
    interface: int = 0  # bound device index (SO_BINDTODEVICE / link-local scope), 0 if none


class UnixSocket(NamedTuple):
    """One AF_UNIX socket as sock_diag (or /proc/net/unix) reports it."""

    inode: int
    type: int  # socket.SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET
    listening: bool
    connected: bool
    path: str | None  # "@name" for abstract sockets, None when unbound
    vfs_inode: int | None  # inode of the socket file on disk (bound sockets, netlink only)
    vfs_dev: int | None
    peer: int | None
    pending: int  # LISTEN: connections not yet accepted
    backlog: int | None  # LISTEN: accept queue limit, None when unknown


@dataclass(frozen=True, slots=True)
class InetTable:
    sockets: tuple[InetSocket, ...]
    source: str  # "netlink" or "proc"
    error: str | None = None  # set when neither source could be read
    why_proc: str | None = None  # why /proc was read: sock_diag's error, or "--no-netlink"


@dataclass(frozen=True, slots=True)
class UnixTable:
    sockets: tuple[UnixSocket, ...]
    source: str
    error: str | None = None
    why_proc: str | None = None  # as InetTable's


@dataclass(frozen=True, slots=True)
class ProcessInfo:
    pid: int
    ppid: int
    name: str  # comm
    user: str | None
    uid: int | None
    cmdline: tuple[str, ...]
    started: float | None  # epoch seconds
    start_ticks: int | None  # /proc/PID/stat field 22: guards against pid reuse


@dataclass(frozen=True, slots=True)
class ParentDir:
    path: str
    uid: int
    gid: int
    mode: int  # permission bits incl. sticky


@dataclass(frozen=True, slots=True)
class SocketFile:
    """What ``lstat`` says about a documented socket path (links are never followed)."""

    path: str
    exists: bool
    kind: str | None  # "socket", "file", "directory", "symlink", "other"
    uid: int | None = None
    gid: int | None = None
    owner: str | None = None
    group: str | None = None
    mode: int | None = None
    inode: int | None = None
    dev: int | None = None
    link_target: str | None = None
    parents: tuple[ParentDir, ...] = ()
    error: str | None = None  # e.g. "permission denied on /var/run/mailborder"
