"""The firewall evaluator on rule sets written here (pure: no kernel involved).

The kernel-backed checks are in tests/integration/test_firewall_kernel.py;
these cover the corners a lab cannot cheaply build: several interfaces,
shadowed rules, rate matches of every kind, goto/return, loops, unknown
modules, and nft's sets and ranges.
"""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

from mbtop.probes.firewall import FamilyVerdict, Host, PortFirewall, analyse, nft, ufw
from mbtop.probes.firewall import iptables as ipt
from mbtop.probes.firewall.engine import Ruleset

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "firewall"
HOST = Host(("eth0",))


def v4(rules: str, policy: str = "DROP", extra_chains: str = "") -> Ruleset:
    text = f"*filter\n:INPUT {policy} [0:0]\n:FORWARD ACCEPT [0:0]\n{extra_chains}{rules}\nCOMMIT\n"
    rs = ipt.parse_save(text, 4)
    assert rs is not None
    return rs


def verdicts(rs: list[Ruleset], ports: list[int], host: Host = HOST, fams: tuple = (4,)) -> dict[int, PortFirewall]:
    return analyse(rs, ports, host, "iptables", list(fams))


def one_rule_inet_input(expr: list[dict[str, object]]) -> Ruleset:
    """An inet table whose input chain (policy accept) holds one rule of ``expr``, as nft -j lists it."""
    doc = {
        "nftables": [
            {"chain": {"family": "inet", "table": "t", "name": "in", "type": "filter", "hook": "input", "prio": 0,
                       "policy": "accept"}},
            {"rule": {"family": "inet", "table": "t", "chain": "in", "handle": 2, "expr": expr}},
        ]
    }  # fmt: skip
    rs = nft.parse_json(doc)
    assert rs is not None
    return rs


def test_reference_iptables_order_matters_first_match_wins() -> None:
    # The reference lists the plain ACCEPT first: the rate limit after it never sees a packet.
    shadowed = v4(
        "-A INPUT -p tcp -m tcp --dport 25 -j ACCEPT\n"
        "-A INPUT -p tcp -m tcp --dport 25 -m limit --limit 100/min -j ACCEPT\n"
        "-A INPUT -p tcp -m tcp --dport 25 -j DROP"
    )
    got = verdicts([shadowed], [25])[25]
    assert got.verdict == "allow" and got.rule == "INPUT: -A INPUT -p tcp -m tcp --dport 25 -j ACCEPT"
    limited = v4(
        "-A INPUT -p tcp -m tcp --dport 25 -m limit --limit 100/min -j ACCEPT\n-A INPUT -p tcp --dport 25 -j DROP"
    )
    got = verdicts([limited], [25])[25]
    assert got.verdict == "limit" and got.limit == "100/minute burst 5 (all sources together)"


def test_multiport_ranges_negation_and_policy() -> None:
    rs = v4(
        "-A INPUT -p tcp -m multiport --dports 80,443,10000:10040 -j ACCEPT\n"
        "-A INPUT -p tcp -m tcp ! --dport 3306 -j REJECT --reject-with tcp-reset\n"
    )
    got = verdicts([rs], [80, 443, 10031, 10050, 3306, 25])
    assert {p: v.verdict for p, v in got.items()} == {
        80: "allow", 443: "allow", 10031: "allow", 10050: "deny", 3306: "deny", 25: "deny"
    }  # fmt: skip
    assert "REJECT" in (got[25].rule or "") and got[3306].rule == "INPUT: policy drop"


def test_loopback_only_rules_do_not_open_a_port_to_the_network() -> None:
    rs = v4(
        "-A INPUT -i lo -j ACCEPT\n"
        "-A INPUT -s 127.0.0.0/8 -p tcp -m tcp --dport 6379 -j ACCEPT\n"
        "-A INPUT -d 127.0.0.1/32 -p tcp -m tcp --dport 3306 -j ACCEPT\n"
    )
    got = verdicts([rs], [6379, 3306])
    assert got[6379].verdict == "deny" and got[3306].verdict == "deny"


def test_interface_restricted_rules_on_a_host_with_two_interfaces() -> None:
    rs = v4("-A INPUT -i eth1 -p tcp -m tcp --dport 10050 -j ACCEPT\n-A INPUT -i eth+ -p tcp --dport 443 -j ACCEPT")
    got = verdicts([rs], [10050, 443], Host(("eth0", "eth1")))
    assert got[10050].verdict == "restricted" and got[10050].sources == ("any via eth1",)
    assert got[443].verdict == "allow"


