"""``ipset save`` text → set members (pure; the text is what ipset 7.17 prints, captured in a namespace)."""

from __future__ import annotations

import ipaddress

from mbtop.probes.firewall.ipset import parse_save

SAVED = """create blk hash:net family inet hashsize 1024 maxelem 65536 bucketsize 12 initval 0xc40c670b
add blk 172.21.0.0/16 nomatch
add blk 172.20.5.0/24
create a6 hash:ip family inet6 hashsize 1024 maxelem 65536 timeout 300 bucketsize 12 initval 0x2539b02e
add a6 2001:db8::5 timeout 299
create m hash:ip family inet hashsize 1024 maxelem 65536 netmask 24 bucketsize 12 initval 0xf306ee79
add m 172.20.9.0
create bm bitmap:ip range 172.22.0.0-172.22.0.255
add bm 172.22.0.7
add bm 172.22.0.16
create hp hash:ip,port family inet hashsize 1024 maxelem 65536 bucketsize 12 initval 0x703e5746
add hp 172.20.1.1,tcp:25
create empty hash:ip family inet hashsize 1024 maxelem 65536 bucketsize 12 initval 0x1
"""


def test_members_by_type() -> None:
    sets = parse_save(SAVED)
    net = ipaddress.ip_network
    assert sets["blk"].nets is None  # a nomatch exception inside a member: not modelled, stays unknown
    assert sets["a6"].family == 6 and sets["a6"].nets == (net("2001:db8::5/128"),)
    assert sets["m"].nets == (net("172.20.9.0/24"),)  # netmask 24: the member is its /24
    assert sets["bm"].nets == (net("172.22.0.7/32"), net("172.22.0.16/32"))  # bitmap:ip: IPv4, no family
    assert sets["hp"].nets is None  # address and port
    assert sets["empty"].nets == ()  # nobody: a match on it never matches


def test_garbage_never_raises() -> None:
    hostile = "create\nadd\nadd m not-an-ip\ncreate x hash:ip family\nadd x ::1\nadd y 1.2.3.4\n\x1b[31m\ncreate z"
    sets = parse_save(SAVED + hostile)
    assert sets["m"].nets is None  # a member that cannot be read: the set is not guessed
    assert sets["x"].nets is None  # an IPv6 member in an IPv4 set
