"""The address space cut where the rules cut it.

Every source network a rule names (negated ones too) is a boundary; between
two boundaries every address meets the same source conditions, so one sender
per piece ("atom") stands for all of it exactly.  Addresses no host can get a
TCP connection from (loopback, multicast, the unspecified and reserved ranges)
are left out.
"""

from __future__ import annotations

import bisect
import ipaddress
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from mbtop.probes.firewall.engine import IPAddress, IPNetwork

NOT_SENDERS = {
    4: tuple(ipaddress.ip_network(n) for n in ("0.0.0.0/8", "127.0.0.0/8", "224.0.0.0/4", "240.0.0.0/4")),
    6: tuple(ipaddress.ip_network(n) for n in ("::/127", "::ffff:0:0/96", "ff00::/8")),
}
TOP = {4: 2**32 - 1, 6: 2**128 - 1}


@dataclass(frozen=True, slots=True)
class Atom:
    """A run of addresses ``first``..``last`` that every source condition treats alike."""

    family: int
    first: int
    last: int
    named: bool  # inside some network a rule names (False: "anyone else")

    @property
    def sender(self) -> IPAddress:
        """An address to try: inside the atom, not its network address when it has room."""
        pick = self.first + 1 if self.last - self.first >= 2 else self.first
        return ipaddress.ip_address(pick) if self.family == 4 else ipaddress.IPv6Address(pick)

    @property
    def size(self) -> int:
        return self.last - self.first + 1


def _spans(nets: Iterable[IPNetwork], family: int) -> set[tuple[int, int]]:
    return {(int(n.network_address), int(n.broadcast_address)) for n in nets if n.version == family}


def atoms(nets: Iterable[IPNetwork], family: int) -> list[Atom]:
    """The address space of ``family`` (senders only) cut at every boundary of ``nets``."""
    named = _spans(nets, family)
    cuts = {0, TOP[family] + 1}
    for lo, hi in named:
        cuts.update((lo, hi + 1))
    for n in NOT_SENDERS[family]:
        cuts.update((int(n.network_address), int(n.broadcast_address) + 1))
    bounds = sorted(cuts)
    excluded = [(int(n.network_address), int(n.broadcast_address)) for n in NOT_SENDERS[family]]
    pieces = [(lo, nxt - 1) for lo, nxt in itertools.pairwise(bounds)]
    pieces = [(lo, hi) for lo, hi in pieces if not any(a <= lo and hi <= b for a, b in excluded)]
    # Which pieces some network (other than the whole space) covers: a sweep, not pieces x networks.
    inside = [0] * (len(pieces) + 1)
    firsts = [lo for lo, _ in pieces]
    for lo, hi in named:
        if (lo, hi) != (0, TOP[family]):
            inside[bisect.bisect_left(firsts, lo)] += 1
            inside[bisect.bisect_right(firsts, hi)] -= 1
    out: list[Atom] = []
    depth = 0
    for i, (lo, hi) in enumerate(pieces):
        depth += inside[i]
        out.append(Atom(family, lo, hi, depth > 0))
    return out


def classes(pieces: Sequence[Atom], groups: Sequence[Sequence[IPNetwork]]) -> list[frozenset[int]]:
    """For each atom, which of ``groups`` (one per source condition) hold it.

    Atoms that the same conditions hold are treated alike by every rule: one of
    them stands for all (a blocklist of thousands of addresses is one class, not
    thousands of evaluations).
    """
    if not pieces:
        return []
    family = pieces[0].family
    firsts = [a.first for a in pieces]
    member: list[set[int]] = [set() for _ in pieces]
    for k, nets in enumerate(groups):
        for lo, hi in _spans(nets, family):
            for i in range(bisect.bisect_left(firsts, lo), bisect.bisect_right(firsts, hi)):
                member[i].add(k)
    return [frozenset(m) for m in member]


def _fmt(net: IPNetwork) -> str:
    return str(net.network_address) if net.num_addresses == 1 else str(net)


def label(pieces: Sequence[Atom]) -> list[str]:
    """The atoms as the fewest networks, in address order ("198.18.7.7" for a single address)."""
    if not pieces:
        return []
    fam = pieces[0].family
    nets: list[IPNetwork] = []
    for a in pieces:
        if fam == 4:
            nets.extend(
                ipaddress.summarize_address_range(ipaddress.IPv4Address(a.first), ipaddress.IPv4Address(a.last))
            )
        else:
            nets.extend(
                ipaddress.summarize_address_range(ipaddress.IPv6Address(a.first), ipaddress.IPv6Address(a.last))
            )
    if fam == 4:
        merged: list[IPNetwork] = list(ipaddress.collapse_addresses([n for n in nets if n.version == 4]))
    else:
        merged = list(ipaddress.collapse_addresses([n for n in nets if n.version == 6]))
    return [_fmt(n) for n in merged]
