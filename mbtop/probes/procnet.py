"""Fallback socket source: /proc/net/tcp{,6} and /proc/net/unix.

Used when netlink sock_diag is unavailable.  Slower and with less detail (no
listen backlog, no socket-file inode), but always readable.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable
from pathlib import Path

from mbtop.probes.types import TCP_STATES, InetSocket, UnixSocket

SO_ACCEPTCON = 0x00010000
SS_CONNECTED = 3


def _hex_addr(text: str, family: int) -> str:
    raw = bytes.fromhex(text)
    # The kernel prints each 32-bit word in host (little-endian) order.
    fixed = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    return socket.inet_ntop(family, fixed)


def parse_tcp(text: str, family: int, ports: frozenset[int] | None = None) -> list[InetSocket]:
    out: list[InetSocket] = []
    for line in text.splitlines()[1:]:
        f = line.split()
        if len(f) < 10:
            continue
        laddr, lport_hex = f[1].rsplit(":", 1)
        lport = int(lport_hex, 16)
        if ports is not None and lport not in ports:
            continue
        raddr, rport_hex = f[2].rsplit(":", 1)
        tx, rx = f[4].split(":")
        state = TCP_STATES.get(int(f[3], 16), f"UNKNOWN_{f[3]}")
        out.append(
            InetSocket(
                family,
                state,
                _hex_addr(laddr, family),
                lport,
                _hex_addr(raddr, family),
                int(rport_hex, 16),
                int(f[9]),
                int(f[7]),
                int(rx, 16),
                int(tx, 16),
                0,
            )
        )
    return out


def tcp_sockets(ports: Iterable[int] | None = None, proc: Path = Path("/proc")) -> list[InetSocket]:
    wanted = frozenset(ports) if ports is not None else None
    out: list[InetSocket] = []
    for name, family in (("tcp", socket.AF_INET), ("tcp6", socket.AF_INET6)):
        try:
            text = (proc / "net" / name).read_text(encoding="ascii", errors="replace")
        except FileNotFoundError:
            continue  # IPv6 disabled
        out.extend(parse_tcp(text, family, wanted))
    return out


def parse_unix(text: str) -> list[UnixSocket]:
    out: list[UnixSocket] = []
    for line in text.splitlines()[1:]:
        f = line.split(maxsplit=7)
        if len(f) < 7:
            continue
        flags = int(f[3], 16)
        stype = int(f[4], 16)
        st = int(f[5], 16)
        path = f[7] if len(f) > 7 else None
        listening = bool(flags & SO_ACCEPTCON)
        out.append(
            UnixSocket(
                inode=int(f[6]),
                type=stype,
                listening=listening,
                connected=st == SS_CONNECTED,
                path=path,
                vfs_inode=None,
                vfs_dev=None,
                peer=None,
                pending=0,
                backlog=None,
            )
        )
    return out


def unix_sockets(proc: Path = Path("/proc")) -> list[UnixSocket]:
    return parse_unix((proc / "net" / "unix").read_text(encoding="utf-8", errors="surrogateescape"))
