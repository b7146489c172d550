"""What the host firewall does with a new inbound connection to each port.

``read()`` collects the rules in force (iptables-save/ip6tables-save, the
legacy tables when loaded, ``nft -j list ruleset``, ufw's rule files);
``analyse()`` evaluates, per port and per address family, a SYN from an
outside address on each of the host's interfaces, and from one address inside
each source network the rules name, and condenses that into a verdict:

* ``allow``      any outside address gets in,
* ``limit``      any outside address gets in, under a rate limit,
* ``restricted`` only the listed sources (or interfaces) get in,
* ``deny``       nobody from outside gets in,
* ``unknown``    the rules could not be read (with the reason).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from mbtop.probes.firewall.engine import (
    IPAddress,
    IPNetwork,
    Packet,
    Rate,
    Ruleset,
    Trace,
    evaluate,
)

FwVerdict = Literal["allow", "limit", "restricted", "deny", "unknown"]
Backend = Literal["ufw", "iptables", "nftables", "none", "unknown"]
OPENNESS: dict[str, int] = {"unknown": -1, "deny": 0, "restricted": 1, "limit": 2, "allow": 3}

OUTSIDERS_V4 = ("203.0.113.77", "198.51.100.77", "192.0.2.77", "100.64.7.77", "172.31.254.77", "10.254.7.77")
OUTSIDERS_V6 = ("2001:db8:ffff::77", "2001:db8::77", "fd7e::77")
MAX_EXCEPT = 20
FALLBACK_DADDR = {4: ipaddress.ip_address("192.0.2.1"), 6: ipaddress.ip_address("2001:db8::1")}


@dataclass(frozen=True, slots=True)
class FamilyVerdict:
    family: Literal[4, 6]
    verdict: FwVerdict
    sources: tuple[str, ...]  # for restricted: who gets in
    rule: str | None  # the rule (or policy) that decided, "chain: rule"
    limit: str | None  # the rate condition in force, when limited
    notes: tuple[str, ...] = ()
    excepted: tuple[str, ...] = ()  # for allow/limit: named sources that are kept out (blocklists, bans)
    rate: Rate | None = None  # the first rate limit on the way in, as numbers


@dataclass(frozen=True, slots=True)
class PortFirewall:
    port: int
    backend: Backend
    verdict: FwVerdict
    sources: tuple[str, ...]
    rule: str | None
    limit: str | None
    families: tuple[FamilyVerdict, ...]
    reason: str = ""  # why unknown
    excepted: tuple[str, ...] = ()
    rate: Rate | None = None

    @property
    def open_to_anyone(self) -> bool:
        return self.verdict in ("allow", "limit")


@dataclass(frozen=True, slots=True)
class FirewallState:
    backend: Backend
    active: bool  # some rule set filters inbound traffic
    ports: dict[int, PortFirewall]
    policies: tuple[str, ...]  # "IPv4 INPUT policy DROP (iptables)", ...
    established: bool | None  # established/related accepted before anything else
    reason: str = ""  # why unknown / what could not be read
    notes: tuple[str, ...] = ()
    interfaces: tuple[str, ...] = ()
    rules: int = 0  # how many rules were read

    def get(self, port: int) -> PortFirewall | None:
        return self.ports.get(port)


@dataclass(frozen=True, slots=True)
class Host:
    """The host's side of a connection: interfaces and addresses to evaluate with."""

    interfaces: tuple[str, ...]  # non-loopback
    addresses: dict[int, tuple[IPAddress, ...]] = field(default_factory=dict)  # family -> global addresses


def _representatives(nets: Iterable[IPNetwork], family: int) -> list[tuple[str, IPAddress]]:
    out: list[tuple[str, IPAddress]] = []
    seen: set[str] = set()
    for net in nets:
        if net.version != family or net.prefixlen == 0 or net.is_loopback:
            continue
        text = str(net) if net.num_addresses > 1 else str(net.network_address)
        if text in seen:
            continue
        seen.add(text)
        addr = net.network_address + 1 if net.num_addresses > 2 else net.network_address
        out.append((text, addr))
    return out


