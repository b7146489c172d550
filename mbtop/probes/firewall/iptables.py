"""``iptables-save`` / ``ip6tables-save`` text → the evaluator's rules.

Only the filter table's INPUT chain (and what it jumps to) decides whether a
new inbound connection is let in, so only the ``*filter`` table is read.
Options are parsed by their known argument counts; a match module this parser
does not know makes its rule "unknown" (never silently matching).
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Iterator
from typing import Literal

from mbtop.probes.firewall.engine import (
    Chain,
    Match,
    Rate,
    Rule,
    Ruleset,
    TargetKind,
    address_range,
    const_match,
    iface_match,
    net_match,
    parse_net,
    port_match,
)

# Every option iptables-save prints without an argument (matches and targets); the rest take one,
# TWO_ARG two.  A wrong count swallows the next option (e.g. the rule's -j).
ZERO_ARG = frozenset(
    {
        "--syn",
        "--set",
        "--update",
        "--rcheck",
        "--remove",
        "--rsource",
        "--rdest",
        "--reap",
        "--rttl",
        "--log-uid",
        "--log-tcp-sequence",
        "--log-tcp-options",
        "--log-ip-options",
        "--log-macdecode",
        "--limit-iface-in",
        "--limit-iface-out",
        "--fragment",
        "-f",
        "--return-nomatch",
        "--update-counters",
        "--update-subcounters",
        "--connlimit-saddr",
        "--connlimit-daddr",
        "--kerneltz",
        "--contiguous",
        "--utc",
        "--localtz",
        "--icase",
        "--socket-exists",
        "--suppl-groups",
        "--transparent",
        "--nowildcard",
        "--restore-skmark",
        "--strict",
        "--next",
        "--soft",
        "--rt-0-not-strict",
        "--fragfirst",
        "--fragmore",
        "--fraglast",
        "--fragres",
        "--physdev-is-in",
        "--physdev-is-out",
        "--physdev-is-bridged",
        "--loose",
        "--validmark",
        "--accept-local",
        "--invert",
        "--ecn-tcp-cwr",
        "--ecn-tcp-ece",
        "--ipvs",
        "--random",
        "--random-fully",
        "--persistent",
        "--notrack",
        "--queue-bypass",
        "--fail-open",
        "--queue-cpu-fanout",
        "--clamp-mss-to-pmtu",
        "--checksum-fill",
        "--hashlimit-rate-match",
        "--fwmark",
        "--sack-perm",
        "--timestamp",
        "--ecn-tcp-remove",
        "--exist",
        "--to-source-nat",
        "--shift",
    }
)
TWO_ARG = frozenset({"--tcp-flags", "--match-set", "--add-set", "--del-set", "--map-set"})
TCP_FLAGS = frozenset({"SYN", "ACK", "FIN", "RST", "URG", "PSH", "ALL", "NONE"})
TCP_OPTIONS = frozenset({"--dport", "--sport", "--destination-port", "--source-port", "--syn", "--tcp-flags"})
LOG_TARGETS = frozenset({"LOG", "NFLOG", "ULOG", "AUDIT", "TRACE"})
# Target extensions that change a mark, a field or a helper and let the packet go on through the chain.
PASS_TARGETS = frozenset(
    {
        "MARK", "CONNMARK", "CT", "NOTRACK", "TCPMSS", "CHECKSUM", "SET", "CLASSIFY", "DSCP", "TOS", "TTL", "HL",
        "TEE", "IDLETIMER", "LED", "SECMARK", "CONNSECMARK", "TCPOPTSTRIP", "ECN", "RATEEST", "HMARK",
    }
)  # fmt: skip
DROP_TARGETS = frozenset({"TARPIT"})  # holds the connection: nothing gets in
PER_UNITS = {
    "s": "second",
    "sec": "second",
    "second": "second",
    "m": "minute",
    "min": "minute",
    "minute": "minute",
    "h": "hour",
    "hour": "hour",
    "d": "day",
    "day": "day",
}


class Option:
    __slots__ = ("args", "name", "negated")

    def __init__(self, name: str, args: list[str], negated: bool) -> None:
        self.name = name
        self.args = args
        self.negated = negated

    def text(self) -> str:
        return ("! " if self.negated else "") + " ".join([self.name, *self.args])


def _options(tokens: list[str]) -> Iterator[Option]:
    i = 0
    negate = False
    while i < len(tokens):
        tok = tokens[i]
        i += 1
        if tok == "!":
            negate = True
            continue
        if not tok.startswith("-"):
            continue  # a stray value; the option before took fewer args than it had
        count = 0 if tok in ZERO_ARG else 2 if tok in TWO_ARG else 1
        args: list[str] = []
        # "--dport ! 25" (old syntax) puts the "!" after the option name.
        if count and i < len(tokens) and tokens[i] == "!":
            negate = True
            i += 1
        args = tokens[i : i + count]
        i += count
        yield Option(tok, args, negate)
        negate = False


def _ranges(text: str) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for part in text.split(","):
        lo, _, hi = part.partition(":")
        try:
            start = int(lo) if lo else 0
            end = int(hi) if hi else (65535 if _ == ":" else start)
        except ValueError:
            continue
        out.append((start, end))
    return out


def _rate(value: str) -> str:
    number, _, unit = value.partition("/")
    return f"{number}/{PER_UNITS.get(unit, unit)}"


def _rate_value(value: str, per_source: bool) -> Rate | None:
    number, _, unit = value.partition("/")
    return Rate.parse(number, PER_UNITS.get(unit, unit), per_source)


def _flags(text: str) -> frozenset[str]:
    names = {f.upper() for f in text.split(",") if f}
    if "ALL" in names:
        return frozenset(TCP_FLAGS - {"ALL", "NONE"})
    return frozenset(names - {"NONE"})


def _module_matches(module: str, opts: list[Option], family: Literal[4, 6]) -> list[Match]:
    """The matches of one ``-m MODULE`` block."""
    text = f"-m {module} " + " ".join(o.text() for o in opts)
    get = {o.name: o for o in opts}
    if module in ("tcp", "udp"):
        out: list[Match] = []
        for o in opts:
            if o.name in ("--dport", "--destination-port"):
                out.append(port_match(o.text(), _ranges(o.args[0]), o.negated, "dport"))
            elif o.name in ("--sport", "--source-port"):
                out.append(port_match(o.text(), _ranges(o.args[0]), o.negated, "sport"))
            elif o.name == "--syn":
                out.append(const_match(o.text(), "no" if o.negated else "yes"))
            elif o.name == "--tcp-flags" and len(o.args) == 2:
                mask, comp = _flags(o.args[0]), _flags(o.args[1])
                hit = (frozenset({"SYN"}) & mask) == comp
                # A SYN carries ECE and CWR when the client asks for ECN: those bits are the client's choice.
                ecn = bool({"ECE", "CWR"} & mask) or o.args[0].upper() == "ALL"
                out.append(const_match(o.text(), "unknown" if ecn else "yes" if hit != o.negated else "no"))
            else:
                out.append(const_match(o.text(), "unknown"))
        return out
    if module == "multiport":
        out = []
        for o in opts:
            if o.name in ("--dports", "--destination-ports", "--ports"):
                out.append(port_match(o.text(), _ranges(o.args[0]), o.negated, "dport"))
            elif o.name in ("--sports", "--source-ports"):
                out.append(port_match(o.text(), _ranges(o.args[0]), o.negated, "sport"))
            else:
                out.append(const_match(o.text(), "unknown"))
        return out
    if module in ("conntrack", "state"):
        return [_ct_match(o) for o in opts] or [const_match(text, "unknown")]
    if module == "limit":
        rate = _rate(get["--limit"].args[0]) if "--limit" in get else "3/hour"
        burst = get["--limit-burst"].args[0] if "--limit-burst" in get else "5"
        value = _rate_value(get["--limit"].args[0] if "--limit" in get else "3/hour", False)
        return [const_match(text, "yes", rate=f"{rate} burst {burst} (all sources together)", value=value)]
    if module == "hashlimit":
        above = get.get("--hashlimit-above")
        upto = get.get("--hashlimit-upto") or get.get("--hashlimit")
        mode = get["--hashlimit-mode"].args[0] if "--hashlimit-mode" in get else "all sources together"
        per = f"per {mode}" if "--hashlimit-mode" in get else mode
        by_source = "srcip" in mode
        if above is not None:
            value = _rate_value(above.args[0], by_source)
            return [const_match(text, "no", rate=f"over {_rate(above.args[0])} {per} refused", value=value)]
        if upto is not None:
            value = _rate_value(upto.args[0], by_source)
            return [const_match(text, "yes", rate=f"{_rate(upto.args[0])} {per}", value=value)]
        return [const_match(text, "unknown")]
    if module == "recent":
        return [_recent(text, get)]
    if module == "connlimit":
        above = get.get("--connlimit-above")
        upto = get.get("--connlimit-upto")
        if above is not None:
            return [const_match(text, "no", rate=f"at most {above.args[0]} concurrent per source")]
        if upto is not None:
            return [const_match(text, "yes", rate=f"at most {upto.args[0]} concurrent per source")]
        return [const_match(text, "unknown")]
    if module == "comment":
        return []
    if module == "addrtype":
        out = []
        for o in opts:
            if o.name == "--dst-type":
                kinds = set(o.args[0].upper().split(","))
                out.append(const_match(o.text(), "yes" if ("LOCAL" in kinds) != o.negated else "no"))
            elif o.name == "--src-type":
                kinds = set(o.args[0].upper().split(","))
                out.append(const_match(o.text(), "yes" if ("UNICAST" in kinds) != o.negated else "no"))
        return out
    if module == "pkttype":
        kind = get["--pkt-type"].args[0].lower() if "--pkt-type" in get else ""
        neg = get["--pkt-type"].negated if "--pkt-type" in get else False
        return [const_match(text, "yes" if (kind == "unicast") != neg else "no")]
    if module == "iprange":
        out = []
        for o in opts:
            if o.name == "--src-range":
                out.append(_range_match(o, "saddr"))
            elif o.name == "--dst-range":
                out.append(_range_match(o, "daddr"))
        return out
    if module in ("icmp", "icmp6", "icmpv6", "udplite", "sctp", "esp", "ah"):
        return [const_match(text, "no")]
    if module in ("rt", "frag", "hbh", "dst", "mh"):
        # IPv6 extension headers: a connection's SYN is a plain TCP packet without them.
        return [const_match(text, "no")]
    if module == "set":
        # Who is in an ipset is not read: membership cannot be decided, negated or not.
        return [const_match(text, "unknown")]
    return [const_match(text, "unknown")]


def _ct_match(o: Option) -> Match:
    """One conntrack/state option for a new connection's first packet."""
    arg = o.args[0] if o.args else ""
    if o.name in ("--ctstate", "--state"):
        hit = "NEW" in {s.upper() for s in arg.split(",")}
    elif o.name == "--ctproto":
        hit = arg.lower() in ("tcp", "6", "all")
    elif o.name == "--ctdir":
        hit = arg.upper() == "ORIGINAL"
    elif o.name == "--ctstatus":
        # A first packet has no status bits but NONE; EXPECTED/SEEN_REPLY/ASSURED/CONFIRMED are not set yet.
        hit = "NONE" in {s.upper() for s in arg.split(",")}
    else:
        return const_match(o.text(), "unknown")
    return const_match(o.text(), "yes" if hit != o.negated else "no")


