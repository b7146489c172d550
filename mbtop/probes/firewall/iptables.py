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
        "--limit-iface-in",
        "--limit-iface-out",
        "--fragment",
        "-f",
        "--return-nomatch",
        "--update-counters",
        "--update-subcounters",
    }
)
TWO_ARG = frozenset({"--tcp-flags", "--match-set", "--set-xmark"})
TCP_FLAGS = frozenset({"SYN", "ACK", "FIN", "RST", "URG", "PSH", "ALL", "NONE"})
TCP_OPTIONS = frozenset({"--dport", "--sport", "--destination-port", "--source-port", "--syn", "--tcp-flags"})
LOG_TARGETS = frozenset({"LOG", "NFLOG", "ULOG", "AUDIT", "TRACE"})
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
                out.append(const_match(o.text(), "yes" if hit != o.negated else "no"))
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
        return out
    if module in ("conntrack", "state"):
        option = get.get("--ctstate") or get.get("--state")
        if option is None:
            return [const_match(text, "unknown")]
        states = {s.upper() for s in option.args[0].split(",")}
        hit = "NEW" in states
        return [const_match(text, "yes" if hit != option.negated else "no")]
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
        if "--set" in get or "--remove" in get:
            return [const_match(text, "yes")]
        if "--update" in get or "--rcheck" in get:
            hits = get["--hitcount"].args[0] if "--hitcount" in get else None
            secs = get["--seconds"].args[0] if "--seconds" in get else None
            if hits is None:
                # Matches any sender seen before (e.g. after a --set): decided by history.
                return [const_match(text, "unknown")]
            try:
                allowed = f"{int(hits) - 1}"
            except ValueError:
                allowed = f"{hits} - 1"
            window = f" per {secs} s" if secs else ""
            who = "per source" if "--rdest" not in get else "per destination"
            value = None
            if secs and allowed.isdigit():
                value = Rate(float(allowed), float(secs), "--rdest" not in get) if secs.isdigit() else None
            return [const_match(text, "no", rate=f"{allowed} new connections{window} {who}", value=value)]
        return [const_match(text, "unknown")]
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
    if module == "set":
        option = get.get("--match-set")
        name = option.args[0] if option and option.args else "?"
        return [const_match(text, "unknown" if not (option and option.negated) else "yes")] if name else []
    return [const_match(text, "unknown")]


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


def parse_rule(chain: str, tokens: list[str], family: Literal[4, 6]) -> Rule:
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
            elif name in LOG_TARGETS:
                target, logs = "continue", True
            elif name.isupper() and name not in ("INPUT", "FORWARD", "OUTPUT"):
                target = "continue"  # MARK, CT, CONNMARK, ... do not decide
            else:
                target = "goto" if o.name in ("-g", "--goto") else "jump"
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
            rules.setdefault(chain, []).append(parse_rule(chain, tokens[2:], family))
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
