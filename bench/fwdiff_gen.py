"""Seeded random rule sets for the differential harness: iptables/ip6tables, native nftables, ufw.

Every rule set is valid (the kernel loads it) and draws its networks from the
client's sender pools (172.16.0.0/12, 2001:db8::/32), nested and overlapping,
so that senders inside, outside and at the edges of each can be tried.  Rates
are generous (a probe never exceeds them): a ``limit`` verdict describes a
sender under the rate, which is what each probe is.  A rule set is a list of
sections; each section's ``rules`` are the units the minimiser may drop.
"""

from __future__ import annotations

import ipaddress
import random
from dataclasses import dataclass, field, replace

PORTS = (25, 80, 443, 587, 465, 10031, 10032, 11332, 11333, 3310, 3306, 6379, 10050)
IFACES = ("sa", "sb")


@dataclass(frozen=True)
class Section:
    kind: str  # "iptables" | "ip6tables" | "nft" | "ufw"
    head: tuple[str, ...]
    rules: tuple[str, ...]
    tail: tuple[str, ...] = ()

    def text(self) -> str:
        return "\n".join((*self.head, *self.rules, *self.tail)) + "\n"


@dataclass(frozen=True)
class RuleSet:
    seed: int
    backend: str
    sections: tuple[Section, ...]
    nets: tuple[str, ...] = field(default=())  # every network named, for the senders

    def text(self) -> str:
        return "\n".join(f"## {s.kind}\n{s.text()}" for s in self.sections)

    def without(self, section: int, rule: int) -> RuleSet:
        s = self.sections[section]
        cut = replace(s, rules=s.rules[:rule] + s.rules[rule + 1 :])
        return replace(self, sections=(*self.sections[:section], cut, *self.sections[section + 1 :]))


class Nets:
    """Networks in the sender pools, drawn near each other so that they nest and overlap."""

    def __init__(self, r: random.Random) -> None:
        self.r = r
        self.named: list[str] = []
        self.anchors4 = [f"172.{r.randint(16, 31)}.{r.randint(0, 3)}.0" for _ in range(2)]
        self.anchors6 = [f"2001:db8:{r.randint(0, 3):x}::" for _ in range(2)]

    def net(self, fam: int) -> str:
        r = self.r
        if fam == 4:
            base = int(ipaddress.IPv4Address(r.choice(self.anchors4))) + r.randint(0, 1023)
            plen = r.choice((12, 16, 20, 22, 23, 24, 24, 26, 28, 30, 32, 32))
            net = ipaddress.IPv4Network((base, plen), strict=False)
            if r.random() < 0.05:
                net = ipaddress.IPv4Network("128.0.0.0/1")  # wider than the pool
        else:
            base = int(ipaddress.IPv6Address(r.choice(self.anchors6))) + r.randint(0, 2**20)
            plen = r.choice((32, 36, 40, 48, 56, 64, 96, 112, 120, 126, 128, 128))
            net = ipaddress.IPv6Network((base, plen), strict=False)
        text = str(net) if net.num_addresses > 1 else str(net.network_address)
        self.named.append(text)
        return text

    def range(self, fam: int) -> str:
        net = ipaddress.ip_network(self.net(fam))
        lo = net.network_address
        hi = lo + min(net.num_addresses - 1, self.r.randint(1, 300))
        self.named.append(f"{lo}/{net.max_prefixlen}")
        self.named.append(f"{hi}/{net.max_prefixlen}")
        return f"{lo}-{hi}"


def _ports(r: random.Random, many: bool = True) -> list[int]:
    return r.sample(PORTS, r.randint(1, 4 if many else 1))


UNDECIDABLE4 = (
    "-m length --length 0:100",
    "-m ttl --ttl-gt 10",
    "-m dscp --dscp 0",
    "-m tos --tos 0",
    "-m time --timestart 00:00 --timestop 23:59",
    "-m statistic --mode random --probability 0.5",
    "-m string --string abc --algo bm",
    "-m mark --mark 1",
    "-m connmark --mark 1",
    "-m quota --quota 1000000",
    "-m recent --rcheck --name seen",
    "-m recent --remove --name seen",
    "-m cpu --cpu 0",
    "-m socket",
    "-p tcp -m tcp --sport 1024:65535",
    "-p tcp -m tcp --tcp-flags ALL SYN",
    "-d 10.77.1.1",
)
UNDECIDABLE6 = (
    *(
        u.replace("-m ttl --ttl-gt 10", "-m hl --hl-gt 10").replace("-m tos --tos 0", "-m length --length 60:1500")
        for u in UNDECIDABLE4
        if u != "-d 10.77.1.1"
    ),
    "-d fd77:2::1",
)


