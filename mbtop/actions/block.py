"""``block`` / ``unblock`` plans: drop new connections from an address or network with the firewall in force.

The address is parsed and printed back by ``ipaddress``, so what reaches the
firewall command is never the operator's (or a log's) text.  What must never
be blocked (this host, the SSH sessions to it, absurdly wide networks) is in
``protect``.
"""

from __future__ import annotations

import ipaddress
import subprocess

from mbtop import syscmd
from mbtop.actions import protect
from mbtop.actions.context import Context, UsageError, gate
from mbtop.actions.plan import Plan, Step

NFT_TABLE = ("inet", "mbtop")
COMMENT = "mbtop-block"


def parse_address(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    try:
        net = ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        raise UsageError(f"{text!r} is not an IP address or network") from None
    return net


def backend_in_force(ctx: Context) -> str:
    """The firewall that decides now: read afresh (a sample's may be old, or was never taken:
    ``--no-firewall``, the live screen between reads). ufw when ufw's chains are loaded."""
    backend = "unknown"
    if ctx.root:
        from mbtop.probes.firewall.read import read

        backend = read(ctx.catalog.tcp_ports).backend
    if backend not in ("ufw", "iptables", "nftables"):
        fw = ctx.snapshot.firewall if ctx.snapshot is not None else None
        backend = fw.backend if fw is not None else "unknown"
    if backend in ("ufw", "iptables", "nftables"):
        return backend
    return "nftables" if syscmd.which("nft") else "iptables"


def _nft_chain_rules() -> str:
    try:
        done = syscmd.run(["nft", "-j", "list", "chain", *NFT_TABLE, "input"], timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout.decode("utf-8", "replace") if done.returncode == 0 else ""


def _iptables_has(cmd: str, addr: str) -> bool:
    try:
        done = syscmd.run(
            [cmd, "-C", "INPUT", "-s", addr, "-m", "comment", "--comment", COMMENT, "-j", "DROP"], timeout=5
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def block(ctx: Context, text: str, unblock: bool = False) -> Plan:
    net = parse_address(text)
    addr = str(net.network_address) if net.num_addresses == 1 else str(net)
    action = "unblock" if unblock else "block"
    refused = gate(ctx) or (None if unblock else protect.refusal(net, ctx.force))
    backend = backend_in_force(ctx)
    v6 = net.version == 6
    steps: list[Step] = []
    if backend == "ufw":
        verb = ("ufw", "delete", "deny", "from", addr) if unblock else ("ufw", "prepend", "deny", "from", addr)
        steps.append(Step("exec", f"ufw {'delete ' if unblock else 'prepend '}deny from {addr}", argv=verb))
    elif backend == "nftables":
        family, table = NFT_TABLE
        set_name = "blocked6" if v6 else "blocked4"
        if unblock:
            steps.append(
                Step(
                    "exec",
                    "remove from mbtop's set",
                    argv=("nft", "delete", "element", family, table, set_name, f"{{ {addr} }}"),
                )
            )
        else:
            steps += [
                Step("exec", "mbtop's own table", argv=("nft", "add", "table", family, table)),
                Step(
                    "exec",
                    "IPv4 block set",
                    argv=("nft", "add", "set", family, table, "blocked4", "{ type ipv4_addr; flags interval; }"),
                ),
                Step(
                    "exec",
                    "IPv6 block set",
                    argv=("nft", "add", "set", family, table, "blocked6", "{ type ipv6_addr; flags interval; }"),
                ),
                Step(
                    "exec",
                    "input chain before other filters",
                    argv=(
                        "nft",
                        "add",
                        "chain",
                        family,
                        table,
                        "input",
                        "{ type filter hook input priority -10; policy accept; }",
                    ),
                ),
            ]
            existing = _nft_chain_rules()
            for fam_kw, sname in (("ip", "blocked4"), ("ip6", "blocked6")):
                if f'"@{sname}"' not in existing and f"@{sname}" not in existing:
                    steps.append(
                        Step(
                            "exec",
                            f"drop {fam_kw} sources in @{sname}",
                            argv=("nft", "add", "rule", family, table, "input", fam_kw, "saddr", f"@{sname}", "drop"),
                        )
                    )
            steps.append(
                Step(
                    "exec",
                    f"add {addr} to @{set_name}",
                    argv=("nft", "add", "element", family, table, set_name, f"{{ {addr} }}"),
                )
            )
    else:
        cmd = "ip6tables" if v6 else "iptables"
        present = _iptables_has(cmd, addr)
        if unblock and present:
            steps.append(
                Step(
                    "exec",
                    f"delete the DROP rule for {addr}",
                    argv=(cmd, "-D", "INPUT", "-s", addr, "-m", "comment", "--comment", COMMENT, "-j", "DROP"),
                )
            )
        elif not unblock and not present:
            steps.append(
                Step(
                    "exec",
                    f"insert a DROP rule for {addr} first in INPUT",
                    argv=(cmd, "-I", "INPUT", "1", "-s", addr, "-m", "comment", "--comment", COMMENT, "-j", "DROP"),
                )
            )
        elif not refused:
            return Plan(action, addr, f"{addr} is {'not ' if unblock else 'already '}blocked by mbtop ({backend})")
    summary = f"{action} {addr} with {backend}"
    verify = f"new connections from {addr} are {'let in again' if unblock else 'dropped'} (firewall re-read)"
    notes = () if backend != "iptables" else ("iptables rules are lost at reboot unless saved (iptables-save)",)
    return Plan(action, addr, summary, tuple(steps), refused, notes, verify)