def test_restricted_sources_ipv6_and_iprange() -> None:
    v6 = ipt.parse_save(
        "*filter\n:INPUT DROP [0:0]\n"
        "-A INPUT -s 2001:db8:1::/48 -p tcp -m tcp --dport 10050 -j ACCEPT\n"
        "-A INPUT -p tcp -m iprange --src-range 192.168.1.10-192.168.1.20 -m tcp --dport 10050 -j ACCEPT\n"
        "COMMIT\n",
        6,
    )
    assert v6 is not None
    got = analyse([v6], [10050], HOST, "iptables", [4, 6])[10050]
    fams = {f.family: f for f in got.families}
    assert fams[6].verdict == "restricted" and fams[6].sources == ("2001:db8:1::/48",)
    # The ip6tables rules say nothing about IPv4, whose ruleset is absent here: open.
    assert fams[4].verdict == "allow" and got.verdict == "allow"


def test_blocklists_before_an_allow_are_listed_as_exceptions() -> None:
    rs = v4(
        "-A INPUT -p tcp -m multiport --dports 25,587 -j f2b-postfix\n"
        "-A INPUT -p tcp -m tcp --dport 25 -j ACCEPT\n"
        "-A f2b-postfix -s 198.18.7.7/32 -j REJECT --reject-with icmp-port-unreachable\n"
        "-A f2b-postfix -j RETURN",
        extra_chains=":f2b-postfix - [0:0]\n",
    )
    got = verdicts([rs], [25])[25]
    assert got.verdict == "allow" and got.excepted == ("198.18.7.7",)


def test_rate_matches_recent_hashlimit_connlimit() -> None:
    rs = v4(
        "-A INPUT -p tcp -m tcp --dport 25 -m conntrack --ctstate NEW -m recent --set --name SMTP --rsource\n"
        "-A INPUT -p tcp -m tcp --dport 25 -m conntrack --ctstate NEW -m recent --update --seconds 60 --hitcount 11"
        " --name SMTP --rsource -j DROP\n"
        "-A INPUT -p tcp -m tcp --dport 25 -j ACCEPT\n"
        "-A INPUT -p tcp -m tcp --dport 587 -m hashlimit --hashlimit-above 20/sec --hashlimit-mode srcip"
        " --hashlimit-name sub -j DROP\n"
        "-A INPUT -p tcp -m tcp --dport 587 -j ACCEPT\n"
        "-A INPUT -p tcp -m tcp --dport 443 -m connlimit --connlimit-above 50 --connlimit-mask 32 -j REJECT\n"
        "-A INPUT -p tcp -m tcp --dport 443 -j ACCEPT\n"
        '-A INPUT -p tcp -m tcp --dport 80 -m limit --limit 3/min -j LOG --log-prefix "web "\n'
        "-A INPUT -p tcp -m tcp --dport 80 -j ACCEPT\n"
    )
    got = verdicts([rs], [25, 587, 443, 80])
    assert got[25].verdict == "limit" and got[25].limit == "10 new connections per 60 s per source"
    assert got[587].verdict == "limit" and got[587].limit == "over 20/second per srcip refused"
    assert got[443].verdict == "limit" and got[443].limit == "at most 50 concurrent per source"
    assert got[80].verdict == "allow"  # a LOG rule's limit limits nothing


def test_goto_return_and_loops_do_not_hang() -> None:
    rs = v4(
        "-A INPUT -p tcp -m tcp --dport 81 -j a\n-A a -j b\n-A b -j a\n"
        "-A INPUT -p tcp -g web\n-A web -p tcp -m tcp --dport 80 -j ACCEPT\n-A web -j RETURN\n"
        "-A INPUT -p tcp -j DROP",
        policy="ACCEPT",
        extra_chains=":web - [0:0]\n:a - [0:0]\n:b - [0:0]\n",
    )
    got = verdicts([rs], [80, 22, 81])
    assert got[80].verdict == "allow"
    # goto: RETURN from "web" returns past INPUT's remaining rules to the policy (ACCEPT).
    assert got[22].verdict == "allow" and got[22].rule == "INPUT: policy accept"
    # The kernel refuses to load a loop; if one is read anyway, mbtop cannot tell (and does not hang).
    assert got[81].verdict == "unknown" and "nests deeper" in (got[81].unknown_because or "")
    assert any("nests deeper" in n for f in got[81].families for n in f.notes)