def _outsider(nets: Sequence[IPNetwork], family: int) -> IPAddress:
    pool = OUTSIDERS_V4 if family == 4 else OUTSIDERS_V6
    narrow = [n for n in nets if n.version == family and n.prefixlen > 0]
    for text in pool:
        addr = ipaddress.ip_address(text)
        if not any(addr in n for n in narrow):
            return addr
    return ipaddress.ip_address(pool[0])


def _all_sources(rulesets: Sequence[Ruleset]) -> list[IPNetwork]:
    nets: list[IPNetwork] = []
    for rs in rulesets:
        for chain in rs.chains.values():
            for rule in chain.rules:
                for m in rule.matches:
                    nets.extend(m.sources)
    return nets


def _family_verdict(rulesets: Sequence[Ruleset], port: int, family: Literal[4, 6], host: Host) -> FamilyVerdict:
    nets = _all_sources(rulesets)
    daddr = (host.addresses.get(family) or (FALLBACK_DADDR[family],))[0]
    ifaces = host.interfaces or ("eth0",)
    outsider = _outsider(nets, family)
    notes: list[str] = []

    def run(saddr: IPAddress, iface: str) -> Trace:
        trace = evaluate(rulesets, Packet(family, saddr, daddr, port, iface))
        for n in trace.uncertain:
            if n not in notes:
                notes.append(n)
        return trace

    outside = {iface: run(outsider, iface) for iface in ifaces}
    open_on = [i for i, t in outside.items() if t.verdict == "accept"]
    if open_on and len(open_on) == len(ifaces):
        trace = outside[open_on[0]]
        excepted = tuple(
            text for text, addr in _representatives(nets, family) if run(addr, ifaces[0]).verdict != "accept"
        )
        shown = excepted[:MAX_EXCEPT] + ((f"+{len(excepted) - MAX_EXCEPT} more",) if len(excepted) > MAX_EXCEPT else ())
        verdict: FwVerdict = "limit" if trace.rates else "allow"
        limit = "; ".join(dict.fromkeys(trace.rates)) or None
        rate = trace.values[0] if trace.values else None
        return FamilyVerdict(family, verdict, (), trace.decided_by, limit, tuple(notes), shown, rate)
    allowed: list[str] = [f"any via {i}" for i in open_on]
    deciding: Trace | None = outside[open_on[0]] if open_on else None
    for text, addr in _representatives(nets, family):
        for iface in ifaces:
            if iface in open_on:
                continue
            trace = run(addr, iface)
            if trace.verdict == "accept":
                label = (
                    text
                    if len(ifaces) == 1 or all(run(addr, i).verdict == "accept" for i in ifaces)
                    else (f"{text} via {iface}")
                )
                if label not in allowed:
                    allowed.append(label)
                deciding = deciding or trace
                break
    if allowed and deciding is not None:
        return FamilyVerdict(
            family,
            "restricted",
            tuple(allowed),
            deciding.decided_by,
            "; ".join(dict.fromkeys(deciding.rates)) or None,
            tuple(notes),
        )
    trace = outside[ifaces[0]]
    return FamilyVerdict(family, "deny", (), trace.decided_by, None, tuple(notes))


def _combine(verdicts: Sequence[FamilyVerdict]) -> FamilyVerdict:
    """The most open family decides the headline (what an attacker can reach)."""
    return max(verdicts, key=lambda v: OPENNESS[v.verdict])


def analyse(
    rulesets: Sequence[Ruleset], ports: Iterable[int], host: Host, backend: Backend, families: Sequence[Literal[4, 6]]
) -> dict[int, PortFirewall]:
    out: dict[int, PortFirewall] = {}
    for port in ports:
        per = tuple(_family_verdict(rulesets, port, f, host) for f in families)
        head = _combine(per)
        out[port] = PortFirewall(
            port, backend, head.verdict, head.sources, head.rule, head.limit, per, "", head.excepted, head.rate
        )
    return out


def unknown_state(ports: Iterable[int], reason: str, backend: Backend = "unknown") -> FirewallState:
    pfs = {p: PortFirewall(p, backend, "unknown", (), None, None, (), reason) for p in ports}
    return FirewallState(backend, False, pfs, (), None, reason)
