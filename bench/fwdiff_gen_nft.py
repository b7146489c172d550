"""Seeded random native nftables and ufw rule sets, and ``generate``: one mixed-backend rule set per seed."""

from __future__ import annotations

import ipaddress
import random

from fwdiff_gen import CHAIN_NAMES, IFACES, PORTS, Nets, RuleSet, Section, _ports, iptables

UNDECIDABLE = (
    "meta length 0-100",
    "meta mark 1",
    "tcp sport 1024-65535",
    "numgen random mod 2 0",
    "meta cpu 0",
    "ct mark 1",
)
UNDECIDABLE_BY_FAMILY = {
    4: ("ip dscp 0", "ip ttl != 1", "ip daddr 10.77.1.1"),
    6: ("ip6 hoplimit != 1", "ip6 daddr fd77:2::1"),
}


def _disjoint(r: random.Random, nets: Nets, fam: int, count: int) -> list[str]:
    """Set elements that do not overlap (nft refuses overlapping intervals)."""
    out: list[str] = []
    for _ in range(count):
        text = nets.range(fam) if r.random() < 0.25 else nets.net(fam)
        first, _, last = text.partition("-")
        if last:
            new = list(ipaddress.summarize_address_range(ipaddress.ip_address(first), ipaddress.ip_address(last)))
        else:
            new = [ipaddress.ip_network(text)]
        if all(not a.overlaps(ipaddress.ip_network(b)) for a in new for x in out for b in _spans(x)):
            out.append(text)
    return out


def _spans(text: str) -> list[str]:
    first, _, last = text.partition("-")
    if not last:
        return [text]
    return [str(n) for n in ipaddress.summarize_address_range(ipaddress.ip_address(first), ipaddress.ip_address(last))]


def _addr_match(r: random.Random, nets: Nets, fam: int, sets: dict[str, int]) -> str:
    key = "ip saddr" if fam == 4 else "ip6 saddr"
    neg = "!= " if r.random() < 0.3 else ""
    pick = r.random()
    named = [s for s, f in sets.items() if f == fam]
    if pick < 0.5:
        return f"{key} {neg}{nets.net(fam)}"
    if pick < 0.75:
        return f"{key} {neg}{{ {', '.join(_disjoint(r, nets, fam, r.randint(1, 3)))} }}"
    if named:
        return f"{key} {neg}@{r.choice(named)}"
    return f"{key} {neg}{nets.range(fam)}"


def _nft_target(r: random.Random, later: list[str], regular: bool, nets: Nets, fam: int | None) -> str:
    pick = r.random()
    if pick < 0.15 and later:
        return f"{r.choice(('jump', 'jump', 'goto'))} {r.choice(later)}"
    if pick < 0.22 and regular:
        return "return"
    if pick < 0.32:
        ports = r.sample(PORTS, 3)
        verdicts = ["accept", "drop", "continue", *(f"jump {c}" for c in later)]
        inner = ", ".join(f"{p} : {r.choice(verdicts)}" for p in ports)
        return r.choice((f"tcp dport vmap {{ {inner} }}", 'iifname vmap { "sa" : accept, "sb" : drop }',
                         "ct state vmap { new : continue, established : accept }",
                         "tcp dport vmap @vm"))  # fmt: skip
    if pick < 0.37 and fam is not None:
        key = "ip saddr" if fam == 4 else "ip6 saddr"
        elems = _disjoint(r, nets, fam, 2)
        inner = ", ".join(f"{e} : {r.choice(('accept', 'drop'))}" for e in elems)
        return f"{key} vmap {{ {inner} }}"
    if pick < 0.42:
        return r.choice(("counter", "log prefix x", "meta mark set 1"))
    if pick < 0.7:
        return "accept"
    if pick < 0.9:
        return "drop"
    return r.choice(("reject", "reject with tcp reset"))


def _nft_rule(r: random.Random, tfam: str, nets: Nets, sets: dict[str, int], later: list[str], regular: bool) -> str:
    parts: list[str] = []
    fams = {"inet": (4, 6), "ip": (4,), "ip6": (6,)}[tfam]
    fam: int | None = None
    pick = r.random()
    ports = _ports(r)
    if pick < 0.3:
        parts.append(f"tcp dport {ports[0]}")
    elif pick < 0.45:
        parts.append(f"tcp dport {{ {', '.join(map(str, ports))} }}")
    elif pick < 0.52:
        parts.append(f"tcp dport != {ports[0]}")
    elif pick < 0.6:
        parts.append(f"meta l4proto tcp th dport {ports[0]}")
    elif pick < 0.66:
        lo = r.choice(PORTS) - r.randint(0, 30)
        parts.append(f"tcp dport {max(lo, 1)}-{lo + r.randint(1, 100)}")
    elif pick < 0.72:
        parts.append("tcp dport @ports")
    if r.random() < 0.45:
        fam = r.choice(fams)
        parts.append(_addr_match(r, nets, fam, sets))
    if r.random() < 0.25:
        parts.append(r.choice(('iifname "sa"', 'iifname != "sb"', 'iifname { "sa", "sb" }', 'iifname "s*"',
                               'iifname "lo"', "iifname @ifs")))  # fmt: skip
    if r.random() < 0.15:
        # ("ct count" counts every connection through the rule, all senders together: a run makes ~700.)
        states = ["ct state new", "ct state established,related", "ct state invalid", "ct state != established"]
        states += ["meta l4proto tcp"] + (["meta nfproto ipv4"] if tfam == "inet" and fam != 6 else [])
        parts.append(r.choice(states))
    if r.random() < 0.08:
        parts.append(r.choice(("tcp flags & (fin|syn|rst|ack) == syn", "tcp flags syn")))
    if r.random() < 0.1:
        parts.append(r.choice(("limit rate 100000/second burst 50000 packets", "ct count over 10000",
                               "limit rate over 100000/second burst 50000 packets")))  # fmt: skip
    if r.random() < 0.12:
        options = UNDECIDABLE + tuple(x for f in ((fam,) if fam else fams) for x in UNDECIDABLE_BY_FAMILY[f])
        parts.append(r.choice(options))
    parts.append(_nft_target(r, later, regular, nets, fam))
    return " ".join(parts)