def _recent(text: str, get: dict[str, Option]) -> Match:
    """``-m recent``: ``--set`` always matches; the others match senders already on the list."""
    negated = any(o.negated for o in get.values())
    if "--set" in get:
        return const_match(text, "no" if negated else "yes")
    if ("--update" in get or "--rcheck" in get) and "--hitcount" in get and not negated:
        hits, secs = get["--hitcount"].args[0], get["--seconds"].args[0] if "--seconds" in get else None
        try:
            allowed = f"{int(hits) - 1}"
        except ValueError:
            allowed = f"{hits} - 1"
        window = f" per {secs} s" if secs else ""
        who = "per source" if "--rdest" not in get else "per destination"
        value = None
        if secs and allowed.isdigit() and secs.isdigit():
            value = Rate(float(allowed), float(secs), "--rdest" not in get)
        # A sender under the rate is not matched: this is a rate, evaluated for such a sender.
        return const_match(text, "no", rate=f"{allowed} new connections{window} {who}", value=value)
    # --rcheck/--update without a hit count, --remove, negations: it depends on who was seen before.
    return const_match(text, "unknown")


def _range_match(o: Option, field_: Literal["saddr", "daddr"]) -> Match:
    lo_text, _, hi_text = o.args[0].partition("-") if o.args else ("", "", "")
    try:
        nets = address_range(lo_text, hi_text or lo_text)
    except (ValueError, TypeError):
        return const_match(o.text(), "unknown")
    return net_match(o.text(), nets, o.negated, field_)


