"""nft JSON match expressions → the evaluator's matches, for a new connection's SYN."""

from __future__ import annotations

import ipaddress
import operator
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal

from mbtop.probes.firewall.engine import IPNetwork, Match, Outcome, Packet, Rate
from mbtop.probes.firewall.matchers import (
    address_range,
    const_match,
    family_match,
    iface_match,
    iface_matches,
    net_match,
)

CT_NEW = "new"

Key = tuple[str, str, str]  # family, table, name


def set_key(family: str, table: str, name: str) -> Key:
    return (family, table, name)


def elements(value: Any, sets: Mapping[Key, list[Any]], family: str, table: str) -> list[Any] | None:
    """A right-hand side as a list of elements; None when it cannot be read."""
    if isinstance(value, str) and value.startswith("@"):
        return sets.get(set_key(family, table, value[1:]))
    if isinstance(value, dict) and "set" in value:
        inner = value["set"]
        return list(inner) if isinstance(inner, list) else [inner]
    if isinstance(value, list):
        return list(value)
    return [value]


def _port_ranges(elems: Iterable[Any]) -> list[tuple[int, int]] | None:
    out: list[tuple[int, int]] = []
    for e in elems:
        if isinstance(e, int):
            out.append((e, e))
        elif isinstance(e, dict) and "range" in e:
            lo, hi = e["range"]
            if not (isinstance(lo, int) and isinstance(hi, int)):
                return None
            out.append((lo, hi))
        elif isinstance(e, str) and e.isdigit():
            out.append((int(e), int(e)))
        elif isinstance(e, str):
            named = {"smtp": 25, "http": 80, "https": 443, "submission": 587, "submissions": 465, "ssh": 22}
            if e not in named:
                return None
            out.append((named[e], named[e]))
        elif isinstance(e, dict) and "elem" in e:
            inner = _port_ranges([e["elem"].get("val")])
            if inner is None:
                return None
            out.extend(inner)
        else:
            return None
    return out


def _nets(elems: Iterable[Any]) -> list[IPNetwork] | None:
    out: list[IPNetwork] = []
    for e in elems:
        try:
            if isinstance(e, str):
                out.append(ipaddress.ip_network(e, strict=False))
            elif isinstance(e, dict) and "prefix" in e:
                p = e["prefix"]
                out.append(ipaddress.ip_network(f"{p['addr']}/{p['len']}", strict=False))
            elif isinstance(e, dict) and "range" in e:
                out.extend(address_range(str(e["range"][0]), str(e["range"][1])))
            elif isinstance(e, dict) and "elem" in e:
                inner = _nets([e["elem"].get("val")])
                if inner is None:
                    return None
                out.extend(inner)
            else:
                return None
        except (ValueError, TypeError, KeyError):
            return None
    return out


def _ct_states(elems: Iterable[Any]) -> set[str]:
    states: set[str] = set()
    for e in elems:
        if isinstance(e, str):
            states.add(e)
        elif isinstance(e, list):
            states |= {x for x in e if isinstance(x, str)}
    return states


def rate_text(limit: Mapping[str, Any]) -> str:
    rate = limit.get("rate")
    per = limit.get("per", "second")
    unit = limit.get("rate_unit")
    burst = limit.get("burst")
    text = f"{rate}/{per}" + (f" {unit}" if unit and unit != "packets" else "")
    if burst:
        text += f" burst {burst}"
    return text


def rate_value(limit: Mapping[str, Any], per_source: bool) -> Rate | None:
    if limit.get("rate_unit") not in (None, "packets"):
        return None  # a byte rate says nothing about connections
    rate = limit.get("rate")
    return Rate.parse(rate, str(limit.get("per", "second")), per_source) if isinstance(rate, int | float) else None


# nfproto names, ether type names and numbers (a plain untagged frame: no vlan, no pppoe)
FAMILY_NAMES: dict[Any, Literal[4, 6]] = {"ipv4": 4, "ipv6": 6, "ip": 4, "ip6": 6, 0x0800: 4, 0x86DD: 6}


def _families(text: str, elems: Iterable[Any], negate: bool) -> Match:
    fams = {FAMILY_NAMES[e] for e in elems if isinstance(e, str | int) and e in FAMILY_NAMES}

    def test_fam(pkt: Packet) -> Outcome:
        return "yes" if (pkt.family in fams) != negate else "no"

    return Match(text, test_fam)


ORDER: dict[str, Callable[[int, int], bool]] = {
    "<": operator.lt,
    ">": operator.gt,
    "<=": operator.le,
    ">=": operator.ge,
}


def _port_order(text: str, op: str, left: Any, right: Any) -> Match:
    """``tcp dport < 1024``; anything else compared by order cannot be decided here."""
    payload = left.get("payload", {}) if isinstance(left, dict) else {}
    if payload.get("protocol") not in ("tcp", "th") or payload.get("field") != "dport" or not isinstance(right, int):
        return const_match(text, "unknown")
    compare = ORDER[op]
    return Match(text, lambda pkt: "yes" if compare(pkt.dport, right) else "no")


