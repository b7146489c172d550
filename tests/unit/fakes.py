"""Hand-built probe values for pure model tests (no system is read: these are fakes by design)."""

from __future__ import annotations

import socket
from types import MappingProxyType

from mbtop.probes.sample import Sample
from mbtop.probes.types import InetSocket, InetTable, ProcessInfo, SocketFile, UnixSocket, UnixTable


def proc(pid: int, name: str, ppid: int = 1, user: str = "root") -> ProcessInfo:
    return ProcessInfo(pid, ppid, name, user, 0, (name,), 1_700_000_000.0, 100)


def listen(addr: str, port: int, inode: int, queue: int = 0, backlog: int = 128) -> InetSocket:
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    return InetSocket(
        fam, "LISTEN", addr, port, "0.0.0.0" if fam == socket.AF_INET else "::", 0, inode, 0, queue, backlog
    )


def conn(port: int, remote: str, state: str = "ESTABLISHED") -> InetSocket:
    return InetSocket(socket.AF_INET, state, "127.0.0.1", port, remote, 40000, 0, 0, 0, 0)


def sockfile(
    path: str,
    kind: str | None = "socket",
    owner: str = "mailborder",
    group: str = "www-data",
    mode: int = 0o660,
    inode: int = 500,
    target: str | None = None,
) -> SocketFile:
    if kind is None:
        return SocketFile(path=path, exists=False, kind=None)
    return SocketFile(
        path=path,
        exists=True,
        kind=kind,
        uid=1,
        gid=1,
        owner=owner,
        group=group,
        mode=mode,
        inode=inode,
        dev=1,
        link_target=target,
    )


def ulisten(path: str, inode: int, vfs: int | None) -> UnixSocket:
    return UnixSocket(inode, socket.SOCK_STREAM, True, False, path, vfs, 1 if vfs else None, None, 0, 128)


def uclient(path: str, inode: int, vfs: int | None) -> UnixSocket:
    return UnixSocket(inode, socket.SOCK_STREAM, False, True, path, vfs, 1 if vfs else None, inode + 1, 0, None)


def sample(
    tcp: list[InetSocket] | None = None,
    unix: list[UnixSocket] | None = None,
    files: dict[str, SocketFile] | None = None,
    owners: dict[int, tuple[ProcessInfo, ...]] | None = None,
    denied: bool = False,
    tcp_error: str | None = None,
) -> Sample:
    files = files or {}
    return Sample(
        taken_at=1_700_000_000.0,
        monotonic=1.0,
        host="gw",
        root=not denied,
        tcp=InetTable(tuple(tcp or ()), "netlink", tcp_error),
        unix=UnixTable(tuple(unix or ()), "netlink"),
        files=MappingProxyType(files),
        aliases=MappingProxyType({p: frozenset({p}) for p in files}),
        owners=MappingProxyType(owners or {}),
        owners_denied=denied,
    )
