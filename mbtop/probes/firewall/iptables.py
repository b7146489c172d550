"""``iptables-save`` / ``ip6tables-save`` text → the evaluator's rules.

A new inbound connection meets the raw, mangle and nat tables' PREROUTING and
the mangle, filter and security tables' INPUT chains, in that order (a DROP in
any of them keeps it out; a DNAT/REDIRECT in nat changes where it goes), so
those are read, with what they jump to; other tables and chains are not.
Options are parsed by their known argument counts; a match module this parser
does not know makes its rule "unknown" (never silently matching).
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Mapping
from typing import Literal

from mbtop.probes.firewall.engine import Chain, Match, Rule, Ruleset, TargetKind
from mbtop.probes.firewall.ipset import IpSet
from mbtop.probes.firewall.ipt_matches import TCP_OPTIONS, Option, module_matches, options
from mbtop.probes.firewall.matchers import const_match, iface_match, net_match, parse_net

LOG_TARGETS = frozenset({"LOG", "NFLOG", "ULOG", "AUDIT", "TRACE"})
# Target extensions that change a mark, a field or a helper and let the packet go on through the chain.
PASS_TARGETS = frozenset(
    {
        "MARK", "CONNMARK", "CT", "TCPMSS", "CHECKSUM", "SET", "CLASSIFY", "DSCP", "TOS", "TTL", "HL",
        "TEE", "IDLETIMER", "LED", "SECMARK", "CONNSECMARK", "TCPOPTSTRIP", "ECN", "RATEEST", "HMARK",
    }
)  # fmt: skip
DROP_TARGETS = frozenset({"TARPIT"})  # holds the connection: nothing gets in


def _proto_match(o: Option) -> Match:
    proto = o.args[0].lower() if o.args else ""
    hit = proto in ("tcp", "6", "all", "0")
    return const_match(o.text(), "yes" if hit != o.negated else "no")


def parse_rule(
    chain: str,
    tokens: list[str],
    family: Literal[4, 6],
    chains: frozenset[str] | set[str] = frozenset(),
    ipsets: Mapping[str, IpSet] | None = None,
) -> Rule:
    """One ``-A`` line; ``chains``: the chains the table defines (jump targets); ``ipsets``: the sets read."""
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
            matches.extend(module_matches(module, module_opts, family, ipsets))
        module, module_opts = None, []

    for o in options(tokens):
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
            elif name == "NOTRACK":
                target = "notrack"
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
            if o.name == "--notrack" and chain_target is None and target == "continue":
                target = "notrack"  # -j CT --notrack
            continue
        if module is None and o.name in TCP_OPTIONS:
            matches.extend(module_matches("tcp", [o], family))  # "-p tcp --dport 25" without "-m tcp"
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


# The tables and chains a new inbound connection's SYN goes through before the socket, in the
# kernel's order (hook, then priority): raw/mangle/nat PREROUTING, then mangle/filter/security INPUT.
# nat PREROUTING only matters for what DNAT/REDIRECT do to the port (an "unknown" target here).
# The filter table's chains keep their plain names (what operators and ufw call them); the others
# are qualified ("raw PREROUTING").
HOOK_CHAINS: dict[tuple[str, str], int] = {
    ("raw", "PREROUTING"): -1_000_000 - 300,
    ("mangle", "PREROUTING"): -1_000_000 - 150,
    ("nat", "PREROUTING"): -1_000_000 - 100,
    ("mangle", "INPUT"): -150,
    ("filter", "INPUT"): 0,
    ("security", "INPUT"): 50,
}
TABLES = frozenset(t for t, _ in HOOK_CHAINS)


def _qualified(table: str, chain: str) -> str:
    return chain if table == "filter" else f"{table} {chain}"


def parse_save(
    text: str, family: Literal[4, 6], backend: str = "iptables", ipsets: Mapping[str, IpSet] | None = None
) -> Ruleset | None:
    """The tables of ``iptables-save`` output a new inbound connection meets; None when it has none."""
    table: str | None = None
    policies: dict[str, str] = {}
    rules: dict[str, list[Rule]] = {}
    found = False
    defined = _defined_chains(text)
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("*"):
            table = line[1:].strip() if line[1:].strip() in TABLES else None
            found = found or table is not None
            continue
        if table is None:
            continue
        if line == "COMMIT":
            table = None
            continue
        if line.startswith(":"):
            name, _, rest = line[1:].partition(" ")
            policies[_qualified(table, name)] = rest.split()[0] if rest else "-"
            rules.setdefault(_qualified(table, name), [])
            continue
        try:
            tokens = shlex.split(line)
        except ValueError:
            tokens = line.split()
        if len(tokens) >= 2 and tokens[0] == "-A":
            chain = tokens[1]
            rule = parse_rule(chain, tokens[2:], family, defined.get(table, set()), ipsets)
            if table != "filter":
                jump = rule.chain_target
                if rule.target in ("jump", "goto") and jump is not None:
                    jump = _qualified(table, jump)
                rule = Rule(f"-t {table} {rule.text}", rule.matches, rule.target, jump, rule.label, rule.logs)
            rules.setdefault(_qualified(table, chain), []).append(rule)
    if not found:
        return None
    chains: dict[str, Chain] = {}
    for name, rs in rules.items():
        policy = policies.get(name, "-")
        pol: Literal["accept", "drop"] | None = "accept" if policy == "ACCEPT" else "drop" if policy == "DROP" else None
        chains[name] = Chain(name, tuple(rs), pol, 0, family)
    base: list[Chain] = []
    for (tname, cname), prio in HOOK_CHAINS.items():
        hooked = chains.get(_qualified(tname, cname))
        if tname == "filter":
            hooked = hooked or Chain(cname, (), "accept", 0, family)
        elif hooked is None or not (hooked.rules or hooked.policy == "drop"):
            continue  # an empty table that accepts: nothing to show or evaluate
        base.append(Chain(hooked.name, hooked.rules, hooked.policy or "accept", prio, family))
    for b in base:
        chains[b.name] = b
    return Ruleset(backend, tuple(base), chains)


def _defined_chains(text: str) -> dict[str, set[str]]:
    """Per table, the chains it declares (``:NAME POLICY``), and any that has rules."""
    out: dict[str, set[str]] = {}
    table = ""
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("*"):
            table = line[1:].strip()
        elif table and line.startswith(":"):
            out.setdefault(table, set()).add(line[1:].partition(" ")[0])
        elif table and line.startswith("-A "):
            out.setdefault(table, set()).add(line.split()[1] if len(line.split()) > 1 else "")
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
