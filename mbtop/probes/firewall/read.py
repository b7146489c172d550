"""Read the rules in force and evaluate them for the catalog's ports.

Commands are run with an argv (no shell), resolved from a fixed system PATH
with a minimal environment (never the caller's), a timeout and ``LC_ALL=C``; a
missing binary or a refusal (not root) degrades to ``unknown`` with the
reason, never an exception.
"""

from __future__ import annotations

import fcntl
import ipaddress
import json
import os
import socket
import struct
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from mbtop import syscmd
from mbtop.probes.firewall import Backend, FirewallState, Host, analyse, ipset, nft, ufw, unknown_state
from mbtop.probes.firewall import iptables as ipt
from mbtop.probes.firewall.engine import Chain, IPAddress, Rule, Ruleset

TIMEOUT = 5.0
SIOCGIFADDR = 0x8915
UFW_DIR = Path("/etc/ufw")


@dataclass(frozen=True, slots=True)
class Ran:
    ok: bool
    out: str
    why: str  # when not ok


def run_all(argvs: list[list[str]], timeout: float = TIMEOUT) -> list[Ran]:
    """Run the commands at once (they are independent reads) and wait for all, each bounded."""
    started: list[subprocess.Popen[bytes] | Ran] = []
    for argv in argvs:
        try:
            # syscmd: resolved from the system PATH only, with a minimal environment (never the caller's).
            started.append(syscmd.popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE))
        except FileNotFoundError:
            started.append(Ran(False, "", f"{argv[0]} not installed"))
            continue
        except OSError as exc:
            started.append(Ran(False, "", f"{argv[0]}: {exc.strerror or exc}"))
    out: list[Ran] = []
    for argv, proc in zip(argvs, started, strict=True):
        if isinstance(proc, Ran):
            out.append(proc)
            continue
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            out.append(Ran(False, "", f"{argv[0]} did not answer in {timeout:.0f} s"))
            continue
        text = stdout.decode("utf-8", "replace")
        if proc.returncode != 0:
            err = stderr.decode("utf-8", "replace").strip().splitlines()
            first = err[0] if err else f"exit status {proc.returncode}"
            out.append(Ran(False, text, f"{argv[0]}: {first[:200]}"))
        else:
            out.append(Ran(True, text, ""))
    return out


def run(argv: list[str], timeout: float = TIMEOUT) -> Ran:
    return run_all([argv], timeout)[0]


