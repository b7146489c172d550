"""What the host firewall does with a new inbound connection to each port.

``read()`` collects the rules in force (iptables-save/ip6tables-save, the
legacy tables when loaded, ``nft -j list ruleset``, ufw's rule files, ``ipset
save``);
``analyse()`` evaluates, per port and per address family, a SYN from an
outside address on each of the host's interfaces, and from one address inside
each piece of the address space the rules' source networks cut out (negated
ones too), and condenses that into a verdict:

* ``allow``      any outside address gets in,
* ``limit``      any outside address gets in, under a rate limit,
* ``restricted`` only the listed sources (or interfaces) get in,
* ``deny``       nobody from outside gets in,
* ``unknown``    the rules could not be read, or a rule whose match cannot
                 be decided changes the outcome (with that rule).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from mbtop.probes.firewall.engine import (
    Decision,
    IPAddress,
    IPNetwork,
    Packet,
    Rate,
    Ruleset,
    decide,
)
from mbtop.probes.firewall.space import Atom, atoms, classes, label

FwVerdict = Literal["allow", "limit", "restricted", "deny", "unknown"]
Backend = Literal["ufw", "iptables", "nftables", "none", "unknown"]
OPENNESS: dict[str, int] = {"unknown": -1, "deny": 0, "restricted": 1, "limit": 2, "allow": 3}

MAX_EXCEPT = 256  # a bound on memory, not on what is shown: a list cut short cannot be checked against
FALLBACK_DADDR = {4: ipaddress.ip_address("192.0.2.1"), 6: ipaddress.ip_address("2001:db8::1")}


@dataclass(frozen=True, slots=True)
class FamilyVerdict:
    family: Literal[4, 6]
    verdict: FwVerdict
    sources: tuple[str, ...]  # for restricted: who gets in ("NET", "NET via IFACE", "any via IFACE")
    rule: str | None  # the rule (or policy) that decided, "chain: rule"
    limit: str | None  # the rate condition in force, when limited
    notes: tuple[str, ...] = ()
    excepted: tuple[str, ...] = ()  # who is kept out although the verdict lets others in ("NET [via IFACE]")
    rate: Rate | None = None  # the first rate limit on the way in, as numbers
    unknown_because: str | None = None  # for unknown: the rule whose outcome cannot be told


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
    unknown_because: str | None = None

    @property
    def open_to_anyone(self) -> bool:
        return self.verdict in ("allow", "limit")

    def who(self, show_except: int = 6) -> str:
        """Who a new connection gets in from, in words: the screen's WHO column and ``mbtop
        firewall``'s (raw text: the caller cleans it for its output)."""
        if self.verdict == "unknown":
            return self.reason or "-"
        if self.verdict == "restricted":
            who = ", ".join(self.sources)
        elif self.verdict == "limit":
            who = f"anyone, {self.limit}"
        elif self.verdict == "allow":
            who = "anyone"
        else:
            who = "nobody from outside"
        if self.excepted:
            shown = self.excepted[:show_except]
            more = f" +{len(self.excepted) - len(shown)} more" if len(self.excepted) > len(shown) else ""
            who += f" except {', '.join(shown)}{more}"
        if len({f.verdict for f in self.families}) > 1:
            who += " (" + ", ".join(f"IPv{f.family} {f.verdict}" for f in self.families) + ")"
        return who


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


def _source_groups(rulesets: Sequence[Ruleset]) -> list[tuple[IPNetwork, ...]]:
    """The networks of each source condition, one entry per condition."""
    return [
        m.sources
        for rs in rulesets
        for chain in rs.chains.values()
        for rule in chain.rules
        for m in rule.matches
        if m.sources
    ]


def _labels(buckets: dict[str | None, list[Atom]], multi: bool) -> list[str]:
    out: list[str] = []
    for via, pieces in buckets.items():
        suffix = f" via {via}" if via is not None and multi else ""
        out.extend(text + suffix for text in label(pieces))
    return out


@dataclass(frozen=True, slots=True)
class _Space:
    """A family's address space cut by the rules' source networks (the same for every port)."""

    default: Atom  # "anyone else"
    own: list[Atom]  # every other atom
    stand_in: dict[int, Atom]  # id(atom) -> the atom evaluated for it (same source conditions)


def _space(rulesets: Sequence[Ruleset], family: Literal[4, 6]) -> _Space:
    groups = _source_groups(rulesets)
    pieces = atoms([n for g in groups for n in g], family)
    unnamed = [a for a in pieces if not a.named]
    default = max(unnamed or pieces, key=lambda a: a.size)
    # Unnamed atoms meet no source condition: they all go the way of the default one.
    own = [a for a in pieces if a.named and a is not default]
    # Atoms inside the same source conditions go the same way: one of each class is evaluated.
    first_of: dict[frozenset[int], Atom] = {}
    stand_in: dict[int, Atom] = {}
    for a, held in zip(pieces, classes(pieces, groups), strict=True):
        if a.named and a is not default:
            stand_in[id(a)] = first_of.setdefault(held, a)
    return _Space(default, own, stand_in)


