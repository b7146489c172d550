"""``nft -j list ruleset`` → the evaluator's rules.

Base chains of type filter hooked at ``prerouting`` or ``input`` in the ip,
ip6 and inet families are what a new inbound connection meets.  Named sets are
resolved; the rule text comes from ``nft -a list ruleset`` (matched by handle)
so the operator sees the rule as nft prints it.  Tables that iptables-nft
manages are skipped here when the iptables reader already covers them.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from mbtop.probes.firewall.engine import (
    Chain,
    IPNetwork,
    Match,
    Outcome,
    Packet,
    Rate,
    Rule,
    Ruleset,
    TargetKind,
    address_range,
    const_match,
    family_match,
    iface_match,
    net_match,
)

HOOK_ORDER = {"prerouting": -1000, "input": 0}  # prerouting runs first at any priority
FAMILIES: dict[str, Literal[4, 6] | None] = {"ip": 4, "ip6": 6, "inet": None}
CT_NEW = "new"

Key = tuple[str, str, str]  # family, table, name


def _set_key(family: str, table: str, name: str) -> Key:
    return (family, table, name)


def _elements(value: Any, sets: Mapping[Key, list[Any]], family: str, table: str) -> list[Any] | None:
    """A right-hand side as a list of elements; None when it cannot be read."""
    if isinstance(value, str) and value.startswith("@"):
        return sets.get(_set_key(family, table, value[1:]))
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


def _rate_text(limit: Mapping[str, Any]) -> str:
    rate = limit.get("rate")
    per = limit.get("per", "second")
    unit = limit.get("rate_unit")
    burst = limit.get("burst")
    text = f"{rate}/{per}" + (f" {unit}" if unit and unit != "packets" else "")
    if burst:
        text += f" burst {burst}"
    return text


def _rate_value(limit: Mapping[str, Any], per_source: bool) -> Rate | None:
    if limit.get("rate_unit") not in (None, "packets"):
        return None  # a byte rate says nothing about connections
    rate = limit.get("rate")
    return Rate.parse(rate, str(limit.get("per", "second")), per_source) if isinstance(rate, int | float) else None


def _match(expr: Mapping[str, Any], sets: Mapping[Key, list[Any]], family: str, table: str, text: str) -> list[Match]:
    op = expr.get("op", "==")
    left = expr.get("left")
    right = expr.get("right")
    negate = op == "!="
    if op not in ("==", "!=", "in"):
        return [const_match(text, "unknown")]
    if isinstance(left, dict) and "payload" in left:
        payload = left["payload"]
        proto, fld = payload.get("protocol"), payload.get("field")
        if proto in ("tcp", "th") and fld in ("dport", "sport"):
            elems = _elements(right, sets, family, table)
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
            flags = _elements(right, sets, family, table) or []
            if op == "in":  # any of the flags set
                return [const_match(text, "yes" if ("syn" in flags) != negate else "no")]
            if flags in (["syn"], "syn") and not negate:
                return [const_match(text, "unknown")]  # exactly SYN: not when the client asks for ECN
            return [const_match(text, "no" if not negate and "syn" not in flags else "unknown")]
        if proto in ("udp", "icmp", "icmpv6", "sctp", "udplite"):
            return [const_match(text, "no")]
        if proto in ("ip", "ip6") and fld in ("saddr", "daddr"):
            elems = _elements(right, sets, family, table)
            nets = _nets(elems) if elems is not None else None
            fam: Literal[4, 6] = 4 if proto == "ip" else 6
            if nets is None:
                return [family_match(text, fam), const_match(text, "unknown")]
            # "ip saddr X" only ever matches IPv4 packets, negated or not.
            return [family_match(text, fam), net_match(text, nets, negate, fld)]
        if proto in ("ip", "ip6") and fld in ("protocol", "nexthdr"):
            elems = _elements(right, sets, family, table) or []
            hit = "tcp" in elems or 6 in elems
            fam = 4 if proto == "ip" else 6
            return [family_match(text, fam), const_match(text, "yes" if hit != negate else "no")]
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
        elems = _elements(right, sets, family, table) or []
        if key in ("iifname", "iif"):
            names = [e for e in elems if isinstance(e, str)]
            return [iface_match(text, names, negate)]
        if key == "l4proto":
            hit = "tcp" in elems or 6 in elems
            return [const_match(text, "yes" if hit != negate else "no")]
        if key == "nfproto":
            fams = {4 if e == "ipv4" else 6 for e in elems if e in ("ipv4", "ipv6")}

            def test_fam(pkt: Packet) -> Outcome:
                return "yes" if (pkt.family in fams) != negate else "no"

            return [Match(text, test_fam)]
        if key == "pkttype":
            hit = "host" in elems or "unicast" in elems
            return [const_match(text, "yes" if hit != negate else "no")]
        return [const_match(text, "unknown")]
    if isinstance(left, dict) and "ct" in left:
        key = left["ct"].get("key")
        if key == "state":
            elems = _elements(right, sets, family, table) or []
            hit = CT_NEW in _ct_states(elems)
            return [const_match(text, "yes" if hit != negate else "no")]
        if key == "status":
            return [const_match(text, "no" if not negate else "yes")]  # dnat/snat... a plain SYN has none
        return [const_match(text, "unknown")]
    if isinstance(left, dict) and "fib" in left:
        elems = _elements(right, sets, family, table) or []
        if "local" in elems:
            return [const_match(text, "yes" if not negate else "no")]
        return [const_match(text, "unknown")]
    return [const_match(text, "unknown")]


VERDICTS = ("accept", "drop", "reject", "return", "jump", "goto", "continue")


def _verdict(kind: str, body: Any, family: str, table: str) -> tuple[TargetKind, str | None] | None:
    """A verdict statement as a target; None when ``kind`` is not one."""
    if kind in ("accept", "drop", "reject", "return", "continue"):
        target: TargetKind = kind  # type: ignore[assignment]
        return target, None
    if kind in ("jump", "goto") and isinstance(body, dict):
        return ("jump" if kind == "jump" else "goto"), f"{family} {table} {body.get('target')}"
    return None


def _vmap(
    body: Mapping[str, Any],
    before: list[Match],
    sets: Mapping[Key, list[Any]],
    family: str,
    table: str,
    text: str,
) -> list[Rule] | None:
    """``KEY vmap { k1 : v1, ... }`` as one rule per element (their keys never overlap)."""
    key, data = body.get("key"), body.get("data")
    elems = _elements(data, sets, family, table) if data is not None else None
    if not isinstance(key, dict) or "concat" in key or elems is None:
        return None
    out: list[Rule] = []
    for elem in elems:
        if not (isinstance(elem, list) and len(elem) == 2 and isinstance(elem[1], dict) and len(elem[1]) == 1):
            return None
        ((kind, vbody),) = elem[1].items()
        verdict = _verdict(kind, vbody, family, table)
        if verdict is None:
            return None
        matches = _match({"op": "==", "left": key, "right": elem[0]}, sets, family, table, text)
        out.append(Rule(text, (*before, *matches), verdict[0], verdict[1]))
    return out


def _rules(
    expr_list: list[Mapping[str, Any]], sets: Mapping[Key, list[Any]], family: str, table: str, text: str
) -> list[Rule]:
    """One nft rule as the evaluator's rules (a verdict map becomes one per element)."""
    matches: list[Match] = []
    target: TargetKind = "continue"
    chain_target: str | None = None
    logs = False
    for expr in expr_list:
        if not isinstance(expr, dict) or len(expr) != 1:
            matches.append(const_match(text, "unknown"))
            continue
        ((kind, body),) = expr.items()
        verdict = _verdict(kind, body, family, table)
        if kind == "match" and isinstance(body, dict):
            matches.extend(_match(body, sets, family, table, text))
        elif verdict is not None:
            target, chain_target = verdict
            break
        elif kind == "vmap" and isinstance(body, dict):
            expanded = _vmap(body, matches, sets, family, table, text)
            if expanded is None:
                return [Rule(text, tuple(matches), "unknown")]  # a map mbtop cannot read decides here
            return expanded
        elif kind == "limit" and isinstance(body, dict):
            rate = _rate_text(body)
            value = _rate_value(body, False)
            if body.get("inv"):
                matches.append(const_match(text, "no", rate=f"over {rate} refused (all sources together)", value=value))
            else:
                matches.append(const_match(text, "yes", rate=f"{rate} (all sources together)", value=value))
        elif kind == "ct count" and isinstance(body, dict):
            val = body.get("val")
            if body.get("inv"):
                matches.append(const_match(text, "no", rate=f"at most {val} concurrent"))
            else:
                matches.append(const_match(text, "yes", rate=f"at most {val} concurrent"))
        elif kind == "set" and isinstance(body, dict):
            # "update @meter { ip saddr limit rate over N/second }": a per-element rate.
            for stmt in body.get("stmt", []) or []:
                if isinstance(stmt, dict) and isinstance(stmt.get("limit"), dict):
                    lim = stmt["limit"]
                    rate = _rate_text(lim)
                    value = _rate_value(lim, True)
                    if lim.get("inv"):
                        matches.append(const_match(text, "no", rate=f"over {rate} per source refused", value=value))
                    else:
                        matches.append(const_match(text, "yes", rate=f"{rate} per source", value=value))
        elif kind in ("counter", "comment", "meta", "mangle", "notrack", "ct helper", "quota"):
            if kind == "quota" and isinstance(body, dict) and body.get("inv"):
                matches.append(const_match(text, "unknown"))
            continue
        elif kind == "log":
            logs = True
        elif kind in ("queue", "dnat", "snat", "masquerade", "redirect", "tproxy", "synproxy"):
            target = "unknown"
            break
        elif kind == "xt":
            name = body.get("name") if isinstance(body, dict) else None
            matches.append(const_match(f"{text} (iptables '{name}' match, no parameters in nft's output)", "unknown"))
        else:
            matches.append(const_match(text, "unknown"))
    logs = logs and target == "continue"
    return [Rule(text, tuple(matches), target, chain_target, logs=logs)]


