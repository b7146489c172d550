"""What ``block`` must never cut off: this host's own addresses and the operators' SSH sessions.

* every address of every interface, up or down (pyroute2: RTM_GETADDR), read when the block
  is planned, whether or not the firewall was read;
* every SSH peer: the remote end of each established TCP connection held by an ``sshd``
  process on this host (from the socket table, so a re-attached tmux or a mosh session
  counts too), and SSH_CONNECTION/SSH_CLIENT of mbtop's ancestors.

A list that cannot be read is a reason to refuse, never an empty list.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterable
from pathlib import Path

from mbtop.actions.safety import ssh_client_addresses
from mbtop.probes import procnet, sockdiag

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
SSHD_NAMES = frozenset({"sshd", "sshd-session"})  # OpenSSH ≥ 9.8 names its per-session process sshd-session
TCP_ESTABLISHED_MASK = 1 << 1
WIDEST = {4: 8, 6: 32}  # broader networks need --force


class Unreadable(OSError):
    """A list block depends on could not be read."""


def _address(text: str) -> IPAddress | None:
    try:
        addr = ipaddress.ip_address(text.split("%")[0])
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


def host_addresses() -> list[IPAddress]:
    """Every IPv4 and IPv6 address of every interface of this host (its network namespace), up or not."""
    from pyroute2 import IPRoute

    found: list[IPAddress] = []
    try:
        with IPRoute() as ipr:
            for msg in ipr.get_addr():
                for attr in ("IFA_LOCAL", "IFA_ADDRESS"):  # on a point-to-point link these two differ
                    value = msg.get_attr(attr)
                    addr = _address(value) if isinstance(value, str) else None
                    if addr is not None and addr not in found:
                        found.append(addr)
    except Exception as exc:  # noqa: BLE001 - pyroute2 raises its own netlink errors as well as OSError
        raise Unreadable(f"this host's addresses could not be read ({exc})") from None
    return found


def _sshd_inodes(proc: Path = Path("/proc")) -> set[int]:
    """Socket inodes held by sshd processes."""
    inodes: set[int] = set()
    try:
        entries = [e for e in os.listdir(proc) if e.isdigit()]
    except OSError as exc:
        raise Unreadable(f"{proc}: {exc.strerror}") from None
    for pid in entries:
        try:
            if (proc / pid / "comm").read_text().strip() not in SSHD_NAMES:
                continue
            fds = os.listdir(proc / pid / "fd")
        except OSError:
            continue  # gone, or not ours to read (not root: block is refused anyway)
        for fd in fds:
            try:
                target = os.readlink(proc / pid / "fd" / fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(int(target[8:-1]))
    return inodes


def ssh_peers(proc: Path = Path("/proc")) -> set[IPAddress]:
    """Remote ends of sshd's established TCP connections on this host."""
    inodes = _sshd_inodes(proc)
    if not inodes:
        return set()
    try:
        sockets = sockdiag.tcp_sockets(state_mask=TCP_ESTABLISHED_MASK)
    except OSError:
        sockets = [s for s in procnet.tcp_sockets(proc=proc) if s.state == "ESTABLISHED"]
    out: set[IPAddress] = set()
    for s in sockets:
        if s.inode in inodes and s.state == "ESTABLISHED":
            addr = _address(s.remote_address)
            if addr is not None:
                out.add(addr)
    return out


def _first_inside(net: Network, addrs: Iterable[IPAddress]) -> IPAddress | None:
    for a in addrs:
        if a.version == net.version and a in net:
            return a
    return None


def refusal(net: Network, force: bool = False) -> str | None:
    """Why blocking ``net`` must not be done, or None."""
    if net.prefixlen == 0:
        return "that is every address"
    first = net.network_address
    if first.is_loopback or first.is_unspecified or first.is_multicast:
        return f"{net} is a loopback, unspecified or multicast address"
    widest = WIDEST[net.version]
    if net.prefixlen < widest and not force:
        return (
            f"{net} is broader than /{widest} ({net.num_addresses:,} addresses): "
            "give --force if you really mean to block all of them"
        )
    for text in ssh_client_addresses():
        addr = _address(text)
        if addr is not None and _first_inside(net, [addr]) is not None:
            return f"{net} contains {addr}, the address your SSH session comes from"
    try:
        peer = _first_inside(net, ssh_peers())
        if peer is not None:
            return f"{net} contains {peer}, the address of an SSH session to this host"
        own = _first_inside(net, host_addresses())
        if own is not None:
            return f"{net} contains {own}, an address of this host"
    except Unreadable as exc:
        return f"cannot check what {net} would cut off: {exc}"
    return None
