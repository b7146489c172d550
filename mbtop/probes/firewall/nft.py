"""``nft -j list ruleset`` → the evaluator's rules.

Base chains of type filter hooked at ``ingress`` (netdev and inet, per
device), ``prerouting`` or ``input``, and nat chains at ``prerouting``, in the
ip, ip6, inet and netdev families, are what a new inbound connection meets.
Named sets are
resolved; the rule text comes from ``nft -a list ruleset`` (matched by handle)
so the operator sees the rule as nft prints it.  Tables that iptables-nft
manages are skipped here when the iptables reader already covers them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

from mbtop.probes.firewall import iptables as ipt
from mbtop.probes.firewall.engine import Chain, Match, Rule, Ruleset, TargetKind
from mbtop.probes.firewall.matchers import const_match, family_match
from mbtop.probes.firewall.nft_match import Key, elements, match, rate_text, rate_value, set_key

# ingress (per device) runs first, then prerouting, then input, whatever the priorities.
HOOK_ORDER = {"ingress": -2000, "prerouting": -1000, "input": 0}
FAMILIES: dict[str, Literal[4, 6] | None] = {"ip": 4, "ip6": 6, "inet": None, "netdev": None}
# Chain types whose base chains a new inbound connection meets: filter, and nat at prerouting (a
# dnat/redirect there changes where the connection goes: an "unknown" target).
TYPES = {("filter", "ingress"), ("filter", "prerouting"), ("filter", "input"), ("nat", "prerouting")}


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
    elems = elements(data, sets, family, table) if data is not None else None
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
        matches = match({"op": "==", "left": key, "right": elem[0]}, sets, family, table, text)
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
            matches.extend(match(body, sets, family, table, text))
        elif verdict is not None:
            # "notrack accept": two effects in one rule, which one rule here cannot carry.
            target, chain_target = verdict if target != "notrack" else ("unknown", None)
            break
        elif kind == "vmap" and isinstance(body, dict):
            expanded = _vmap(body, matches, sets, family, table, text)
            if expanded is None:
                return [Rule(text, tuple(matches), "unknown")]  # a map mbtop cannot read decides here
            return expanded
        elif kind == "limit" and isinstance(body, dict):
            rate = rate_text(body)
            value = rate_value(body, False)
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
        elif kind in ("set", "meter") and isinstance(body, dict):
            # "update @meter { ip saddr limit rate over N/second }" (and the older "meter NAME { ... }"):
            # a per-element rate.
            stmts = body.get("stmt", []) or []
            key = body.get("key") if kind == "meter" else body.get("elem")
            proto = key.get("payload", {}).get("protocol") if isinstance(key, dict) else None
            if proto in ("ip", "ip6"):  # an ip/ip6 key carries its family (nft adds the dependency)
                matches.append(family_match(text, 4 if proto == "ip" else 6))
            for stmt in [stmts] if isinstance(stmts, dict) else stmts:
                if isinstance(stmt, dict) and isinstance(stmt.get("limit"), dict):
                    lim = stmt["limit"]
                    rate = rate_text(lim)
                    value = rate_value(lim, True)
                    if lim.get("inv"):
                        matches.append(const_match(text, "no", rate=f"over {rate} per source refused", value=value))
                    else:
                        matches.append(const_match(text, "yes", rate=f"{rate} per source", value=value))
        elif kind == "notrack":
            target = "notrack"  # goes on (untracked) to the rule's next statements and the chain's next rule
        elif kind in ("counter", "comment", "meta", "mangle", "ct helper", "quota"):
            if kind == "quota" and isinstance(body, dict) and body.get("inv"):
                matches.append(const_match(text, "unknown"))
            continue
        elif kind == "log":
            logs = True
        elif kind in ("queue", "dnat", "snat", "masquerade", "redirect", "tproxy", "synproxy", "fwd"):
            target = "unknown"
            break
        elif kind == "xt" and isinstance(body, dict) and body.get("type") == "target":
            # An iptables-nft target extension (nft prints no parameters): REJECT rejects, LOG-like ones
            # go on; any other may end the packet's way (TARPIT, CT --notrack, NFQUEUE...): unknown.
            xt_target = _xt_target(str(body.get("name")))
            if xt_target == "log":
                logs = True
                continue
            if xt_target != "continue":
                target = xt_target
                break
        elif kind == "xt":
            name = body.get("name") if isinstance(body, dict) else None
            matches.append(const_match(f"{text} (iptables '{name}' match, no parameters in nft's output)", "unknown"))
        elif kind in ("dup", "secmark", "last"):
            continue  # a copy, a security mark, a time stamp: the packet goes on
        else:
            # A statement mbtop does not know may end the packet's way (as fwd does): its outcome is unknown.
            target = "unknown"
            break
    logs = logs and target == "continue"
    return [Rule(text, tuple(matches), target, chain_target, logs=logs)]


def _xt_target(name: str) -> TargetKind | Literal["log"]:
    if name == "REJECT":
        return "reject"
    if name in ipt.DROP_TARGETS:
        return "drop"
    if name in ipt.LOG_TARGETS:
        return "log"
    if name in ipt.PASS_TARGETS and name != "CT":  # CT may be --notrack: its parameters are not printed
        return "continue"
    return "unknown"


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
    devices: Mapping[Key, tuple[str, ...]] | None = None,
) -> Ruleset | None:
    """The base chains a new inbound connection meets (ingress, prerouting, input); None when there are none.

    ``devices``: the interfaces of each ingress chain, from ``chain_devices`` (nft's JSON does not say).
    """
    items = doc.get("nftables", [])
    if not isinstance(items, list):
        return None
    texts = texts or {}
    devices = devices or {}
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
            sets[set_key(s.get("family", ""), s.get("table", ""), s.get("name", ""))] = list(s.get("elem", []) or [])
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
        if (meta.get("type", "filter"), hook) in TYPES:
            policy = "drop" if meta.get("policy") == "drop" else "accept"
            raw_prio = meta.get("prio", 0)
            prio = (raw_prio if isinstance(raw_prio, int) else 0) + HOOK_ORDER[str(hook)] * 1000
        chain = Chain(qualified, tuple(rules.get(key, [])), policy, prio, FAMILIES[family])
        chains[qualified] = chain
        if policy is not None and hook == "ingress":
            base.append(_ingress(chain, meta, devices.get(key), chains))
        elif policy is not None:
            base.append(chain)
    if not base:
        return None
    return Ruleset("nftables", tuple(base), chains, tuple(notes))


def _ingress(chain: Chain, meta: Mapping[str, Any], listed: tuple[str, ...] | None, chains: dict[str, Chain]) -> Chain:
    """An ingress base chain: only its devices' packets; when they cannot be told, whether it applies is unknown."""
    dev = meta.get("dev")
    given = [dev] if isinstance(dev, str) else dev if isinstance(dev, list) else []
    names = tuple(d for d in given if isinstance(d, str)) or listed or ()
    if names:
        return Chain(chain.name, chain.rules, chain.policy, chain.priority, chain.family, names)
    # The chain's own rules, then its policy, behind a match that cannot be decided.
    inner = f"{chain.name} (device unknown)"
    tail = (Rule(f"{chain.name}: policy drop", (), "drop"),) if chain.policy == "drop" else ()
    chains[inner] = Chain(inner, (*chain.rules, *tail), None, 0, chain.family)
    unsure = const_match(f"{chain.name}: which device it hooks cannot be read", "unknown")
    guard = Rule(f"{chain.name}: ingress on a device that cannot be read", (unsure,), "goto", inner)
    return Chain(chain.name, (guard,), "accept", chain.priority, chain.family)


DEVICE_RE = re.compile(r"hook ingress (?:device (?P<one>\S+)|devices = \{ (?P<many>[^}]*) \})")


def table_names(listing: str) -> set[tuple[str, str]]:
    """``nft list ruleset`` → the (family, name) of every table."""
    return {(m["family"], m["name"]) for line in listing.splitlines() if (m := TABLE_RE.match(line.strip()))}


def chain_devices(listing: str) -> dict[Key, tuple[str, ...]]:
    """``nft list ruleset`` → (family, table, chain) → the devices an ingress chain hooks."""
    out: dict[Key, tuple[str, ...]] = {}
    family = table = chain = ""
    for raw in listing.splitlines():
        line = raw.strip()
        if m := TABLE_RE.match(line):
            family, table, chain = m["family"], m["name"], ""
        elif m := CHAIN_RE.match(line):
            chain = m["name"]
        elif chain and (m := DEVICE_RE.search(line)):
            names = m["one"] or m["many"] or ""
            out[(family, table, chain)] = tuple(n.strip().strip('"') for n in names.split(",") if n.strip())
    return out


def _fallback_text(rule: Mapping[str, Any]) -> str:
    parts: list[str] = []
    for expr in rule.get("expr", []) or []:
        if isinstance(expr, dict):
            parts.extend(expr.keys())
    return f"rule handle {rule.get('handle')} ({' '.join(parts)})"


def iptables_tables(save_text: str) -> set[str]:
    """Table names an ``iptables-save`` (nft variant) printed."""
    return {line[1:].strip() for line in save_text.splitlines() if line.startswith("*")}
