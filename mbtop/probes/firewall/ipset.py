"""``ipset save`` → who is in each set, for ``-m set --match-set NAME src``.

Only sets of plain addresses or networks are read (``hash:ip``, ``hash:net``,
``bitmap:ip``, with their ``netmask``); a set of another type (``hash:ip,port``,
``list:set``, ...) or one with ``nomatch`` entries (exceptions inside networks)
is left unread, and its matches stay undecidable.  The members are those of
the moment of reading (fail2ban adds and removes them): they are re-read with
the rules.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from mbtop.probes.firewall.engine import IPNetwork
from mbtop.probes.firewall.matchers import address_range

TYPES = frozenset({"hash:ip", "hash:net", "bitmap:ip"})


@dataclass(frozen=True, slots=True)
class IpSet:
    name: str
    kind: str
    family: int  # 4 or 6
    nets: tuple[IPNetwork, ...] | None  # None: its members cannot be told (type, nomatch entries)


def _member(text: str, family: int, netmask: int | None) -> list[IPNetwork]:
    if "-" in text:
        lo, _, hi = text.partition("-")
        nets = address_range(lo, hi)
    else:
        nets = [ipaddress.ip_network(text, strict=False)]
    out: list[IPNetwork] = []
    for n in nets:
        if n.version != family:
            raise ValueError("member of another family")
        out.append(n.supernet(new_prefix=netmask) if netmask is not None and n.prefixlen > netmask else n)
    return out


def parse_save(text: str) -> dict[str, IpSet]:
    """Every set ``ipset save`` printed, by name."""
    meta: dict[str, tuple[str, int, int | None]] = {}
    members: dict[str, list[IPNetwork] | None] = {}
    for raw in text.splitlines():
        f = raw.split()
        if len(f) >= 3 and f[0] == "create":
            name, kind, opts = f[1], f[2], f[3:]
            option = dict(zip(opts[::2], opts[1::2], strict=False))  # "family inet6 hashsize 1024 ..."
            family = 6 if option.get("family") == "inet6" else 4  # bitmap:ip has no family: IPv4
            mask = option.get("netmask", "")
            netmask = int(mask) if mask.isdigit() else None
            meta[name] = (kind, family, netmask)
            members[name] = [] if kind in TYPES else None
        elif len(f) >= 3 and f[0] == "add" and f[1] in meta:
            got = members.get(f[1])
            if got is None:
                continue
            kind, family, netmask = meta[f[1]]
            if "nomatch" in f[3:]:
                members[f[1]] = None  # an exception inside a member network: not modelled
                continue
            try:
                got.extend(_member(f[2], family, netmask))
            except (ValueError, TypeError):
                members[f[1]] = None
    out: dict[str, IpSet] = {}
    for name, (kind, family, _netmask) in meta.items():
        nets = members.get(name)
        out[name] = IpSet(name, kind, family, tuple(nets) if nets is not None else None)
    return out