def _proto_match(o: Option) -> Match:
    proto = o.args[0].lower() if o.args else ""
    hit = proto in ("tcp", "6", "all", "0")
    return const_match(o.text(), "yes" if hit != o.negated else "no")


def parse_rule(
    chain: str, tokens: list[str], family: Literal[4, 6], chains: frozenset[str] | set[str] = frozenset()
) -> Rule:
    """One ``-A`` line; ``chains``: the chains the table defines (jump targets)."""
    text = " ".join(shlex.quote(t) if (" " in t or not t) else t for t in tokens)
    matches: list[Match] = []
    target: TargetKind = "continue"
    chain_target: str | None = None
    logs = False
    module: str | None = None
    module_opts: list[Option] = []

    def flush() -> None:
        nonlocal module, module_opts
        if module is not None and module != "__target__":
            matches.extend(_module_matches(module, module_opts, family))
        module, module_opts = None, []

    for o in _options(tokens):
        if o.name in ("-m", "--match"):
            flush()
            module = o.args[0] if o.args else None
            continue
        if o.name in ("-j", "--jump", "-g", "--goto"):
            flush()
            name = o.args[0] if o.args else ""
            if name == "ACCEPT":
                target = "accept"
            elif name == "DROP":
                target = "drop"
            elif name == "REJECT":
                target = "reject"
            elif name == "RETURN":
                target = "return"
            elif name in chains or not name.isupper():
                # A chain the table defines, whatever its case (MAIL_IN, TRUSTED, f2b-sshd).
                target = "goto" if o.name in ("-g", "--goto") else "jump"
                chain_target = name
            elif name in LOG_TARGETS:
                target, logs = "continue", True
            elif name in PASS_TARGETS:
                target = "continue"
            elif name in DROP_TARGETS:
                target = "drop"
            else:
                target = "unknown"  # NFQUEUE, SYNPROXY, an extension mbtop does not know
                chain_target = name
            module = "__target__"  # target options follow; they are not matches
            continue
        if module == "__target__":
            continue
        if module is None and o.name in TCP_OPTIONS:
            matches.extend(_module_matches("tcp", [o], family))  # "-p tcp --dport 25" without "-m tcp"
            continue
        if (
            module is not None
            and o.name.startswith("--")
            and o.name not in ("--source", "--destination", "--in-interface", "--protocol")
        ):
            module_opts.append(o)
            continue
        flush()
        if o.name in ("-s", "--source", "-d", "--destination"):
            try:
                nets = [parse_net(a) for a in o.args[0].split(",")]
            except ValueError:
                matches.append(const_match(o.text(), "unknown"))
                continue
            field_: Literal["saddr", "daddr"] = "saddr" if o.name in ("-s", "--source") else "daddr"
            if field_ == "daddr":
                matches.append(net_match(o.text(), nets, o.negated, "daddr"))
            else:
                matches.append(net_match(o.text(), nets, o.negated, "saddr"))
        elif o.name in ("-i", "--in-interface"):
            matches.append(iface_match(o.text(), [o.args[0]], o.negated))
        elif o.name in ("-o", "--out-interface"):
            continue  # no output interface at the input hook
        elif o.name in ("-p", "--protocol"):
            matches.append(_proto_match(o))
        elif o.name in ("-f", "--fragment"):
            matches.append(const_match(o.text(), "yes" if o.negated else "no"))
        elif o.name in ("-c", "--set-counters"):
            continue
        else:
            matches.append(const_match(o.text(), "unknown"))
    flush()
    return Rule(f"-A {chain} {text}", tuple(matches), target, chain_target, logs=logs)


