"""mbtop's firewall verdicts agree with what the kernel does to a real connection.

Each test builds a real rule set in a private gateway namespace (ufw with the
reference's commands, iptables with the reference's rules, native nftables),
asks ``mbtop firewall --json`` (and ``snapshot --json``) inside it, then
connects for real from a client namespace over a veth pair, from outside
addresses and from the allowed cluster address, IPv4 and IPv6, and checks
that every verdict predicts every handshake.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from mbtop.catalog import load_reference
from tests.conftest import require_root_netns
from tests.support.fwlab import CLUSTER4, OTHER6, OUT4, OUT4B, OUT6, SRV4, SRV6, Lab, fw_lab
from tests.support.netns import Holder

PORTS = [p.port for p in load_reference().ports]


@pytest.fixture
def lab() -> Iterator[Lab]:
    require_root_netns()
    with fw_lab() as lab_:
        yield lab_


@pytest.fixture
def listeners(lab: Lab) -> Iterator[Holder]:
    """Something listening on every documented port, IPv4 and IPv6, on every address."""
    spec = {"name": "master", "listen": [[a, p] for p in PORTS for a in ("0.0.0.0", "::")]}
    with Holder(lab.srv_argv(), spec) as holder:
        yield holder


def _expect_open(entry: dict, family: str, source: str) -> bool | None:
    fam = next(f for f in entry["families"] if f["family"] == family)
    if fam["verdict"] == "unknown":
        return None
    if fam["verdict"] in ("allow", "limit"):
        addr = ipaddress.ip_address(source)
        return not any(addr in ipaddress.ip_network(n) for n in fam["except"] if not n.startswith("+"))
    if fam["verdict"] == "restricted":
        addr = ipaddress.ip_address(source)
        return any(addr in ipaddress.ip_network(n.split(" via ")[0]) for n in fam["sources"] if n[0].isalnum())
    return False


def _check_against_kernel(lab: Lab, doc: dict, skip: frozenset[int] = frozenset()) -> dict[int, dict]:
    ports = {e["port"]: e for e in doc["ports"]}
    assert set(ports) == set(PORTS)
    # These rule sets hold nothing mbtop cannot decide: every family gets a definite verdict.
    unknown = [(p, f["family"], f["unknown_because"]) for p, e in ports.items() for f in e["families"]
               if f["verdict"] == "unknown"]  # fmt: skip
    assert not unknown, unknown
    jobs: list[tuple[str, str, int]] = []
    expected: list[bool | None] = []
    for port in PORTS:
        if port in skip:
            continue
        for src, dst, fam in (
            (OUT4, SRV4, "ipv4"),
            (CLUSTER4, SRV4, "ipv4"),
            (OUT6, SRV6, "ipv6"),
            (OTHER6, SRV6, "ipv6"),
        ):
            jobs.append((src, dst, port))
            expected.append(_expect_open(ports[port], fam, src))
    got = lab.connect(jobs)
    mismatches = [
        (job, want, res)
        for job, want, res in zip(jobs, expected, got, strict=True)
        if want is not None and ((res == "open") != want or res.startswith("error"))
    ]
    assert not mismatches, f"verdict vs kernel (source, dest, port), expected open?, kernel: {mismatches}"
    return ports


UFW_REFERENCE = """
ufw --force reset >/dev/null
ufw default deny incoming
ufw default allow outgoing
ufw allow 22/tcp
ufw allow 25/tcp
ufw allow 80/tcp
ufw allow 443/tcp
ufw limit 25/tcp
ufw allow from 192.168.1.0/24 to any port 10050 proto tcp
ufw --force enable
"""


def test_ufw_reference_rules_match_the_kernel(lab: Lab, listeners: Holder) -> None:
    lab.srv_sh(UFW_REFERENCE)
    doc = lab.firewall()
    assert doc["backend"] == "ufw" and doc["active"] is True
    # 25 is probed once per source here; the limit is exercised below.
    ports = _check_against_kernel(lab, doc)
    assert ports[25]["verdict"] == "limit"
    assert ports[25]["rule"].startswith("ufw limit 25/tcp")
    assert ports[25]["limit"] == "5 new connections per 30 s per source"
    assert ports[80]["verdict"] == "allow" and ports[80]["rule"].startswith("ufw allow 80/tcp")
    assert ports[443]["verdict"] == "allow"
    assert ports[10050]["verdict"] == "restricted" and ports[10050]["sources"] == ["192.168.1.0/24"]
    assert [f["verdict"] for f in ports[10050]["families"]] == ["restricted", "deny"]  # the v4-only rule
    for internal in (3306, 6379, 10031, 11332):
        assert ports[internal]["verdict"] == "deny" and "policy drop" in ports[internal]["rule"]

    # The limit, for real: 5 new connections per 30 s from one source, the 6th rejected.
    got = lab.connect([(OUT4B, SRV4, 25)] * 7, serial=True)
    assert got[:5] == ["open"] * 5 and set(got[5:]) == {"refused"}, got

    # Findings: 3306 listens on 0.0.0.0 (exposed-bind) but the firewall keeps it in: no firewall finding.
    snap = lab.srv_sh(f"cd /tmp && {_mbtop_argv('snapshot', '--json', '--sample', '0')}", check=False)
    codes = _codes(snap.stdout)
    assert (3306, "exposed-bind") in codes
    assert not {c for c in codes if c[1].startswith("firewall-")}, codes
    # The flood watch's per-source threshold is the limit the firewall enforces.
    thresholds = json.loads(snap.stdout)["flood"]["thresholds"]
    assert thresholds["source_per_30s"] == 5 and thresholds["origin"].startswith("firewall: 25")


def test_iptables_reference_rules_match_the_kernel(lab: Lab, listeners: Holder) -> None:
    lab.srv_sh(
        """
