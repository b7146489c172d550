"""ufw's own view of its rules: ``/etc/ufw/user.rules`` tuples → ufw commands.

ufw writes each rule the operator typed as a ``### tuple ###`` comment
followed by the iptables rules it made of it, in the order iptables-save lists
them in ``ufw-user-input``.  That lets the deciding rule be shown as the
command the operator typed (``ufw limit 25/tcp``).
"""

from __future__ import annotations

from pathlib import Path

from mbtop.probes.firewall.engine import Rule, Ruleset
from mbtop.probes.firewall.iptables import relabel

ANY = ("0.0.0.0/0", "::/0", "any")


def command(tuple_text: str) -> str:
    """``allow tcp 10050 0.0.0.0/0 any 192.168.1.0/24 in`` → the ufw command."""
    f = tuple_text.split()
    if len(f) < 7:
        return f"ufw {tuple_text}"
    action, proto, dport, dst, sport, src = f[:6]
    direction = f[-1]
    iface = ""
    if "_" in direction:
        d, _, name = direction.partition("_")
        iface = f" {d} on {name}"
    if src in ANY and dst in ANY and sport == "any":
        what = dport if proto == "any" else f"{dport}/{proto}"
        return f"ufw {action}{iface} {what}"
    parts = [f"ufw {action}{iface}", "from", "any" if src in ANY else src, "to", "any" if dst in ANY else dst]
    if dport != "any":
        parts += ["port", dport]
    if proto != "any":
        parts += ["proto", proto]
    return " ".join(parts)


def user_chain_labels(rules_file: str, chain: str = "ufw-user-input") -> list[str | None]:
    """One label per ``-A ufw-user-input`` (or ufw6-) line of a user.rules file, in order."""
    labels: list[str | None] = []
    current: str | None = None
    for line in rules_file.splitlines():
        if line.startswith("### tuple ### "):
            current = command(line[len("### tuple ### ") :].strip())
        elif line.startswith(f"-A {chain} "):
            labels.append(current)
        elif not line.strip():
            current = None
    return labels


def user_chain(rs: Ruleset) -> str | None:
    for name in ("ufw-user-input", "ufw6-user-input"):
        if name in rs.chains:
            return name
    return None


def label(rs: Ruleset, rules_path: Path) -> Ruleset:
    """Attach ufw commands to the ufw-user-input rules when the counts agree."""
    chain_name = user_chain(rs)
    if chain_name is None:
        return rs
    try:
        labels = user_chain_labels(rules_path.read_text(errors="replace"), chain_name)
    except OSError:
        return rs
    chain = rs.chains[chain_name]
    if len(chain.rules) != len(labels):
        return rs

    def pick(name: str, index: int, _rule: Rule) -> str | None:
        return labels[index] if name == chain_name else None

    return relabel(rs, pick)