def test_unknown_module_is_reported_not_guessed() -> None:
    rs = v4("-A INPUT -p tcp -m geoip --src-cc CN -m tcp --dport 25 -j DROP\n-A INPUT -p tcp --dport 25 -j ACCEPT")
    got = verdicts([rs], [25])[25]
    # Whether the sender is in CN decides between DROP and ACCEPT: mbtop cannot tell, and says which rule.
    assert got.verdict == "unknown" and "geoip" in (got.unknown_because or "")
    assert "geoip" in got.reason and got.reason.startswith("cannot tell")
    assert any("geoip" in n and "cannot be decided" in n for n in got.families[0].notes)


def test_hostile_rule_text_is_kept_as_data() -> None:
    rs = v4('-A INPUT -p tcp -m tcp --dport 25 -m comment --comment "[bold red]x\x1b]0;pwned\x07" -j ACCEPT')
    got = verdicts([rs], [25])[25]
    assert got.verdict == "allow" and "[bold red]" in (got.rule or "")


def test_native_nftables_fixture_sets_ranges_and_limits() -> None:
    doc = json.loads((FIXTURES / "native.json").read_text())
    texts = nft.rule_texts((FIXTURES / "native.nft").read_text())
    rs = nft.parse_json(doc, texts)
    assert rs is not None
    got = analyse([rs], [25, 80, 443, 465, 587, 10050, 10000, 3306, 26, 27, 22], HOST, "nftables", [4, 6])
    v = {p: x.verdict for p, x in got.items()}
    assert v[25] == "limit" and got[25].limit == "100/minute burst 200 (all sources together)"
    assert v[80] == v[443] == v[465] == v[587] == "allow"
    assert got[443].rule == "inet mb input: tcp dport @web accept"
    assert v[10050] == "restricted" and set(got[10050].sources) == {"10.0.0.5", "192.168.1.0/24"}
    assert v[3306] == "deny"  # "ct count over 10 drop" is not reached by one client; the policy drops
    assert got[3306].rule is not None and "reject" in got[3306].rule
    assert v[26] == "deny"
    assert v[27] == "deny"  # iifname != "eth*": not on eth0
    assert v[22] == "deny"


def test_ufw_tuples_become_commands() -> None:
    assert ufw.command("limit tcp 25 0.0.0.0/0 any 0.0.0.0/0 in") == "ufw limit 25/tcp"
    assert (
        ufw.command("allow tcp 10050 0.0.0.0/0 any 192.168.1.0/24 in")
        == "ufw allow from 192.168.1.0/24 to any port 10050 proto tcp"
    )
    assert ufw.command("allow tcp 443 0.0.0.0/0 any 0.0.0.0/0 in_eth0") == "ufw allow in on eth0 443/tcp"
    labels = ufw.user_chain_labels(
        "### tuple ### limit tcp 25 0.0.0.0/0 any 0.0.0.0/0 in\n"
        "-A ufw-user-input -p tcp --dport 25 -m conntrack --ctstate NEW -m recent --set\n"
        "-A ufw-user-input -p tcp --dport 25 -j ufw-user-limit-accept\n\n"
        "### tuple ### allow tcp 80 0.0.0.0/0 any 0.0.0.0/0 in\n-A ufw-user-input -p tcp --dport 80 -j ACCEPT\n"
    )
    assert labels == ["ufw limit 25/tcp", "ufw limit 25/tcp", "ufw allow 80/tcp"]


def test_garbage_input_never_raises() -> None:
    for text in ("", "*filter\n-A\n-A INPUT -j\nCOMMIT", "\x00\xff" * 100, '*filter\n-A INPUT -m "unterminated\n'):
        rs = ipt.parse_save(text, 4)
        if rs is not None:
            verdicts([rs], [25])
    assert nft.parse_json({"nftables": "nope"}) is None
    assert nft.parse_json({"nftables": [{"rule": {"family": "inet", "expr": [{"weird": 1}, 7]}}]}) is None