def parse_save(text: str, family: Literal[4, 6], backend: str = "iptables") -> Ruleset | None:
    """The filter table of ``iptables-save`` output; None when it has none."""
    in_filter = False
    policies: dict[str, str] = {}
    rules: dict[str, list[Rule]] = {}
    order: list[str] = []
    found = False
    defined = _defined_chains(text)
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("*"):
            in_filter = line == "*filter"
            found = found or in_filter
            continue
        if not in_filter:
            continue
        if line == "COMMIT":
            in_filter = False
            continue
        if line.startswith(":"):
            name, _, rest = line[1:].partition(" ")
            policies[name] = rest.split()[0] if rest else "-"
            rules.setdefault(name, [])
            order.append(name)
            continue
        try:
            tokens = shlex.split(line)
        except ValueError:
            tokens = line.split()
        if len(tokens) >= 2 and tokens[0] == "-A":
            chain = tokens[1]
            rules.setdefault(chain, []).append(parse_rule(chain, tokens[2:], family, defined))
    if not found:
        return None
    chains: dict[str, Chain] = {}
    for name, rs in rules.items():
        policy = policies.get(name, "-")
        pol: Literal["accept", "drop"] | None = "accept" if policy == "ACCEPT" else "drop" if policy == "DROP" else None
        chains[name] = Chain(name, tuple(rs), pol, 0, family)
    base = chains.get("INPUT", Chain("INPUT", (), "accept", 0, family))
    if base.policy is None:
        base = Chain(base.name, base.rules, "accept", 0, family)
    return Ruleset(backend, (base,), chains)