def _ipt_rule(r: random.Random, fam: int, nets: Nets, later: list[str], user: bool, n: int) -> list[str]:
    """One rule (or a --set/--update pair) for iptables-restore."""
    parts: list[str] = []
    tcp = r.random() < 0.85
    if tcp:
        parts.append("-p tcp")
        pick = r.random()
        ports = _ports(r)
        if pick < 0.35:
            parts.append(f"-m tcp {'! ' if r.random() < 0.1 else ''}--dport {ports[0]}")
        elif pick < 0.55:
            parts.append(f"-m multiport --dports {','.join(map(str, ports))}")
        elif pick < 0.65:
            lo = r.choice(PORTS) - r.randint(0, 30)
            parts.append(f"-m tcp --dport {max(lo, 1)}:{lo + r.randint(0, 100)}")
    elif r.random() < 0.2:
        parts.append("-p udp")
    pick = r.random()
    neg = "! " if r.random() < 0.3 else ""
    if pick < 0.35:
        parts.append(f"{neg}-s {nets.net(fam)}")
    elif pick < 0.45:
        parts.append(f"-m iprange {neg}--src-range {nets.range(fam)}")
    if r.random() < 0.25:
        parts.append(f"{'! ' if r.random() < 0.2 else ''}-i {r.choice((*IFACES, 's+', 'lo', 'sc'))}")
    if r.random() < 0.15:
        parts.append(r.choice(("-m conntrack --ctstate NEW", "-m state --state NEW", "-m conntrack --ctstate INVALID",
                               "-m conntrack ! --ctstate ESTABLISHED", "-m addrtype --dst-type LOCAL",
                               "-m pkttype --pkt-type unicast")))  # fmt: skip
    if tcp and r.random() < 0.1:
        parts.append(r.choice(("--syn", "-m tcp --tcp-flags SYN,RST,ACK SYN", "-m tcp ! --tcp-flags SYN,ACK SYN")))
    target = _ipt_target(r, later, user)
    if "tcp-reset" in target and not tcp:
        target = "-j REJECT"
    rate = r.random()
    if rate < 0.06:
        parts.append("-m limit --limit 5000/sec --limit-burst 5000")  # a run sends ~700 SYNs in well under 1 s
    elif rate < 0.10:
        mode = "--hashlimit-upto" if target == "-j ACCEPT" else "--hashlimit-above"
        parts.append(
            f"-m hashlimit {mode} 5000/sec --hashlimit-burst 5000 --hashlimit-mode srcip --hashlimit-name h{n}"
        )
    elif rate < 0.13:
        # Per sender (/32, /128): a wider mask would count every probe of the run together.
        parts.append(f"-m connlimit --connlimit-above 100 --connlimit-mask {32 if fam == 4 else 128}")
    elif rate < 0.16 and any(p.startswith("-m tcp --dport ") and ":" not in p for p in parts):
        # ufw-style limit: a --set, then the 20th hit in 60 s dropped; one port, so a sender's probes
        # (two interfaces, a chain reached from a few places) stay well under it.
        base = " ".join(parts)
        return [
            f"{base} -m recent --set --name r{n}",
            f"{base} -m recent --update --seconds 60 --hitcount 20 --name r{n} -j DROP",
        ]
    if r.random() < 0.12:
        undecidable = r.choice(UNDECIDABLE4 if fam == 4 else UNDECIDABLE6)
        if undecidable.startswith("-p tcp") and "-p tcp" in parts:
            undecidable = undecidable[len("-p tcp ") :]
        elif undecidable.startswith("-p tcp") and parts[:1] == ["-p udp"]:
            undecidable = "-m mark --mark 1"
        parts.append(undecidable)
    if r.random() < 0.1:
        parts.append(f'-m comment --comment "rule {n}"')
    return [" ".join([*parts, target])]


def _ipt_target(r: random.Random, later: list[str], user: bool) -> str:
    pick = r.random()
    if pick < 0.3 and later:
        return f"-{'g' if r.random() < 0.3 else 'j'} {r.choice(later)}"
    if pick < 0.4 and user:
        return "-j RETURN"
    if pick < 0.33:
        return r.choice(("-j LOG --log-prefix x", "-j MARK --set-mark 1", "-j CONNMARK --set-mark 2"))
    if pick < 0.6:
        return "-j ACCEPT"
    if pick < 0.85:
        return "-j DROP"
    return r.choice(("-j REJECT", "-j REJECT --reject-with tcp-reset"))


CHAIN_NAMES = ("MAIL_IN", "TRUSTED", "f2b-postfix", "Web", "CROWDSEC", "ban-list", "LIMITS")


def iptables(r: random.Random, nets: Nets, fam: int) -> Section:
    chains = r.sample(CHAIN_NAMES, r.choice((0, 1, 2, 2, 3, 3)))
    head = ["*filter", f":INPUT {r.choice(('ACCEPT', 'DROP', 'DROP'))} [0:0]", ":FORWARD ACCEPT [0:0]"]
    head += [":OUTPUT ACCEPT [0:0]", *(f":{c} - [0:0]" for c in chains)]
    rules: list[str] = []
    n = 0
    for where, name in enumerate(["INPUT", *chains]):
        later = chains[where:]  # jumps only forward: the kernel refuses loops
        for _ in range(r.randint(1, 7) if name == "INPUT" else r.randint(1, 4)):
            n += 1
            rules += [f"-A {name} {x}" for x in _ipt_rule(r, fam, nets, later, name != "INPUT", n + fam * 100)]
    if r.random() < 0.5:
        rules.insert(0, "-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT")
    return Section("iptables" if fam == 4 else "ip6tables", tuple(head), tuple(rules), ("COMMIT",))
