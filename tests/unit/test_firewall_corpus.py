"""mbtop's verdicts, computed from real tools' dumps, against what the kernel did with real SYNs.

Pure: the dumps (iptables-save, ip6tables-save, their legacy variants, ``nft -j``
and ``nft -a list ruleset``, ufw's user.rules) and the handshakes were recorded
together in a private gateway namespace from the rule sets of
tests/support/fwcorpus_sets.py (``python -m tests.support.fwcorpus`` writes them
again).  Every definite verdict must predict every recorded handshake; where
mbtop is unsure, the set of (port, family) it is unsure of is pinned, so that a
regression into "unknown" shows as much as a wrong verdict does.
"""

from __future__ import annotations

import ipaddress
import json
import shutil
from pathlib import Path

import pytest

from mbtop.probes.firewall import FamilyVerdict, FirewallState, Host
from mbtop.probes.firewall.read import Dumps, Ran, from_dumps

CORPUS = Path(__file__).resolve().parents[1] / "fixtures" / "firewall" / "corpus"
NAMES = sorted(p.name.removesuffix(".kernel.json") for p in CORPUS.glob("*.kernel.json"))
ADDRESSES = {4: ("10.77.1.1", "10.77.2.1"), 6: ("fd77:1::1", "fd77:2::1")}  # the lab gateway's (fwdiff_lab.IFACES)
HOST = Host(("sa", "sb"), {f: tuple(ipaddress.ip_address(a) for a in v) for f, v in ADDRESSES.items()})

# Where mbtop says it cannot tell, and why that is right (or a gap, said so).
UNSURE: dict[str, set[tuple[int, int]]] = {
    # ipset members are read (ipset save) for sets of addresses and networks, not for hash:ip,port
    # (src,dst: an address and a port) nor a hash:net with nomatch exceptions.
    "ipt_ipset": {(10031, 4), (10032, 4)},
    # DNAT/REDIRECT in nat PREROUTING send the connection elsewhere: what happens there is not followed.
    "ipt_nat_redirect": {(465, 4), (587, 4)},
    "nft_multi_base": {(10032, 4)},
    # netdev "fwd to" another device: where the frame goes is not followed.
    "nft_netdev_fwd": {(10031, 4), (10031, 6)},
    # firewalld's reverse-path filter (fib saddr . mark . iif oif missing drop) depends on the routes (gap).
    "nft_firewalld": {(25, 6), (80, 6), (443, 6), (465, 6), (587, 6), (3306, 6), (10050, 6)},
    # "to 10.77.1.1": the gateway has two addresses; a sender may pick either.
    "ufw_logging_app": {(11332, 4)},
}


def corpus_state(name: str, ufw_dir: Path) -> tuple[FirewallState, dict[str, dict[str, list[str]]]]:
    def dump(suffix: str) -> Ran:
        path = CORPUS / f"{name}.{suffix}"
        return Ran(True, path.read_text() if path.exists() else "", "")

    for f in ("user.rules", "user6.rules"):
        if (CORPUS / f"{name}.{f}").exists():
            shutil.copy(CORPUS / f"{name}.{f}", ufw_dir / f)
    legacy = {f: dump(f"legacy{f}") for f in (4, 6) if (CORPUS / f"{name}.legacy{f}").exists()}
    observed = json.loads((CORPUS / f"{name}.kernel.json").read_text())
    ports = sorted({int(k.split()[0]) for k in observed})
    ipsets = dump("ipset") if (CORPUS / f"{name}.ipset").exists() else None
    dumps = Dumps(dump("v4"), dump("v6"), dump("json"), dump("nft"), legacy, ipsets)
    return from_dumps(ports, HOST, [4, 6], dumps, ufw_dir), observed


def lets_in(fv: FamilyVerdict, sender: str, iface: str) -> bool | None:
    """What a family's verdict promises for one sender on one interface (None: unknown)."""
    if fv.verdict == "unknown":
        return None
    addr = ipaddress.ip_address(sender)

    def hit(text: str) -> bool:
        net, _, via = text.partition(" via ")
        if via and via != iface:
            return False
        return net == "any" or addr in ipaddress.ip_network(net, strict=False)

    kept_out = any(hit(e) for e in fv.excepted)
    if fv.verdict in ("allow", "limit"):
        return not kept_out
    if fv.verdict == "restricted":
        return any(hit(s) for s in fv.sources) and not kept_out
    return False