def _defined_chains(text: str) -> set[str]:
    """The chains the filter table declares (``:NAME POLICY``), and any that has rules."""
    out: set[str] = set()
    in_filter = False
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("*"):
            in_filter = line == "*filter"
        elif in_filter and line.startswith(":"):
            out.add(line[1:].partition(" ")[0])
        elif in_filter and line.startswith("-A "):
            out.add(line.split()[1] if len(line.split()) > 1 else "")
    return out


def rule_count(rs: Ruleset) -> int:
    return sum(len(c.rules) for c in rs.chains.values())


def relabel(rs: Ruleset, label: Callable[[str, int, Rule], str | None]) -> Ruleset:
    """A copy whose rules carry friendlier labels (ufw's own commands)."""
    chains: dict[str, Chain] = {}
    for name, chain in rs.chains.items():
        new_rules = []
        for i, rule in enumerate(chain.rules):
            text = label(name, i, rule)
            new_rules.append(
                rule if text is None else Rule(rule.text, rule.matches, rule.target, rule.chain_target, text, rule.logs)
            )
        chains[name] = Chain(chain.name, tuple(new_rules), chain.policy, chain.priority, chain.family)
    base = tuple(chains.get(b.name, b) for b in rs.base)
    return Ruleset(rs.backend, base, chains, rs.notes)