def _component(key: Any) -> Callable[[Packet, Any], bool | None] | None:
    """One key of a concatenation (``ip saddr . tcp dport``): how an element's value is tested."""
    payload = key.get("payload", {}) if isinstance(key, dict) else {}
    meta = key.get("meta", {}).get("key") if isinstance(key, dict) and isinstance(key.get("meta"), dict) else None
    if payload.get("protocol") in ("ip", "ip6") and payload.get("field") == "saddr":
        fam = 4 if payload["protocol"] == "ip" else 6

        def saddr(pkt: Packet, value: Any) -> bool | None:
            nets = _nets([value])
            return None if nets is None else pkt.family == fam and any(pkt.saddr in n for n in nets if n.version == fam)

        return saddr
    if payload.get("protocol") in ("tcp", "th") and payload.get("field") == "dport":

        def dport(pkt: Packet, value: Any) -> bool | None:
            ranges = _port_ranges([value])
            return None if ranges is None else any(lo <= pkt.dport <= hi for lo, hi in ranges)

        return dport
    if meta in ("iifname", "iif"):
        return lambda pkt, value: iface_matches(value, pkt.iface) if isinstance(value, str) else None
    if meta == "l4proto":
        return lambda pkt, value: value in ("tcp", 6)
    return None


def _concat(text: str, keys: Any, elems: list[Any] | None, negate: bool) -> Match:
    """``KEY . KEY ... @set``: an element matches when every part does (parts mbtop cannot read: unknown)."""
    testers = [_component(k) for k in keys] if isinstance(keys, list) else [None]
    values: list[list[Any]] = []
    for e in elems or []:
        e = e.get("elem", {}).get("val") if isinstance(e, dict) and "elem" in e else e
        parts = e.get("concat") if isinstance(e, dict) else None
        if not isinstance(parts, list) or len(parts) != len(testers):
            return const_match(text, "unknown")
        values.append(parts)
    if elems is None or any(t is None for t in testers):
        return const_match(text, "unknown")
    sources: list[IPNetwork] = []
    for key, parts in ((k, [v[i] for v in values]) for i, k in enumerate(keys)):
        if _component(key) is not None and "payload" in key and key["payload"].get("field") == "saddr":
            sources.extend(_nets(parts) or [])

    def test(pkt: Packet) -> Outcome:
        seen: set[bool | None] = set()
        for parts in values:
            got = [t(pkt, v) for t, v in zip(testers, parts, strict=True) if t is not None]
            seen.add(None if None in got else all(got))
        if None in seen and True not in seen:
            return "unknown"
        return "yes" if (True in seen) != negate else "no"

    return Match(text, test, sources=tuple(sources))


def _fib(text: str, fib: Any, elems: list[Any], negate: bool) -> Match:
    """``fib daddr type local`` and ``fib saddr type ...`` for a SYN to the host from a sender that can connect.

    Its destination is one of the host's addresses: type ``local``.  Its source is a remote address the
    answer can be routed to: type ``unicast`` (a sender behind a blackhole or unreachable route gets no
    SYN-ACK, so it connects through no rule).  Lookups tied to an interface (``. iif``, ``. oif``) and
    other results (``oif missing``: reverse-path filters) depend on the routes: unknown.
    """
    flags = fib.get("flags") if isinstance(fib, dict) else None
    flags = [flags] if isinstance(flags, str) else flags if isinstance(flags, list) else []
    if not isinstance(fib, dict) or fib.get("result") != "type" or not set(flags) <= {"saddr", "daddr"}:
        return const_match(text, "unknown")
    if flags == ["daddr"]:
        value = "local"
    elif flags == ["saddr"]:
        value = "unicast"
    else:
        return const_match(text, "unknown")
    return const_match(text, "yes" if (value in elems) != negate else "no")


