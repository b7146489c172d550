"""Matches the parsers build: addresses, interfaces, ports, constants (shared by iptables and nft)."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import Literal

from mbtop.probes.firewall.engine import IPAddress, IPNetwork, Match, Outcome, Packet, Rate


def net_match(text: str, nets: Sequence[IPNetwork], negate: bool, field_: Literal["saddr", "daddr"]) -> Match:
    def inside(addr: IPAddress) -> bool:
        return any(addr.version == n.version and addr in n for n in nets)

    def test(pkt: Packet) -> Outcome:
        if field_ == "saddr":
            return "yes" if inside(pkt.saddr) != negate else "no"
        # The host has several addresses: a sender may pick any of them.
        hits = {inside(a) != negate for a in (pkt.daddrs or (pkt.daddr,))}
        return "unknown" if len(hits) > 1 else "yes" if hits.pop() else "no"

    sources = tuple(nets) if field_ == "saddr" else ()
    return Match(text, test, sources=sources, within=sources if not negate else ())


def iface_matches(pattern: str, name: str) -> bool:
    if pattern.endswith("+"):
        return name.startswith(pattern[:-1])
    if pattern.endswith("*"):  # nft wildcard
        return name.startswith(pattern[:-1])
    return name == pattern


def iface_match(text: str, patterns: Sequence[str], negate: bool) -> Match:
    def test(pkt: Packet) -> Outcome:
        hit = any(iface_matches(p, pkt.iface) for p in patterns)
        return "yes" if hit != negate else "no"

    return Match(text, test)


def port_match(text: str, ranges: Sequence[tuple[int, int]], negate: bool, which: Literal["dport", "sport"]) -> Match:
    def test(pkt: Packet) -> Outcome:
        port = pkt.dport if which == "dport" else pkt.sport
        hit = any(lo <= port <= hi for lo, hi in ranges)
        if which == "sport":
            # An outside client's source port is arbitrary: a source-port
            # condition cannot be decided for "a new connection".
            return "unknown"
        return "yes" if hit != negate else "no"

    return Match(text, test)


def const_match(text: str, outcome: Outcome, rate: str | None = None, value: Rate | None = None) -> Match:
    return Match(text, lambda _pkt: outcome, rate=rate, value=value)


def family_match(text: str, family: Literal[4, 6]) -> Match:
    return Match(text, lambda pkt: "yes" if pkt.family == family else "no")


def address_range(first: str, last: str) -> list[IPNetwork]:
    """``a-b`` as networks; ValueError/TypeError when not two addresses of one family."""
    lo, hi = ipaddress.ip_address(first.strip()), ipaddress.ip_address(last.strip())
    if isinstance(lo, ipaddress.IPv4Address) and isinstance(hi, ipaddress.IPv4Address):
        return list(ipaddress.summarize_address_range(lo, hi))
    if isinstance(lo, ipaddress.IPv6Address) and isinstance(hi, ipaddress.IPv6Address):
        return list(ipaddress.summarize_address_range(lo, hi))
    raise ValueError("range across families")


def parse_net(text: str) -> IPNetwork:
    return ipaddress.ip_network(text.strip(), strict=False)