iptables -A INPUT -i lo -j ACCEPT
iptables -A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
iptables -A INPUT -p tcp --dport 25 -m limit --limit 100/minute --limit-burst 200 -j ACCEPT
iptables -A INPUT -p tcp --dport 25 -j DROP
iptables -A INPUT -p tcp -m multiport --dports 80,443 -j ACCEPT
iptables -A INPUT -s 192.168.1.0/24 -p tcp --dport 10050 -j ACCEPT
iptables -A INPUT -p tcp --dport 3306 -j ACCEPT
iptables -A INPUT -p tcp --dport 10000:10049 -j REJECT --reject-with tcp-reset
iptables -A INPUT -s 127.0.0.0/8 -p tcp --dport 6379 -j ACCEPT
iptables -P INPUT DROP
ip6tables -A INPUT -i lo -j ACCEPT
ip6tables -A INPUT -p ipv6-icmp -j ACCEPT
ip6tables -A INPUT -p tcp -m multiport --dports 80,443,10050 -j ACCEPT
ip6tables -A INPUT -i vsrv -p tcp --dport 587 -j ACCEPT
ip6tables -P INPUT DROP
"""
    )
    doc = lab.firewall()
    assert doc["backend"] == "iptables"
    ports = _check_against_kernel(lab, doc)
    assert ports[25]["verdict"] == "limit" and ports[25]["limit"].startswith("100/minute burst 200")
    assert ports[80]["verdict"] == "allow"
    assert ports[6379]["verdict"] == "deny"  # only loopback sources: nobody from outside
    assert ports[10031]["verdict"] == "deny" and "REJECT" in ports[10031]["rule"]
    # 10050 is restricted on IPv4 but open to anyone on IPv6: the headline is the open one.
    assert ports[10050]["verdict"] == "allow"
    assert [f["verdict"] for f in ports[10050]["families"]] == ["restricted", "allow"]
    assert ports[587]["verdict"] == "allow"  # via the only interface there is

    snap = lab.srv_sh(f"cd /tmp && {_mbtop_argv('snapshot', '--json', '--sample', '0')}", check=False)
    codes = _codes(snap.stdout)
    assert (3306, "firewall-exposes-internal") in codes
    assert (10050, "firewall-cluster-open") in codes
    assert (465, "firewall-blocks-public") not in codes  # optional port
    assert not {c for c in codes if c[1] == "firewall-blocks-public"}


NFT_RULES = """
table inet gateway {
  set cluster { type ipv4_addr; flags interval; elements = { 192.168.1.0/24, 10.9.9.9 } }
  set web { type inet_service; elements = { 80, 443 } }
  chain input {
    type filter hook input priority 0; policy drop;
    ct state established,related accept
    ct state invalid drop
    iifname "lo" accept
    meta l4proto ipv6-icmp accept
    tcp flags & (fin|syn|rst|ack) == syn tcp dport 25 limit rate 100/minute burst 200 packets accept
    tcp dport @web accept
    tcp dport { 465, 587 } accept
    tcp dport 10050 ip saddr @cluster accept
    ip6 saddr fd77:1::/64 tcp dport 10031-10032 accept
    iifname "vsrv" tcp dport 11333 reject with tcp reset
    tcp dport 3310 jump maybe
  }
  chain maybe {
    ip saddr 10.77.0.0/24 return
    accept
  }
}
"""


def test_native_nftables_rules_match_the_kernel(lab: Lab, listeners: Holder, tmp_path: Path) -> None:
    rules = tmp_path / "gw.nft"
    rules.write_text(NFT_RULES)
    lab.srv_sh(f"nft -f {rules}")
    doc = lab.firewall()
    assert doc["backend"] == "nftables"
    ports = _check_against_kernel(lab, doc)
    assert ports[25]["verdict"] == "limit"
    assert ports[443]["verdict"] == "allow" and "@web" in ports[443]["rule"]
    assert ports[587]["verdict"] == "allow"
    assert ports[10050]["verdict"] == "restricted" and "192.168.1.0/24" in ports[10050]["sources"]
    assert ports[10031]["families"][1]["sources"] == ["fd77:1::/64"]
    assert ports[11333]["verdict"] == "deny"
    # 3310: the chain returns for 10.77.0.0/24 (then the policy drops) and accepts everyone else.
    assert ports[3310]["verdict"] == "allow" and ports[3310]["except"] == ["10.77.0.0/24"]


def test_no_rules_and_not_root(lab: Lab, listeners: Holder) -> None:
    doc = lab.firewall()
    assert doc["backend"] == "none" and doc["active"] is False
    _check_against_kernel(lab, doc)
    snap = lab.srv_sh(f"cd /tmp && {_mbtop_argv('snapshot', '--json', '--sample', '0')}", check=False)
    assert (None, "firewall-inactive") in _codes(snap.stdout)
    # Without root the rules cannot be read: unknown, with the reason, exit 3, no traceback.
    out = lab.srv_sh(f"cd /tmp && setpriv --reuid=65534 --regid=65534 --clear-groups {_mbtop_argv('firewall')}",
                     check=False)  # fmt: skip
    assert out.returncode == 3, out.stderr
    assert "unknown" in out.stdout and "not root" in out.stdout
    assert "Traceback" not in out.stderr


def _mbtop_argv(*args: str) -> str:
    import shlex
    import sys

    from tests.support.fwlab import REPO

    return f"env PYTHONPATH={shlex.quote(str(REPO))} " + " ".join(
        shlex.quote(a) for a in (sys.executable, "-m", "mbtop", *args)
    )


def _codes(text: str) -> set[tuple[int | None, str]]:
    import json

    doc = json.loads(text)
    return {(f["port"], f["code"]) for f in doc["findings"]}