def ufw_reference() -> list[Ruleset]:
    """The reference's ufw commands, as iptables-save printed them in a lab namespace (a recording)."""
    out = []
    for fam, name, rules in ((4, "v4", "user.rules"), (6, "v6", "user6.rules")):
        rs = ipt.parse_save((FIXTURES / f"ufw-reference.{name}").read_text(), fam)
        assert rs is not None
        out.append(ufw.label(rs, FIXTURES / f"ufw-reference.{rules}"))
    return out


def test_ufw_reference_recording_evaluates_like_the_lab() -> None:
    got = analyse(ufw_reference(), [22, 25, 80, 10050, 3306], HOST, "ufw", [4, 6])
    assert got[25].verdict == "limit" and got[25].rule is not None and got[25].rule.startswith("ufw limit 25/tcp")
    assert got[25].rate is not None and (got[25].rate.count, got[25].rate.seconds, got[25].rate.per_source) == (
        5.0,
        30.0,
        True,
    )
    assert got[22].verdict == "allow" and got[80].verdict == "allow" and got[3306].verdict == "deny"
    assert got[10050].verdict == "restricted" and got[10050].sources == ("192.168.1.0/24",)


def test_flood_thresholds_follow_the_firewall_unless_configured() -> None:
    from mbtop.model.flood import Thresholds, from_firewall
    from mbtop.probes.firewall.engine import Rate

    base = Thresholds()
    per_source = from_firewall(base, Rate(5, 30, True), "25: ufw limit")
    assert per_source.source_per_30s == 5 and per_source.total_per_minute == 100 and "ufw" in per_source.origin
    total = from_firewall(base, Rate(100, 60, False), "25: -m limit")
    assert total.total_per_minute == 100 and total.source_per_30s == base.source_per_30s
    assert from_firewall(base, Rate(10, 1, False), "x").total_per_minute == 600
    configured = Thresholds(source_per_30s=9, explicit=frozenset({"source_per_30s"}))
    assert from_firewall(configured, Rate(5, 30, True), "x") == configured
    assert from_firewall(base, None, "") is base


# --- issue 17: verdicts that are never wrong ---------------------------------------------------


def lets_in(fv: FamilyVerdict, sender: str, iface: str = "eth0") -> bool | None:
    """What a family verdict promises for one sender on one interface (the README's contract)."""
    if fv.verdict == "unknown":
        return None
    addr = ipaddress.ip_address(sender)

    def hit(text: str) -> bool:
        net, _, via = text.partition(" via ")
        return (not via or via == iface) and (net == "any" or addr in ipaddress.ip_network(net))

    kept_out = any(hit(e) for e in fv.excepted)
    if fv.verdict in ("allow", "limit"):
        return not kept_out
    return fv.verdict == "restricted" and any(hit(s) for s in fv.sources) and not kept_out


def fam(pf: PortFirewall, family: int = 4) -> FamilyVerdict:
    return next(f for f in pf.families if f.family == family)


def test_upper_case_user_chains_are_followed() -> None:
    rs = v4(
        "-A INPUT -p tcp -m tcp --dport 25 -j MAIL_IN\n"
        "-A MAIL_IN -s 198.51.100.0/24 -j DROP\n"
        "-A MAIL_IN -j ACCEPT\n"
        "-A INPUT -p tcp -m tcp --dport 80 -g TRUSTED\n"
        "-A TRUSTED -s 192.0.2.0/24 -j ACCEPT\n",
        extra_chains=":MAIL_IN - [0:0]\n:TRUSTED - [0:0]\n",
    )
    got = verdicts([rs], [25, 80])
    assert got[25].verdict == "allow" and got[25].excepted == ("198.51.100.0/24",)
    assert got[80].verdict == "restricted" and got[80].sources == ("192.0.2.0/24",)
    # A target extension that is no chain of the table and not known to pass: mbtop cannot tell.
    queued = verdicts([v4("-A INPUT -p tcp -m tcp --dport 25 -j NFQUEUE --queue-num 1")], [25])[25]
    assert queued.verdict == "unknown" and "NFQUEUE" in (queued.unknown_because or "")