def match(expr: Mapping[str, Any], sets: Mapping[Key, list[Any]], family: str, table: str, text: str) -> list[Match]:
    op = expr.get("op", "==")
    left = expr.get("left")
    right = expr.get("right")
    negate = op == "!="
    if op in ORDER:
        proto = left.get("payload", {}).get("protocol") if isinstance(left, dict) else None
        if proto in ("ip", "ip6"):  # "ip ttl < 10", "ip6 hoplimit > 1": only this family meets it
            return [family_match(text, 4 if proto == "ip" else 6), const_match(text, "unknown")]
        return [_port_order(text, op, left, right)]
    if op not in ("==", "!=", "in"):
        return [const_match(text, "unknown")]
    if isinstance(left, dict) and "concat" in left:
        return [_concat(text, left["concat"], elements(right, sets, family, table), negate)]
    if isinstance(left, dict) and "payload" in left:
        payload = left["payload"]
        proto, fld = payload.get("protocol"), payload.get("field")
        if proto in ("tcp", "th") and fld in ("dport", "sport"):
            elems = elements(right, sets, family, table)
            ranges = _port_ranges(elems) if elems is not None else None
            if ranges is None:
                return [const_match(text, "unknown")]
            if fld == "sport":
                return [const_match(text, "unknown")]
            hit_ranges = ranges

            def test_port(pkt: Packet) -> Outcome:
                hit = any(lo <= pkt.dport <= hi for lo, hi in hit_ranges)
                return "yes" if hit != negate else "no"

            return [Match(text, test_port)]
        if proto == "tcp" and fld == "flags":
            flags = elements(right, sets, family, table) or []
            if op == "in":  # any of the flags set
                return [const_match(text, "yes" if ("syn" in flags) != negate else "no")]
            if flags in (["syn"], "syn") and not negate:
                return [const_match(text, "unknown")]  # exactly SYN: not when the client asks for ECN
            return [const_match(text, "no" if not negate and "syn" not in flags else "unknown")]
        if proto == "ether" and fld == "type":
            return [_families(text, elements(right, sets, family, table) or [], negate)]
        if proto in ("udp", "icmp", "icmpv6", "sctp", "udplite"):
            return [const_match(text, "no")]
        if proto in ("ip", "ip6") and fld in ("saddr", "daddr"):
            elems = elements(right, sets, family, table)
            nets = _nets(elems) if elems is not None else None
            fam: Literal[4, 6] = 4 if proto == "ip" else 6
            if nets is None:
                return [family_match(text, fam), const_match(text, "unknown")]
            # "ip saddr X" only ever matches IPv4 packets, negated or not.
            # The address test first: a sender outside says "no" there (what lets the walk skip the rule).
            return [net_match(text, nets, negate, fld), family_match(text, fam)]
        if proto in ("ip", "ip6") and fld in ("protocol", "nexthdr"):
            elems = elements(right, sets, family, table) or []
            hit = "tcp" in elems or 6 in elems
            fam = 4 if proto == "ip" else 6
            return [family_match(text, fam), const_match(text, "yes" if hit != negate else "no")]
        if proto in ("ip", "ip6"):  # another header field (ttl, dscp, length, ...): only this family meets it
            return [family_match(text, 4 if proto == "ip" else 6), const_match(text, "unknown")]
        return [const_match(text, "unknown")]
    if isinstance(left, dict) and "&" in left:
        operands = left["&"]
        if (
            isinstance(operands, list)
            and len(operands) == 2
            and isinstance(operands[0], dict)
            and operands[0].get("payload", {}).get("field") == "flags"
        ):
            mask = operands[1] if isinstance(operands[1], list) else [operands[1]]
            want = right if isinstance(right, list) else [right]
            if not all(isinstance(x, str) for x in (*mask, *want)):
                return [const_match(text, "unknown")]
            if {"ecn", "cwr"} & set(mask):
                return [const_match(text, "unknown")]  # the client decides whether its SYN asks for ECN
            got = {"syn"} & set(mask)
            hit = got == set(want)
            return [const_match(text, "yes" if hit != negate else "no")]
        if isinstance(operands, list) and operands and isinstance(operands[0], dict) and "ct" in operands[0]:
            # "ct state & (established|related) != 0" style
            return [const_match(text, "unknown")]
        return [const_match(text, "unknown")]
    if isinstance(left, dict) and "meta" in left:
        key = left["meta"].get("key")
        elems = elements(right, sets, family, table) or []
        if key in ("iifname", "iif"):
            names = [e for e in elems if isinstance(e, str)]
            return [iface_match(text, names, negate)]
        if key == "l4proto":
            hit = "tcp" in elems or 6 in elems
            return [const_match(text, "yes" if hit != negate else "no")]
        if key in ("nfproto", "protocol"):  # protocol: the ether type, as netdev ingress chains test it
            return [_families(text, elems, negate)]
        if key == "pkttype":
            hit = "host" in elems or "unicast" in elems
            return [const_match(text, "yes" if hit != negate else "no")]
        return [const_match(text, "unknown")]
    if isinstance(left, dict) and "ct" in left:
        key = left["ct"].get("key")
        if key == "state":
            elems = elements(right, sets, family, table) or []
            states = _ct_states(elems)

            def test_state(pkt: Packet) -> Outcome:
                hit = pkt.ct in states
                return "yes" if hit != negate else "no"

            return [Match(text, test_state)]
        if key == "status":
            status: Outcome = "no" if not negate else "yes"  # dnat/snat... a plain SYN has none
            return [Match(text, lambda pkt: status if pkt.ct == CT_NEW else "unknown")]
        return [const_match(text, "unknown")]
    if isinstance(left, dict) and "fib" in left:
        return [_fib(text, left["fib"], elements(right, sets, family, table) or [], negate)]
    return [const_match(text, "unknown")]