def nftables(r: random.Random, nets: Nets, table: str = "t", prio: int = 0) -> Section:
    tfam = r.choice(("inet", "inet", "ip", "ip6"))
    head = [f"add table {tfam} {table}"]
    sets: dict[str, int] = {}
    for fam in {"inet": (4, 6), "ip": (4,), "ip6": (6,)}[tfam]:
        if r.random() < 0.6:
            name = f"s{fam}"
            elems = ", ".join(_disjoint(r, nets, fam, r.randint(1, 4)))
            kind = "ipv4_addr" if fam == 4 else "ipv6_addr"
            head.append(f"add set {tfam} {table} {name} {{ type {kind}; flags interval; elements = {{ {elems} }} }}")
            sets[name] = fam
    ports = ", ".join(map(str, sorted(set(_ports(r)))))
    head.append(f"add set {tfam} {table} ports {{ type inet_service; flags interval; elements = {{ {ports} }} }}")
    head.append(f'add set {tfam} {table} ifs {{ type ifname; elements = {{ "{r.choice(IFACES)}" }} }}')
    vm = ", ".join(f"{p} : {r.choice(('accept', 'drop'))}" for p in r.sample(PORTS, 3))
    head.append(f"add map {tfam} {table} vm {{ type inet_service : verdict; elements = {{ {vm} }} }}")
    chains = r.sample(CHAIN_NAMES, r.randint(0, 3))
    bases = ["in0"] + (["in1"] if r.random() < 0.25 else [])
    for i, base in enumerate(bases):
        policy = r.choice(("accept", "drop", "drop"))
        head.append(
            f"add chain {tfam} {table} {base} {{ type filter hook input priority {prio + i * 10}; policy {policy}; }}"
        )
    head += [f"add chain {tfam} {table} {c}" for c in chains]
    rules: list[str] = []
    for base in bases:
        for _ in range(r.randint(1, 7)):
            rules.append(f"add rule {tfam} {table} {base} {_nft_rule(r, tfam, nets, sets, chains, False)}")
    for where, c in enumerate(chains):
        for _ in range(r.randint(1, 4)):
            rules.append(f"add rule {tfam} {table} {c} {_nft_rule(r, tfam, nets, sets, chains[where + 1 :], True)}")
    return Section("nft", tuple(head), tuple(rules))


def ufw(r: random.Random, nets: Nets) -> Section:
    head = ["ufw --force reset", f"ufw default {r.choice(('deny', 'deny', 'allow', 'reject'))} incoming"]
    rules: list[str] = []
    limited = 0
    for _ in range(r.randint(2, 8)):
        action = r.choice(("allow", "allow", "deny", "reject", "limit"))
        port = r.choice(PORTS)
        fam = r.choice((4, 6))
        pick = r.random()
        if action == "limit":
            limited += 1
            # ufw's limit list is shared by every limited port: 6 hits per 30 s from one sender in all.
            # A run sends two per port (two interfaces), so at most two ports, each named.
            if limited > 2 or not (pick < 0.3 or 0.4 <= pick < 0.65):
                action = "allow"
        if pick < 0.3:
            rules.append(f"ufw {action} {port}/tcp")
        elif pick < 0.4:
            rules.append(f"ufw {action} {port - r.randint(0, 20)}:{port + r.randint(0, 20)}/tcp")
        elif pick < 0.65:
            rules.append(f"ufw {action} from {nets.net(fam)} to any port {port} proto tcp")
        elif pick < 0.75:
            rules.append(f"ufw {action} from {nets.net(fam)}")
        elif pick < 0.85:
            rules.append(f"ufw {action} in on {r.choice(IFACES)} to any port {port} proto tcp")
        elif pick < 0.92:
            rules.append(f"ufw route {action} in on sa out on sb to any port {port} proto tcp")
        else:
            rules.append(f"ufw {action} proto tcp from {nets.net(fam)} to any port {port},{r.choice(PORTS)}")
    if any(" route " not in x for x in rules) and r.random() < 0.3:
        rules.append(f"ufw prepend deny from {nets.net(r.choice((4, 6)))}")
    return Section("ufw", tuple(head), tuple(rules), ("ufw --force enable",))


def generate(seed: int) -> RuleSet:
    r = random.Random(seed)
    nets = Nets(r)
    backend = r.choices(("iptables", "nftables", "ufw", "mixed"), weights=(35, 35, 15, 15))[0]
    sections: list[Section] = []
    if backend == "iptables":
        sections = [iptables(r, nets, 4), iptables(r, nets, 6)]
    elif backend == "nftables":
        sections = [nftables(r, nets)]
    elif backend == "ufw":
        sections = [ufw(r, nets)]
    else:
        first = [ufw(r, nets)] if r.random() < 0.4 else [iptables(r, nets, 4), iptables(r, nets, 6)]
        sections = [*first, nftables(r, nets, "extra", r.choice((-10, 10)))]
    return RuleSet(seed, backend, tuple(sections), tuple(dict.fromkeys(nets.named)))