def test_an_undecidable_match_makes_the_port_unknown_only_when_it_matters() -> None:
    rs = v4(
        "-A INPUT -p tcp -m tcp --dport 25 -m time --timestart 08:00:00 --timestop 18:00:00 -j DROP\n"
        "-A INPUT -p tcp -m tcp --dport 25 -j ACCEPT\n"
        "-A INPUT -p tcp -m tcp --dport 80 -m dscp --dscp 0x00 -j ACCEPT\n"
        "-A INPUT -p tcp -m tcp --dport 80 -j ACCEPT\n"
        "-A INPUT -p tcp -m tcp --dport 443 -m length --length 0:100 -j DROP\n"
        "-A INPUT -p tcp -m tcp --dport 587 -m statistic --mode random --probability 0.5 -j ACCEPT\n"
        "-A INPUT -p tcp -m tcp --dport 465 -m string --string x --algo bm -j REJECT\n"
        "-A INPUT -p tcp -m tcp --dport 465 -j ACCEPT\n"
    )
    got = verdicts([rs], [25, 80, 443, 587, 465])
    assert got[25].verdict == "unknown" and got[25].unknown_because is not None
    assert "-m time" in got[25].unknown_because and got[25].reason.startswith("cannot tell")
    assert got[80].verdict == "allow"  # accepted whether the dscp match holds or not
    assert got[443].verdict == "deny"  # dropped, or left to the policy that drops too
    assert got[587].verdict == "unknown" and "statistic" in (got[587].unknown_because or "")
    assert got[465].verdict == "unknown" and "string" in (got[465].unknown_because or "")
    # The headline: unknown unless another family is open anyway.
    assert _combine_of(["unknown", "deny"]) == "unknown" and _combine_of(["unknown", "allow"]) == "allow"


def _combine_of(names: list[str]) -> str:
    from mbtop.probes.firewall import _combine

    return _combine([FamilyVerdict(4, n, (), None, None) for n in names]).verdict  # type: ignore[arg-type]


def test_negated_sources_are_tried_as_senders() -> None:
    rs = v4(
        "-A INPUT -p tcp -m tcp --dport 25 ! -s 192.0.2.0/24 -j DROP\n"
        "-A INPUT -p tcp -m tcp --dport 80 -m iprange ! --src-range 198.51.100.10-198.51.100.20 -j REJECT\n"
        "-A INPUT -j ACCEPT",
        policy="ACCEPT",
    )
    got = verdicts([rs], [25, 80])
    assert got[25].verdict == "restricted" and got[25].sources == ("192.0.2.0/24",)
    assert got[80].verdict == "restricted" and got[80].sources == ("198.51.100.10/31", "198.51.100.12/30",
                                                                  "198.51.100.16/30", "198.51.100.20")  # fmt: skip
    doc = {"nftables": [
        {"chain": {"family": "inet", "table": "t", "name": "in", "type": "filter", "hook": "input", "prio": 0,
                   "policy": "accept"}},
        {"rule": {"family": "inet", "table": "t", "chain": "in", "handle": 2, "expr": [
            {"match": {"op": "!=", "left": {"payload": {"protocol": "ip", "field": "saddr"}},
                       "right": {"set": [{"prefix": {"addr": "10.0.0.0", "len": 8}}]}}},
            {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 25}},
            {"drop": None}]}},
    ]}  # fmt: skip
    nrs = nft.parse_json(doc)
    assert nrs is not None
    got = analyse([nrs], [25], HOST, "nftables", [4, 6])[25]
    assert fam(got, 4).verdict == "restricted" and fam(got, 4).sources == ("10.0.0.0/8",)
    assert fam(got, 6).verdict == "allow"  # "ip saddr != X" never matches an IPv6 packet


def test_every_option_iptables_save_prints_has_its_arity() -> None:
    rs = v4(
        "-A INPUT -p tcp -m tcp --dport 443 -m connlimit --connlimit-upto 50 --connlimit-mask 32 --connlimit-saddr"
        " -j ACCEPT\n"
        "-A INPUT -p tcp -m tcp --dport 25 -m recent --rcheck --seconds 60 --name SMTP --mask 255.255.255.255"
        " --rsource -j DROP\n"
        "-A INPUT -p tcp -m tcp --dport 25 -m time --timestart 00:00:00 --timestop 23:59:00 --kerneltz -j ACCEPT\n"
    )
    rule = rs.chains["INPUT"].rules[0]
    assert rule.target == "accept"
    got = verdicts([rs], [443, 25])
    assert got[443].verdict == "limit" and got[443].limit == "at most 50 concurrent per source"
    assert rs.chains["INPUT"].rules[2].target == "accept"  # --kerneltz takes no argument


