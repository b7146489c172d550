"""A gateway's firewall holds thousands of bans: evaluating it stays linear, and right.

Pure (rule sets written here, as fail2ban's actions write them; no kernel):
fail2ban's iptables-multiport action (Debian's default) inserts one
``-s ADDRESS -j REJECT`` rule per ban into ``f2b-JAIL``; its nftables action
adds the address to a set.  Before, every address was evaluated on its own
against every rule (5,000 bans: minutes per read, every 30 s).
"""

from __future__ import annotations

import ipaddress

import pytest

import mbtop.probes.firewall as fw
from mbtop.probes.firewall import Host, analyse, engine, nft, skip
from mbtop.probes.firewall import iptables as ipt

PORTS = [25, 80, 443, 465, 587, 10031, 10032, 11332, 11333, 3310, 3306, 6379, 10050]
BANS = [f"172.{16 + i // 65536}.{i // 256 % 256}.{i % 256}" for i in range(7, 3 * 2000, 3)]


def f2b_iptables(bans: list[str] = BANS) -> str:
    f2b = "\n".join(f"-A f2b-postfix -s {a}/32 -j REJECT --reject-with icmp-port-unreachable" for a in bans)
    return (
        "*filter\n:INPUT DROP [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:f2b-postfix - [0:0]\n"
        "-A INPUT -p tcp -m multiport --dports 25,465,587 -j f2b-postfix\n"
        "-A INPUT -p tcp -m multiport --dports 25,465,587,80,443 -j ACCEPT\n"
        f"{f2b}\n-A f2b-postfix -j RETURN\nCOMMIT\n"
    )


def f2b_nft() -> dict:
    dport = {"payload": {"protocol": "tcp", "field": "dport"}}
    saddr = {"payload": {"protocol": "ip", "field": "saddr"}}
    rule = [
        {"match": {"op": "==", "left": {"meta": {"key": "l4proto"}}, "right": "tcp"}},
        {"match": {"op": "==", "left": dport, "right": {"set": [25, 465, 587]}}},
        {"match": {"op": "==", "left": saddr, "right": "@addr-set-postfix"}},
        {"reject": None},
    ]
    items = [
        {"set": {"family": "inet", "table": "f2b-table", "name": "addr-set-postfix", "type": "ipv4_addr",
                 "elem": BANS}},
        {"chain": {"family": "inet", "table": "f2b-table", "name": "f2b-chain", "type": "filter", "hook": "input",
                   "prio": -1, "policy": "accept"}},
        {"rule": {"family": "inet", "table": "f2b-table", "chain": "f2b-chain", "handle": 2, "expr": rule}},
    ]  # fmt: skip
    return {"nftables": items}


def counting(monkeypatch: pytest.MonkeyPatch, module: object, name: str) -> list[int]:
    calls = [0]
    real = getattr(module, name)

    def wrapper(*args: object, **kwargs: object) -> object:
        calls[0] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, wrapper)
    return calls


def check(got: dict[int, fw.PortFirewall]) -> None:
    for port in (25, 465, 587):
        pf = got[port]
        assert pf.verdict == "allow" and pf.excepted[-1] == f"+{len(BANS) - fw.MAX_EXCEPT} more"
        assert pf.excepted[:2] == (BANS[0], BANS[1])
    assert got[80].verdict == got[443].verdict == "allow" and got[80].excepted == ()
    assert got[3306].verdict == "deny"


def test_one_rule_per_ban_is_walked_straight_to_the_ban(monkeypatch: pytest.MonkeyPatch) -> None:
    rs = ipt.parse_save(f2b_iptables(), 4)
    assert rs is not None
    tests = counting(monkeypatch, engine, "_rule_applies")
    got = analyse([rs], PORTS, Host(("eth0",)), "iptables", [4])
    check(got)
    # A banned sender meets the jump, then its own ban: a few rules each, not half of 2,000.
    assert tests[0] < 20 * len(BANS) * 3, tests[0]
    # A banned sender is kept out by its own ban, and the rule says so.
    pkt = engine.Packet(4, ipaddress.ip_address(BANS[1500]), ipaddress.ip_address("192.0.2.1"), 25, "eth0")
    trace = engine.evaluate([rs], pkt)
    assert trace.verdict == "reject" and trace.rule is not None and f"-s {BANS[1500]}/32" in trace.rule.text


def test_a_set_of_bans_is_one_class_of_senders(monkeypatch: pytest.MonkeyPatch) -> None:
    rs = nft.parse_json(f2b_nft())
    base = ipt.parse_save(f2b_iptables([]), 4)  # the same INPUT, its f2b chain empty: the bans are in the set
    assert rs is not None and base is not None
    decisions = counting(monkeypatch, fw, "decide")
    got = analyse([base, rs], PORTS, Host(("eth0",)), "nftables", [4])
    check(got)
    # Every address in the set meets the same conditions: one of them is evaluated per port, not 2,000.
    assert decisions[0] <= len(PORTS) * 4, decisions[0]


def test_skipping_never_changes_a_verdict(monkeypatch: pytest.MonkeyPatch) -> None:
    """Random runs of source rules (nested, overlapping, with other matches, RETURNs, jumps): the same
    verdict and deciding rule for every sender with the index as without it."""
    import random

    r = random.Random(7)
    targets = ["REJECT", "DROP", "ACCEPT", "RETURN", "sub"]
    extras = ["", "-p udp ", "-p tcp -m tcp --dport 25 ", "-p tcp -m tcp ! --dport 80 ", "-i eth1 "]
    built = 0
    for _ in range(20):
        lines = []
        for _ in range(r.randint(16, 60)):
            net = f"172.20.{r.randint(0, 3)}.{r.randint(0, 255)}/{r.choice([32, 32, 32, 30, 24])}"
            lines.append(f"-A f2b -s {net} {r.choice(extras)}-j {r.choice(targets)}")
            if r.random() < 0.05:
                lines.append(f"-A f2b {r.choice(extras)}-j RETURN")
        text = (
            "*filter\n:INPUT DROP [0:0]\n:f2b - [0:0]\n:sub - [0:0]\n-A INPUT -j f2b\n-A INPUT -j ACCEPT\n"
            "-A sub -s 172.20.1.0/24 -j DROP\n" + "\n".join(lines) + "\nCOMMIT\n"
        )
        senders = [f"172.20.{r.randint(0, 3)}.{r.randint(0, 255)}" for _ in range(60)]
        for indexed in (True, False):
            rs = ipt.parse_save(text, 4)
            assert rs is not None
            built += indexed and bool(skip.runs(rs.chains["f2b"].rules))
            if not indexed:
                monkeypatch.setattr(skip, "runs", lambda _rules: ())
            got = []
            for s in senders:
                for port in (25, 80):
                    pkt = engine.Packet(4, ipaddress.ip_address(s), ipaddress.ip_address("192.0.2.1"), port, "eth0")
                    t = engine.evaluate([rs], pkt)
                    got.append((t.verdict, t.rule.text if t.rule else t.where))
            if indexed:
                want = got
            else:
                monkeypatch.undo()
                assert got == want, text
    assert built >= 15  # the index was there to be compared