def _ipv4_address(name: str) -> IPAddress | None:
    """The interface's primary IPv4 address (SIOCGIFADDR); None when it has none."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            raw = fcntl.ioctl(s.fileno(), SIOCGIFADDR, struct.pack("256s", name.encode()[:15]))
        except OSError:
            return None
    return ipaddress.ip_address(raw[20:24])


def _is_up(name: str) -> bool:
    """IFF_UP: a downed interface receives nothing, so its rules do not matter now."""
    try:
        return bool(int(Path(f"/sys/class/net/{name}/flags").read_text(), 16) & 0x1)
    except (OSError, ValueError):
        return True


def _ipv6_addresses(proc: Path) -> dict[str, list[IPAddress]]:
    out: dict[str, list[IPAddress]] = {}
    try:
        lines = (proc / "net" / "if_inet6").read_text().splitlines()
    except OSError:
        return out
    for line in lines:
        f = line.split()
        if len(f) < 6:
            continue
        try:
            addr = ipaddress.ip_address(bytes.fromhex(f[0]))
        except ValueError:
            continue
        out.setdefault(f[5], []).append(addr)
    return out


def host_info(proc: Path = Path("/proc")) -> tuple[Host, list[Literal[4, 6]]]:
    """Non-loopback interfaces and addresses, and the families worth evaluating."""
    try:
        names = [name for _i, name in socket.if_nameindex() if name != "lo" and _is_up(name)]
    except OSError:
        names = []
    addrs: dict[int, list[IPAddress]] = {4: [], 6: []}
    v6 = _ipv6_addresses(proc)
    for name in names:
        found = [a for a in (_ipv4_address(name), *v6.get(name, [])) if a is not None]
        addrs[4] += [a for a in found if a.version == 4 and not a.is_loopback]
        addrs[6] += [a for a in found if a.version == 6 and not (a.is_loopback or a.is_link_local)]
    families: list[Literal[4, 6]] = [4]
    if addrs[6]:
        families.append(6)
    host = Host(tuple(sorted(names)), {k: tuple(v) for k, v in addrs.items() if v})
    return host, families


def _legacy_loaded(family: int) -> bool:
    names = Path("/proc/net/ip_tables_names" if family == 4 else "/proc/net/ip6_tables_names")
    try:
        return bool(names.read_text().strip())
    except OSError:
        return False


def _unreadable(why: str) -> Ruleset:
    """A rule set that decides nothing: every verdict is unknown, with ``why``."""
    rule = Rule(why, (), "unknown")
    chain = Chain("nftables", (rule,), "accept", -3_000_000, None)
    return Ruleset("nftables", (chain,), {chain.name: chain})


def _nft_variant(save_text: str) -> bool:
    """Did iptables-nft print this? (``# Generated by iptables-save v1.8.9 (nf_tables) on ...``)"""
    return any(line.startswith("# Generated by") and "(nf_tables)" in line for line in save_text.splitlines()[:3])


def _filters(rs: Ruleset) -> bool:
    """Does this ruleset filter anything inbound (a rule, or a policy that is not accept)?"""
    return any(c.rules or c.policy == "drop" for c in rs.base)


def _policies(rs: Ruleset, family_name: str) -> list[str]:
    out = []
    for c in rs.base:
        fam = family_name if c.family is not None else "IPv4+IPv6"
        out.append(f"{fam} {c.name} policy {(c.policy or 'accept').upper()} ({rs.backend})")
    return out


def _established(rulesets: Iterable[Ruleset]) -> bool | None:
    seen = False
    for rs in rulesets:
        for chain in rs.chains.values():
            for rule in chain.rules:
                seen = True
                if rule.target == "accept" and "established" in rule.text.lower():
                    return True
    return False if seen else None


@dataclass(frozen=True, slots=True)
class Dumps:
    """What the firewall tools printed: the input of ``from_dumps``."""

    v4: Ran  # iptables-save
    v6: Ran  # ip6tables-save
    listing: Ran  # nft -j list ruleset
    texts: Ran  # nft -a list ruleset
    legacy: dict[int, Ran] = field(default_factory=dict)  # family -> ip(6)tables-legacy-save, when loaded
    ipsets: Ran | None = None  # ipset save: who is in the sets ``-m set`` names


def read(ports: Iterable[int], ufw_dir: Path = UFW_DIR) -> FirewallState:
    host, families = host_info()
    v4, v6, listing, texts, ipsets = run_all(
        [
            ["iptables-save"],
            ["ip6tables-save"],
            ["nft", "-j", "list", "ruleset"],
            ["nft", "-a", "list", "ruleset"],
            ["ipset", "save"],
        ]
    )
    saves = {4: "iptables-legacy-save", 6: "ip6tables-legacy-save"}
    legacy = {family: run([saves[family]]) for family in (4, 6) if _legacy_loaded(family)}
    return from_dumps(ports, host, families, Dumps(v4, v6, listing, texts, legacy, ipsets), ufw_dir)


def from_dumps(
    ports: Iterable[int], host: Host, families: list[Literal[4, 6]], dumps: Dumps, ufw_dir: Path = UFW_DIR
) -> FirewallState:
    """The firewall state from what the tools printed (pure but for ufw's rule files, read for labels)."""
    ports = list(ports)
    rulesets: list[Ruleset] = []
    problems: list[str] = []
    notes: list[str] = []
    policies: list[str] = []
    ipt_tables: dict[int, set[str]] = {}
    is_ufw = False
    v4, v6, listing, texts = dumps.v4, dumps.v6, dumps.listing, dumps.texts
    # Without ipset (not installed, not root) sets stay unread: their matches are undecidable.
    ipsets = ipset.parse_save(dumps.ipsets.out) if dumps.ipsets is not None and dumps.ipsets.ok else None

    for family, save, got in ((4, "iptables-save", v4), (6, "ip6tables-save", v6)):
        fam: Literal[4, 6] = 4 if family == 4 else 6
        legacy_alternative = False
        if not got.ok:
            if "incompatible" in got.why or "nf_tables" in got.why:
                notes.append(f"{save}: {got.why} (native nftables tables read instead)")
            elif fam in families:
                problems.append(got.why)
        else:
            # iptables-save is iptables-nft's unless the alternatives point at legacy (its header then lacks
            # "(nf_tables)"): only the nft variant's tables are nft tables that nft's own listing repeats.
            legacy_alternative = bool(got.out.strip()) and not _nft_variant(got.out)
            if not legacy_alternative:
                ipt_tables[family] = nft.iptables_tables(got.out)
            rs = ipt.parse_save(got.out, fam, "iptables", ipsets)
            if rs is not None and ufw.user_chain(rs) is not None:
                is_ufw = True
                rs = ufw.label(rs, ufw_dir / ("user.rules" if family == 4 else "user6.rules"))
                rs = Ruleset("ufw", rs.base, rs.chains, rs.notes)
            if rs is not None and _filters(rs):
                rulesets.append(rs)
                policies += _policies(rs, f"IPv{family}")
        # Legacy x_tables filter on their own hooks whatever the nft variant printed (nothing, or an error);
        # when iptables-save is the legacy one, it printed them already.
        legacy = dumps.legacy.get(family)
        if legacy is not None and not (got.ok and legacy_alternative):
            lrs = ipt.parse_save(legacy.out, fam, "iptables-legacy", ipsets) if legacy.ok else None
            if lrs is not None and _filters(lrs):
                rulesets.append(Ruleset("iptables", lrs.base, lrs.chains, ("legacy x_tables",)))
                policies += _policies(lrs, f"IPv{family} (legacy)")

    skip = frozenset(
        (fam_name, table)
        for family, tables in ipt_tables.items()
        for fam_name in (("ip",) if family == 4 else ("ip6",))
        for table in tables
    )
    unreadable: str | None = None  # why nft's own tables could not be read
    if listing.ok:
        try:
            nrs = nft.parse_json(
                json.loads(listing.out or "{}"),
                nft.rule_texts(texts.out) if texts.ok else {},
                skip,
                nft.chain_devices(texts.out) if texts.ok else {},
            )
        except (ValueError, TypeError, KeyError, AttributeError, IndexError):
            nrs, unreadable = None, "nft printed JSON that could not be read"
        if nrs is not None and _filters(nrs):
            rulesets.append(nrs)
            policies += _policies(nrs, "nft")
    elif "not installed" not in listing.why:
        unreadable = listing.why
    if unreadable is not None:
        problems.append(unreadable)
        # Native tables that filter but could not be read would make any verdict a guess.
        # (With nothing else read, every port is unknown with the reason below anyway.)
        native = nft.table_names(texts.out) - skip if texts.ok else {("?", "?")}
        if native and rulesets:
            rulesets.append(_unreadable(f"{unreadable}: nftables tables not read"))

    if not rulesets and problems:
        reason = "; ".join(dict.fromkeys(problems))
        if os.geteuid() != 0:
            reason = f"not root: firewall rules cannot be read (run with sudo) — {reason}"
        return unknown_state(ports, reason)

    backend: Backend
    if not rulesets:
        backend = "none"
    elif is_ufw:
        backend = "ufw"
    elif any(rs.backend == "iptables" for rs in rulesets):
        backend = "iptables"
    else:
        backend = "nftables"
    verdicts = analyse(rulesets, ports, host, backend, families)
    for pf in verdicts.values():
        for fv in pf.families:
            notes.extend(n for n in fv.notes if n not in notes)
    return FirewallState(
        backend=backend,
        active=bool(rulesets),
        ports=verdicts,
        policies=tuple(policies),
        established=_established(rulesets),
        reason="; ".join(problems),
        notes=tuple(notes[:20]),
        interfaces=host.interfaces,
        rules=sum(ipt.rule_count(rs) for rs in rulesets),
    )