def test_recent_matches_only_senders_already_on_the_list() -> None:
    rs = v4(
        "-A INPUT -p tcp -m tcp --dport 25 -m recent --remove --name KNOCK --mask 255.255.255.255 --rsource"
        " -j ACCEPT\n"
        "-A INPUT -p tcp -m tcp --dport 80 -m recent --rcheck --name KNOCK --mask 255.255.255.255 --rsource"
        " -j ACCEPT\n"
        "-A INPUT -p tcp -m tcp --dport 443 -m recent --set --name W --mask 255.255.255.255 --rsource -j ACCEPT\n"
    )
    got = verdicts([rs], [25, 80, 443])
    assert got[25].verdict == "unknown" and "--remove" in (got[25].unknown_because or "")
    assert got[80].verdict == "unknown"
    assert got[443].verdict == "allow"  # --set always matches


def test_per_interface_exceptions_are_computed_and_shown_per_interface() -> None:
    host = Host(("eth0", "eth1"))
    rs = v4(
        "-A INPUT -i eth1 -s 203.0.113.0/24 -j DROP\n"
        "-A INPUT -i eth0 -s 198.51.100.7/32 -j DROP\n"
        "-A INPUT -p tcp -m tcp --dport 25 -j ACCEPT\n"
        "-A INPUT -i eth1 -p tcp -m tcp --dport 80 -j ACCEPT\n"
        "-A INPUT -s 192.0.2.0/24 -p tcp -m tcp --dport 80 -j ACCEPT\n"
    )
    got = verdicts([rs], [25, 80], host)
    assert got[25].verdict == "allow"
    assert set(got[25].excepted) == {"203.0.113.0/24 via eth1", "198.51.100.7 via eth0"}
    assert got[80].verdict == "restricted"
    assert set(got[80].sources) == {"any via eth1", "192.0.2.0/24"}
    assert got[80].excepted == ("203.0.113.0/24 via eth1",)
    for sender, iface, want in (("203.0.113.5", "eth0", False), ("203.0.113.5", "eth1", False),
                                ("192.0.2.9", "eth0", True), ("8.8.8.8", "eth1", True), ("8.8.8.8", "eth0", False),
                                ("198.51.100.7", "eth1", True)):  # fmt: skip
        assert lets_in(fam(got[80]), sender, iface) is want, (sender, iface)
    # nft iifname, the same
    doc = {"nftables": [
        {"chain": {"family": "inet", "table": "t", "name": "in", "type": "filter", "hook": "input", "prio": 0,
                   "policy": "accept"}},
        {"rule": {"family": "inet", "table": "t", "chain": "in", "handle": 2, "expr": [
            {"match": {"op": "==", "left": {"meta": {"key": "iifname"}}, "right": "eth1"}},
            {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}},
                       "right": {"prefix": {"addr": "203.0.113.0", "len": 24}}}},
            {"drop": None}]}},
    ]}  # fmt: skip
    nrs = nft.parse_json(doc)
    assert nrs is not None
    pf = analyse([nrs], [25], host, "nftables", [4])[25]
    assert pf.verdict == "allow" and pf.excepted == ("203.0.113.0/24 via eth1",)


def test_networks_are_split_where_the_rules_split_them() -> None:
    rs = ipt.parse_save(
        "*filter\n:INPUT DROP [0:0]\n:CHK - [0:0]\n"
        "-A INPUT -s 2001:db8:b::/48 -p tcp -m tcp --dport 25 -j CHK\n"
        "-A INPUT -s 2000::/3 -p tcp -m tcp --dport 25 -j CHK\n"
        "-A INPUT -p tcp -m tcp --dport 25 -j ACCEPT\n"
        "-A CHK ! -s 2001:db8::/32 -j DROP\n"
        "COMMIT\n",
        6,
    )
    assert rs is not None
    got = fam(analyse([rs], [25], HOST, "iptables", [6])[25], 6)
    assert got.verdict == "allow" and "2000::/3" not in got.excepted
    for sender, want in (("2001:db8:b::1", True), ("2001:db8:c::1", True), ("2001:db9::1", False),
                         ("3fff::1", False), ("2000::1", False), ("4000::1", True), ("fd00::1", True)):  # fmt: skip
        assert lets_in(got, sender) is want, sender


