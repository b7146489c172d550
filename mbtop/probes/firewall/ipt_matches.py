"""iptables-save match options → the evaluator's matches, for a new connection's SYN.

Options are split by their known argument counts (``ZERO_ARG``, ``TWO_ARG``;
every other takes one); a module or option this parser cannot decide for a
sender it does not know gives an "unknown" match, never a silent "no".
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Literal

from mbtop.probes.firewall.engine import Match, Outcome, Packet, Rate
from mbtop.probes.firewall.ipset import IpSet
from mbtop.probes.firewall.matchers import address_range, const_match, net_match, port_match

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


def options(tokens: list[str]) -> Iterator[Option]:
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


def module_matches(
    module: str, opts: list[Option], family: Literal[4, 6], ipsets: Mapping[str, IpSet] | None = None
) -> list[Match]:
    """The matches of one ``-m MODULE`` block (``ipsets``: ``ipset save``'s sets, when it could be read)."""
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
            if o.name in ("--dports", "--destination-ports"):
                out.append(port_match(o.text(), _ranges(o.args[0]), o.negated, "dport"))
            elif o.name == "--ports":
                out.append(_either_port(o))
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
                local: Outcome = "yes" if ("LOCAL" in kinds) != o.negated else "no"
                # --limit-iface-in: LOCAL to the incoming interface; a SYN to another interface's address is not.
                out.append(_local(o.text(), local, "--limit-iface-in" in get))
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
        return [_set_match(text, opts, ipsets)]
    return [const_match(text, "unknown")]


def _local(text: str, outcome: Outcome, per_interface: bool) -> Match:
    def test(pkt: Packet) -> Outcome:
        return "unknown" if per_interface and len(pkt.daddrs) > 1 else outcome

    return Match(text, test)


def _either_port(o: Option) -> Match:
    """``--ports``: the source or the destination port is listed; the source port is the client's to choose."""
    ranges = _ranges(o.args[0]) if o.args else []

    def test(pkt: Packet) -> Outcome:
        if any(lo <= pkt.dport <= hi for lo, hi in ranges):
            return "no" if o.negated else "yes"
        return "unknown"  # a client sending from a listed port would match

    return Match(o.text(), test)


def _ct_match(o: Option) -> Match:
    """One conntrack/state option for a new connection's first packet (``pkt.ct``: tracked or not)."""
    arg = o.args[0] if o.args else ""
    names = {s.upper() for s in arg.split(",")}
    if o.name in ("--ctstate", "--state"):

        def state(pkt: Packet) -> Outcome:
            hit = pkt.ct.upper() in names
            return "yes" if hit != o.negated else "no"

        return Match(o.text(), state)
    if o.name == "--ctproto":
        hit = arg.lower() in ("tcp", "6", "all")
    elif o.name == "--ctdir":
        hit = arg.upper() == "ORIGINAL"
    elif o.name == "--ctstatus":
        # A first packet has no status bits but NONE; EXPECTED/SEEN_REPLY/ASSURED/CONFIRMED are not set yet.
        hit = "NONE" in names
    else:
        return const_match(o.text(), "unknown")
    outcome: Outcome = "yes" if hit != o.negated else "no"

    def tracked(pkt: Packet) -> Outcome:
        return outcome if pkt.ct == "new" else "unknown"  # without a connection: nothing to describe

    return Match(o.text(), tracked)


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


def _set_match(text: str, opts: list[Option], ipsets: Mapping[str, IpSet] | None) -> Match:
    """``--match-set NAME src|dst`` on a set of addresses or networks whose members were read; else unknown."""
    named = [o for o in opts if o.name == "--match-set"]
    others = [o for o in opts if o.name not in ("--match-set", "--update-counters", "--update-subcounters")]
    if ipsets is None or len(named) != 1 or others or len(named[0].args) != 2:
        return const_match(text, "unknown")  # counters (--packets-gt ...), --return-nomatch, several sets
    o = named[0]
    found = ipsets.get(o.args[0])
    if found is None or found.nets is None or o.args[1] not in ("src", "dst"):
        return const_match(text, "unknown")  # not read, a type mbtop does not read, or a port/interface too
    return net_match(text, list(found.nets), o.negated, "saddr" if o.args[1] == "src" else "daddr")


def _range_match(o: Option, field_: Literal["saddr", "daddr"]) -> Match:
    lo_text, _, hi_text = o.args[0].partition("-") if o.args else ("", "", "")
    try:
        nets = address_range(lo_text, hi_text or lo_text)
    except (ValueError, TypeError):
        return const_match(o.text(), "unknown")
    return net_match(o.text(), nets, o.negated, field_)
