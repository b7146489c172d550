"""The /proc/net fallback parsers, on text in the kernel's format."""
# ruff: noqa: E501  (kernel-format fixtures keep their real line lengths)

from __future__ import annotations

import socket

from mbtop.probes.procnet import parse_tcp, parse_unix

TCP = """  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:18EB 00000000:0000 0A 00000000:00000003 00:00000000 00000000   110        0 34567 1 0000 100 0 0 10 0
   1: 0100007F:0019 0200007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 45678 1 0000 20 4 30 10 -1
   2: 0100007F:0050 0300007F:D000 06 00000000:00000000 03:00000D2A 00000000     0        0 0 3 0000
"""
TCP6 = """  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000001000000:0019 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 777 1 0000 100 0 0 10 0
"""
UNIX = """Num       RefCount Protocol Flags    Type St Inode Path
0000000000000000: 00000002 00000000 00010000 0001 01 16925 /run/php/mailborder.sock
0000000000000000: 00000003 00000000 00000000 0001 03 16999 /run/php/mailborder.sock
0000000000000000: 00000002 00000000 00000000 0002 01 1234 @abstract name
0000000000000000: 00000003 00000000 00000000 0001 03 1777
"""


def test_parse_tcp_v4() -> None:
    rows = parse_tcp(TCP, socket.AF_INET)
    assert [(r.state, r.local_address, r.local_port, r.remote_address, r.remote_port) for r in rows] == [
        ("LISTEN", "127.0.0.1", 6379, "0.0.0.0", 0),
        ("ESTABLISHED", "127.0.0.1", 25, "127.0.0.2", 50000),
        ("TIME_WAIT", "127.0.0.1", 80, "127.0.0.3", 53248),
    ]
    assert rows[0].recv_q == 3 and rows[0].inode == 34567 and rows[0].uid == 110
    assert [r.local_port for r in parse_tcp(TCP, socket.AF_INET, frozenset({25}))] == [25]


def test_parse_tcp_v6() -> None:
    (row,) = parse_tcp(TCP6, socket.AF_INET6)
    assert (row.local_address, row.local_port, row.state) == ("::1", 25, "LISTEN")


def test_parse_unix() -> None:
    rows = parse_unix(UNIX)
    assert [(r.inode, r.listening, r.connected, r.path) for r in rows] == [
        (16925, True, False, "/run/php/mailborder.sock"),
        (16999, False, True, "/run/php/mailborder.sock"),
        (1234, False, False, "@abstract name"),
        (1777, False, True, None),
    ]