def test_nft_verdict_maps_are_evaluated() -> None:
    doc = {"nftables": [
        {"chain": {"family": "inet", "table": "t", "name": "in", "type": "filter", "hook": "input", "prio": 0,
                   "policy": "drop"}},
        {"chain": {"family": "inet", "table": "t", "name": "MAIL"}},
        {"map": {"family": "inet", "table": "t", "name": "vm", "type": "inet_service", "map": "verdict",
                 "elem": [[465, {"accept": None}]]}},
        {"rule": {"family": "inet", "table": "t", "chain": "in", "handle": 2, "expr": [
            {"vmap": {"key": {"payload": {"protocol": "tcp", "field": "dport"}},
                      "data": {"set": [[25, {"jump": {"target": "MAIL"}}], [{"range": [80, 90]}, {"accept": None}],
                                       [443, {"drop": None}]]}}}]}},
        {"rule": {"family": "inet", "table": "t", "chain": "in", "handle": 3, "expr": [
            {"vmap": {"key": {"payload": {"protocol": "tcp", "field": "dport"}}, "data": "@vm"}}]}},
        {"rule": {"family": "inet", "table": "t", "chain": "MAIL", "handle": 4, "expr": [
            {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}},
                       "right": {"prefix": {"addr": "192.0.2.0", "len": 24}}}}, {"accept": None}]}},
    ]}  # fmt: skip
    rs = nft.parse_json(doc)
    assert rs is not None
    got = analyse([rs], [25, 80, 443, 465, 587], HOST, "nftables", [4])
    assert {p: v.verdict for p, v in got.items()} == {
        25: "restricted", 80: "allow", 443: "deny", 465: "allow", 587: "deny"
    }  # fmt: skip
    assert got[25].sources == ("192.0.2.0/24",)


def test_an_ip_header_field_nft_cannot_decide_leaves_ipv6_decided() -> None:
    # "ip ttl < 10 drop" in an inet table: IPv6 packets never meet it (nft's family dependency); IPv4 is unknown.
    expr = [
        {"match": {"op": "<", "left": {"payload": {"protocol": "ip", "field": "ttl"}}, "right": 10}},
        {"drop": None},
    ]
    rs = one_rule_inet_input(expr)
    got = analyse([rs], [25], HOST, "nftables", [4, 6])[25]
    assert [(f.family, f.verdict) for f in got.families] == [(4, "unknown"), (6, "allow")]


def test_multiport_ports_matches_the_source_port_too() -> None:
    # "--ports 25,80" matches a packet whose source OR destination port is listed: a client that sends
    # from port 80 reaches 3306 through it (a known bypass). Only a listed destination port is certain.
    rs = v4("-A INPUT -p tcp -m multiport --ports 25,80 -j ACCEPT")
    got = verdicts([rs], [25, 3306])
    assert got[25].verdict == "allow"
    assert got[3306].verdict == "unknown" and "--ports 25,80" in (got[3306].unknown_because or "")
    negated = v4("-A INPUT -p tcp -m multiport ! --ports 25,80 -j DROP", policy="ACCEPT")
    got = verdicts([negated], [25, 3306])
    assert got[25].verdict == "allow" and got[3306].verdict == "unknown"


def test_addrtype_local_per_interface_depends_on_which_address() -> None:
    rs = v4("-A INPUT -p tcp -m addrtype --dst-type LOCAL --limit-iface-in -m tcp --dport 25 -j ACCEPT")
    one = Host(("eth0",), {4: (ipaddress.ip_address("192.0.2.1"),)})
    two = Host(("eth0", "eth1"), {4: (ipaddress.ip_address("192.0.2.1"), ipaddress.ip_address("198.51.100.1"))})
    assert verdicts([rs], [25], one)[25].verdict == "allow"
    assert verdicts([rs], [25], two)[25].verdict == "unknown"  # sent to eth1's address over eth0: not LOCAL there


def test_an_unknown_nft_statement_is_an_unknown_outcome_not_a_match() -> None:
    # A statement mbtop does not know may end the packet's way: trying it "both ways" as a match would let
    # the packet on either way and keep a verdict it may contradict.
    expr = [
        {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 25}},
        {"some future statement": {"to": "x"}},
    ]
    rs = one_rule_inet_input(expr)
    got = analyse([rs], [25, 80], HOST, "nftables", [4])
    assert got[25].verdict == "unknown" and got[80].verdict == "allow"
