"""``iptables-save`` / ``ip6tables-save`` text → the evaluator's rules.

Only the filter table's INPUT chain (and what it jumps to) decides whether a
new inbound connection is let in, so only the ``*filter`` table is read.
Options are parsed by their known argument counts; a match module this parser
does not know makes its rule "unknown" (never silently matching).
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from typing import Literal

from mbtop.probes.firewall.engine import (
    Chain,
    Match,
    Rule,
    Ruleset,
    TargetKind,
    const_match,
    iface_match,
    net_match,
    parse_net,
)
from mbtop.probes.firewall.ipt_matches import TCP_OPTIONS, Option, module_matches, options

LOG_TARGETS = frozenset({"LOG", "NFLOG", "ULOG", "AUDIT", "TRACE"})
# Target extensions that change a mark, a field or a helper and let the packet go on through the chain.
PASS_TARGETS = frozenset(
    {
        "MARK", "CONNMARK", "CT", "NOTRACK", "TCPMSS", "CHECKSUM", "SET", "CLASSIFY", "DSCP", "TOS", "TTL", "HL",
        "TEE", "IDLETIMER", "LED", "SECMARK", "CONNSECMARK", "TCPOPTSTRIP", "ECN", "RATEEST", "HMARK",
    }
)  # fmt: skip
DROP_TARGETS = frozenset({"TARPIT"})  # holds the connection: nothing gets in


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
            matches.extend(module_matches(module, module_opts, family))
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