HANDLE_RE = re.compile(r"^(?P<body>.*?)\s+# handle (?P<handle>\d+)\s*$")
TABLE_RE = re.compile(r"^table (?P<family>\S+) (?P<name>\S+) \{")
CHAIN_RE = re.compile(r"^chain (?P<name>\S+) \{")


def rule_texts(listing: str) -> dict[tuple[str, str, str, int], str]:
    """``nft -a list ruleset`` → (family, table, chain, handle) → rule text."""
    out: dict[tuple[str, str, str, int], str] = {}
    family = table = chain = ""
    for raw in listing.splitlines():
        line = raw.strip()
        if m := TABLE_RE.match(line):
            family, table, chain = m["family"], m["name"], ""
            continue
        if m := CHAIN_RE.match(line):
            chain = m["name"]
            continue
        if line.startswith(("set ", "map ", "flowtable ", "type ", "elements", "flags ", "counter ")) and not chain:
            continue
        if chain and (m := HANDLE_RE.match(line)) and not line.startswith(("chain ", "set ", "map ")):
            out[(family, table, chain, int(m["handle"]))] = m["body"]
        if line == "}" and chain:
            chain = ""
    return out


def parse_json(
    doc: Mapping[str, Any],
    texts: Mapping[tuple[str, str, str, int], str] | None = None,
    skip_tables: frozenset[tuple[str, str]] = frozenset(),
) -> Ruleset | None:
    """The input-hook filter chains of a ruleset; None when there are none."""
    items = doc.get("nftables", [])
    if not isinstance(items, list):
        return None
    texts = texts or {}
    sets: dict[Key, list[Any]] = {}
    chain_meta: dict[Key, Mapping[str, Any]] = {}
    rules: dict[Key, list[Rule]] = {}
    notes: list[str] = []
    for item in items:
        if not isinstance(item, dict):
            continue
        kind = "set" if "set" in item else "map"
        if kind in item and isinstance(item[kind], dict):
            s = item[kind]
            sets[_set_key(s.get("family", ""), s.get("table", ""), s.get("name", ""))] = list(s.get("elem", []) or [])
        elif "chain" in item and isinstance(item["chain"], dict):
            c = item["chain"]
            chain_meta[(c.get("family", ""), c.get("table", ""), c.get("name", ""))] = c
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("rule"), dict):
            continue
        r = item["rule"]
        family, table, chain = r.get("family", ""), r.get("table", ""), r.get("chain", "")
        if family not in FAMILIES or (family, table) in skip_tables:
            continue
        handle = r.get("handle", -1)
        text = texts.get((family, table, chain, handle)) or _fallback_text(r)
        rules.setdefault((family, table, chain), []).extend(_rules(r.get("expr", []) or [], sets, family, table, text))
    chains: dict[str, Chain] = {}
    base: list[Chain] = []
    for key, meta in chain_meta.items():
        family, table, name = key
        if family not in FAMILIES or (family, table) in skip_tables:
            continue
        qualified = f"{family} {table} {name}"
        hook = meta.get("hook")
        policy: Literal["accept", "drop"] | None = None
        prio = 0
        if hook in HOOK_ORDER and meta.get("type", "filter") == "filter":
            policy = "drop" if meta.get("policy") == "drop" else "accept"
            raw_prio = meta.get("prio", 0)
            prio = (raw_prio if isinstance(raw_prio, int) else 0) + HOOK_ORDER[str(hook)] * 1000
        chain = Chain(qualified, tuple(rules.get(key, [])), policy, prio, FAMILIES[family])
        chains[qualified] = chain
        if policy is not None:
            base.append(chain)
    if not base:
        return None
    return Ruleset("nftables", tuple(base), chains, tuple(notes))


def _fallback_text(rule: Mapping[str, Any]) -> str:
    parts: list[str] = []
    for expr in rule.get("expr", []) or []:
        if isinstance(expr, dict):
            parts.extend(expr.keys())
    return f"rule handle {rule.get('handle')} ({' '.join(parts)})"


def iptables_tables(save_text: str) -> set[str]:
    """Table names an ``iptables-save`` (nft variant) printed."""
    return {line[1:].strip() for line in save_text.splitlines() if line.startswith("*")}