@pytest.mark.parametrize("name", NAMES)
def test_verdicts_from_the_dumps_predict_the_kernel(name: str, tmp_path: Path) -> None:
    state, observed = corpus_state(name, tmp_path)
    assert state.active, state.reason
    wrong: list[str] = []
    unsure: set[tuple[int, int]] = set()
    for key, seen in observed.items():
        port_text, fam_text, iface = key.split()
        port, fam = int(port_text), int(fam_text)
        fv = next(f for f in state.ports[port].families if f.family == fam)
        if fv.verdict == "unknown":
            unsure.add((port, fam))
            assert fv.unknown_because, (key, "unknown without the rule that makes it so")
            continue
        for outcome, senders in seen.items():
            for sender in senders:
                if lets_in(fv, sender, iface) != (outcome == "open"):
                    wrong.append(f"{key} from {sender}: mbtop {fv.verdict} ({fv.rule}), kernel {outcome}")
    assert not wrong, "\n".join(wrong)
    assert unsure == UNSURE.get(name, set())


def test_the_corpus_is_there() -> None:
    # A corpus that lost its files would pass the test above vacuously.
    assert len(NAMES) >= 29, NAMES


def test_tables_before_filter_decide(tmp_path: Path) -> None:
    state, _ = corpus_state("ipt_raw_mangle", tmp_path)
    v4 = {p: next(f for f in pf.families if f.family == 4) for p, pf in state.ports.items()}
    assert v4[6379].verdict == "deny" and v4[6379].rule == (
        "raw PREROUTING: -t raw -A PREROUTING -p tcp -m tcp --dport 6379 -j DROP"
    )
    assert v4[3306].verdict == "deny" and (v4[3306].rule or "").startswith("mangle INPUT: -t mangle -A INPUT")
    assert v4[25].verdict == "allow" and v4[25].excepted == ("172.20.0.0/16",)
    assert "IPv4 raw PREROUTING policy ACCEPT (iptables)" in state.policies
    state, _ = corpus_state("ipt_nat_redirect", tmp_path)
    v4 = {p: next(f for f in pf.families if f.family == 4) for p, pf in state.ports.items()}
    assert v4[587].verdict == "unknown" and v4[587].unknown_because == (
        "nat PREROUTING: -t nat -A PREROUTING -p tcp -m tcp --dport 587 -j REDIRECT --to-ports 2587"
    )


def test_nft_concatenations_meters_and_port_order(tmp_path: Path) -> None:
    state, _ = corpus_state("nft_misc", tmp_path)
    fam = {p: {f.family: f for f in pf.families} for p, pf in state.ports.items()}
    # ip saddr . tcp dport @pairs: 172.20.1.1 . 3306 only.
    assert fam[3306][4].verdict == "restricted" and fam[3306][4].sources == ("172.20.1.1",)
    assert "@pairs" in (fam[3306][4].rule or "")
    assert fam[3310][4].verdict == fam[3310][6].verdict == "allow"  # tcp dport != {...} tcp dport < 11000
    assert fam[11332][4].verdict == "deny"  # 11332 is not < 11000
    # meter m443 { ip saddr limit rate 30/second }: an IPv4 key: IPv6 senders do not meet the rule.
    assert fam[443][4].verdict == "limit" and fam[443][6].verdict == "deny"


def test_ipset_members_are_read(tmp_path: Path) -> None:
    state, _ = corpus_state("ipt_ipset", tmp_path)
    v4 = {p: next(f for f in pf.families if f.family == 4) for p, pf in state.ports.items()}
    assert v4[25].verdict == "allow" and v4[25].excepted == ("172.20.5.0/24",)
    assert v4[465].verdict == "allow" and v4[465].excepted == ("172.20.5.0/24", "172.20.6.6", "172.20.6.9")
    assert v4[6379].verdict == "restricted" and v4[6379].sources == ("172.22.3.0/24",)  # netmask 24
    assert v4[11332].sources == ("172.23.0.16/30",)  # bitmap:ip
    assert v4[3306].verdict == "deny"  # accepts blk's members, whom the first rule has dropped already
    assert "--match-set pairs src,dst" in (v4[10031].unknown_because or "")


def test_ingress_hooks_and_untracked_connections(tmp_path: Path) -> None:
    state, _ = corpus_state("nft_multi_base", tmp_path)
    fam = {f.family: f for f in state.ports[6379].families}
    assert fam[4].verdict == fam[6].verdict == "restricted" and fam[4].sources == ("any via sb",)
    state, _ = corpus_state("nft_notrack", tmp_path)
    assert state.ports[10050].verdict == "deny"  # untracked: "ct state new" does not match it
    assert state.ports[3310].verdict == "allow" and "ct state untracked" in (state.ports[3310].rule or "")