def _family_verdict(
    rulesets: Sequence[Ruleset], port: int, family: Literal[4, 6], host: Host, space: _Space | None = None
) -> FamilyVerdict:
    daddrs = host.addresses.get(family) or (FALLBACK_DADDR[family],)
    ifaces = host.interfaces or ("eth0",)
    multi = len(ifaces) > 1
    space = space or _space(rulesets, family)
    default, own, stand_in = space.default, space.own, space.stand_in
    notes: list[str] = []

    def run(atom: Atom, iface: str) -> Decision:
        d = decide(rulesets, Packet(family, atom.sender, daddrs[0], port, iface, daddrs=tuple(daddrs)))
        notes.extend(n for n in d.trace.uncertain if n not in notes)
        return d

    base = {i: run(default, i) for i in ifaces}
    got = {(id(a), i): run(a, i) for a in dict.fromkeys(stand_in.values()) for i in ifaces}
    unknown = next((d for d in (*base.values(), *got.values()) if d.outcome == "unknown"), None)
    if unknown is not None:
        because = unknown.because or unknown.trace.decided_by
        return FamilyVerdict(family, "unknown", (), because, None, tuple(notes), unknown_because=because)
    is_open = {i: d.outcome == "open" for i, d in base.items()}  # "anyone else", per interface
    atom_open = {key: d.outcome == "open" for key, d in got.items()}

    def opened(a: Atom, i: str) -> bool:
        return atom_open[(id(stand_in[id(a)]), i)]

    kept: dict[str | None, list[Atom]] = {}
    if all(is_open[i] for i in ifaces):
        for a in own:
            shut = [i for i in ifaces if not opened(a, i)]
            if len(shut) == len(ifaces):
                kept.setdefault(None, []).append(a)
            for i in shut if len(shut) < len(ifaces) else ():
                kept.setdefault(i, []).append(a)
        excepted = _labels(kept, multi)
        shown = excepted[:MAX_EXCEPT] + ([f"+{len(excepted) - MAX_EXCEPT} more"] if len(excepted) > MAX_EXCEPT else [])
        trace = base[ifaces[0]].trace
        verdict: FwVerdict = "limit" if trace.rates else "allow"
        limit = "; ".join(dict.fromkeys(trace.rates)) or None
        rate = trace.values[0] if trace.values else None
        return FamilyVerdict(family, verdict, (), trace.decided_by, limit, tuple(notes), tuple(shown), rate)
    allowed: list[str] = [f"any via {i}" for i in ifaces if is_open[i]]
    deciding = next((base[i] for i in ifaces if is_open[i]), None)
    let_in: dict[str | None, list[Atom]] = {}
    for a in own:
        through = [i for i in ifaces if opened(a, i)]
        if through and deciding is None:
            deciding = got[(id(stand_in[id(a)]), through[0])]
        if len(through) == len(ifaces):
            let_in.setdefault(None, []).append(a)
            continue
        for i in through:
            if not is_open[i]:
                let_in.setdefault(i, []).append(a)
        for i in ifaces:
            if is_open[i] and not opened(a, i):
                kept.setdefault(i, []).append(a)
    allowed += _labels(let_in, multi)
    if allowed and deciding is not None:
        return FamilyVerdict(
            family,
            "restricted",
            tuple(allowed),
            deciding.trace.decided_by,
            "; ".join(dict.fromkeys(deciding.trace.rates)) or None,
            tuple(notes),
            tuple(_labels(kept, multi)),
        )
    return FamilyVerdict(family, "deny", (), base[ifaces[0]].trace.decided_by, None, tuple(notes))


def _combine(verdicts: Sequence[FamilyVerdict]) -> FamilyVerdict:
    """The most open family decides the headline (what an attacker can reach); unknown unless one is open."""
    top = max(verdicts, key=lambda v: OPENNESS[v.verdict])
    if top.verdict not in ("allow", "limit"):
        return next((v for v in verdicts if v.verdict == "unknown"), top)
    return top


def analyse(
    rulesets: Sequence[Ruleset], ports: Iterable[int], host: Host, backend: Backend, families: Sequence[Literal[4, 6]]
) -> dict[int, PortFirewall]:
    out: dict[int, PortFirewall] = {}
    spaces = {f: _space(rulesets, f) for f in families}
    for port in ports:
        per = tuple(_family_verdict(rulesets, port, f, host, spaces[f]) for f in families)
        head = _combine(per)
        reason = f"cannot tell: {head.unknown_because}" if head.unknown_because else ""
        out[port] = PortFirewall(
            port,
            backend,
            head.verdict,
            head.sources,
            head.rule,
            head.limit,
            per,
            reason,
            head.excepted,
            head.rate,
            head.unknown_because,
        )
    return out


def unknown_state(ports: Iterable[int], reason: str, backend: Backend = "unknown") -> FirewallState:
    pfs = {p: PortFirewall(p, backend, "unknown", (), None, None, (), reason) for p in ports}
    return FirewallState(backend, False, pfs, (), None, reason)
