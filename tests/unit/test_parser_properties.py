"""Properties of the log parsers, with Hypothesis: no input breaks them, and the fields of every
generated line of a known Postfix or nginx shape come back as they were written.

Pure code (no system access): the parsers, the bytes-level summary and `mbtop logs` in a
subprocess on files of generated lines.
"""

from __future__ import annotations

import ipaddress
import json
import subprocess
import sys
import unicodedata
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from mbtop.logs import fastsum, nginx
from mbtop.logs.postfix import PostfixParser

PARSER = PostfixParser(2026)
# What a terminal must never receive raw from `mbtop logs` (text mode): C0/C1 controls, DEL, and the
# invisible characters that reorder or hide text (bidi overrides and isolates, zero-width marks).
HIDDEN = {chr(c) for c in (*range(0x00, 0x20), *range(0x7F, 0xA0))} - {"\n"}
HIDDEN |= {chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200B, 0x200C, 0x200D, 0x2060, 0xFEFF)}

# Raw lines as a log holds them: any bytes (decoded the way the follower does), with the structure
# that reaches the deeper branches of the parsers mixed in often.
TOKENS = st.sampled_from(
    [
        "Nov 28 03:10:05 gw postfix/smtpd[123]: ",
        "2026-11-28T03:10:05.123456+00:00 gw postfix/postscreen[9]: ",
        "Nov 28 03:10:05 gw postfix/submission/smtpd[4]: ",
        "Nov 28 03:10:05 gw postfix/anvil[7]: statistics: max connection rate 9/60s for (smtp:",
        "Nov 28 03:10:05 gw nginx[88]: ",
        "Nov 28 03:10:05 gw postfix/smtpd[",
        "Nov 28 03:10:05 gw postfix/postscreen[",
        "]: ",
        "3F2A1B4C5D: ",
        "NOQUEUE: reject: RCPT from ",
        "connect from ",
        "disconnect from ",
        "CONNECT from [",
        "warning: ",
        "unknown[",
        "]:",
        "]",
        "[",
        "9" * 5000,
        "1.2.3.4",
        "2001:db8::1",
        "IPv6:",
        " ehlo=1 quit=1 commands=2",
        "status=sent (250 ok)",
        "to=<a@b>, relay=x[1.2.3.4]:25, delay=1, dsn=2.0.0, ",
        '127.0.0.1 - - [28/Nov/2026:03:10:05 +0000] "GET / HTTP/1.1" ',
        '"-" "curl"',
        "2026/11/28 03:10:05 [error] 12#12: *3 ",
        ", client: 1.2.3.4, server: x, request: ",
        "\x1b]0;title\x07",
        "\u202e",
        "\x00",
        " ",
    ]
)
RAW = st.lists(st.one_of(TOKENS, st.binary(max_size=40).map(lambda b: b.decode("utf-8", "replace"))), max_size=12).map(
    "".join
)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(RAW)
@example("Nov 28 03:10:05 gw postfix/smtpd[" + "9" * 5000 + "]: connect from x[1.2.3.4]:" + "7" * 5000)
@example("Nov 28 03:10:05 gw postfix/postscreen[1]: CONNECT from [1.2.3.4]:" + "7" * 5000 + " to [127.0.0.1]:25")
@example('1.2.3.4 - - [28/Nov/2026:03:10:05 +0000] "GET / HTTP/1.1" 200 ' + "9" * 5000 + ' "-" "x"')
def test_no_line_breaks_the_parsers(line: str) -> None:
    for ev in (PARSER.parse(line, 1), nginx.parse(line, 1)):
        doc = json.loads(json.dumps(ev.to_json()))
        assert doc["line_no"] == 1  # the line still yields its event
        for key in ("pid", "client_port", "status", "bytes"):
            value = doc.get(key)
            assert value is None or isinstance(value, int)
        if doc.get("client_ip") is not None:
            ipaddress.ip_address(doc["client_ip"])  # an address or null, never free text


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(RAW, min_size=1, max_size=30))
def test_no_file_breaks_the_summary(tmp_path_factory: object, lines: list[str]) -> None:
    path = Path(tmp_path_factory.mktemp("sum")) / "mail.log"  # type: ignore[attr-defined]
    path.write_bytes("\n".join(lines).encode("utf-8", "surrogatepass"))
    for fmt in ("postfix", "nginx"):
        json.dumps(fastsum.summarize(str(path), fmt, 2026).to_json())


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(RAW, min_size=1, max_size=40))
def test_logs_command_loses_no_line_and_prints_nothing_hidden(tmp_path_factory: object, lines: list[str]) -> None:
    """`mbtop logs` on generated lines: one JSON object per input line, in order; the text mode
    prints no control, bidi or zero-width character."""
    lines = [x.replace("\r", " ") for x in lines]  # a CR alone ends a line for no log writer; keep counts honest
    src = Path(tmp_path_factory.mktemp("cli")) / "mail.log"  # type: ignore[attr-defined]
    body = "\n".join(lines) + "\n"
    src.write_bytes(body.encode("utf-8", "surrogatepass"))
    expected = body.count("\n")
    for fmt in ("postfix", "nginx"):
        run = subprocess.run(
            [sys.executable, "-m", "mbtop", "logs", str(src), "--format", fmt, "--events", "--json", "--year", "2026"],
            capture_output=True,
            timeout=60,
        )
        assert run.returncode == 0, run.stderr.decode(errors="replace")
        out = run.stdout.decode("utf-8").splitlines()
        assert [json.loads(x)["line_no"] for x in out] == list(range(1, expected + 1))
        text = subprocess.run(
            [sys.executable, "-m", "mbtop", "logs", str(src), "--format", fmt, "--events", "--year", "2026"],
            capture_output=True,
            timeout=60,
        )
        assert text.returncode == 0, text.stderr.decode(errors="replace")
        shown = text.stdout.decode("utf-8")
        assert shown.count("\n") == expected
        assert not HIDDEN & set(shown), sorted({unicodedata.name(c, hex(ord(c))) for c in HIDDEN & set(shown)})


# --- fields round-trip on generated lines of known shapes ------------------------------------------

HOSTNAMES = st.from_regex(r"[a-z][a-z0-9-]{0,20}(\.[a-z][a-z0-9-]{0,10}){0,3}", fullmatch=True) | st.just("unknown")
V4 = st.ip_addresses(v=4).map(str)
V6 = st.ip_addresses(v=6).map(str)
ADDRS = V4 | V6
PIDS = st.integers(min_value=1, max_value=2**22)
PORTS = st.integers(min_value=1, max_value=65535)
QIDS = st.from_regex(r"[0-9A-F]{6,12}", fullmatch=True) | st.from_regex(
    r"[0-9B-DF-HJ-NP-TV-Z]{8,12}z[0-9B-DF-HJ-NP-TV-Zb-df-hj-np-tv-y]{3,6}", fullmatch=True
)
STAMP = "Nov 28 03:10:05 gw"


def _bracket(ip: str) -> str:
    """How Postfix writes an address between brackets: IPv6 with its "IPv6:" prefix only in
    some places, which the parser must accept either way."""
    return ip


@settings(max_examples=300, deadline=None)
@given(HOSTNAMES, ADDRS, PIDS, st.booleans(), PORTS)
def test_connect_fields_round_trip(host: str, ip: str, pid: int, with_port: bool, port: int) -> None:
    client = f"{host}[{ip}]" + (f":{port}" if with_port else "")
    ev = PARSER.parse(f"{STAMP} postfix/smtpd[{pid}]: connect from {client}", 5)
    assert (ev.kind, ev.pid, ev.client_ip) == ("connect", pid, str(ipaddress.ip_address(ip)))
    assert ev.client_hostname == host
    assert ev.client_port == (port if with_port else None)


@settings(max_examples=300, deadline=None)
@given(HOSTNAMES, ADDRS, PIDS, QIDS, st.sampled_from(["RCPT", "MAIL", "DATA", "CONNECT", "HELO"]), HOSTNAMES)
def test_reject_fields_round_trip(host: str, ip: str, pid: int, qid: str, stage: str, helo: str) -> None:
    line = (
        f"{STAMP} postfix/smtpd[{pid}]: {qid}: reject: {stage} from {host}[{ip}]: 554 5.7.1 "
        f"<x@[{ip}]>: Relay access denied; from=<a@{helo}> to=<x@[10.9.9.9]> proto=ESMTP helo=<[10.8.8.8]>"
    )
    ev = PARSER.parse(line, 1)
    assert (ev.kind, ev.queue_id, ev.client_ip, ev.client_hostname) == (
        "reject",
        qid,
        str(ipaddress.ip_address(ip)),
        host,
    )
    assert ev.fields["stage"] == stage
    assert ev.fields["code"] == "554"
    assert ev.fields["dsn"] == "5.7.1"
    assert ev.fields["helo"] == "[10.8.8.8]"  # the HELO's address is not the client


@settings(max_examples=300, deadline=None)
@given(ADDRS, PORTS, PIDS)
def test_postscreen_connect_round_trip(ip: str, port: int, pid: int) -> None:
    ev = PARSER.parse(f"{STAMP} postfix/postscreen[{pid}]: CONNECT from [{ip}]:{port} to [127.0.0.1]:25", 1)
    assert (ev.kind, ev.client_ip, ev.client_port, ev.fields.get("action")) == (
        "postscreen",
        str(ipaddress.ip_address(ip)),
        port,
        "CONNECT",
    )


@settings(max_examples=300, deadline=None)
@given(QIDS, HOSTNAMES, ADDRS, st.sampled_from(["sent", "deferred", "bounced"]), PIDS)
def test_delivery_round_trip(qid: str, relay_host: str, ip: str, status: str, pid: int) -> None:
    line = (
        f"{STAMP} postfix/smtp[{pid}]: {qid}: to=<u@example.org>, relay={relay_host}[{ip}]:25, delay=1.2, "
        f"delays=0.1/0/0.5/0.6, dsn=2.0.0, status={status} (250 2.0.0 Ok: queued as ABC)"
    )
    ev = PARSER.parse(line, 1)
    assert (ev.kind, ev.queue_id, ev.fields["status"], ev.fields["to"]) == ("delivery", qid, status, "u@example.org")
    assert ev.client_ip is None  # the relay is not a client


@settings(max_examples=300, deadline=None)
@given(
    ADDRS,
    st.sampled_from(["GET", "POST", "HEAD", "PUT"]),
    st.from_regex(r"/[A-Za-z0-9._~/-]{0,30}", fullmatch=True),
    st.integers(min_value=100, max_value=599),
    st.integers(min_value=0, max_value=10**12),
    st.from_regex(r"[A-Za-z0-9 ./;()-]{0,40}", fullmatch=True),
)
def test_nginx_access_round_trip(ip: str, method: str, path: str, status: int, size: int, ua: str) -> None:
    line = f'{ip} - - [28/Nov/2026:03:10:05 +0000] "{method} {path} HTTP/1.1" {status} {size} "-" "{ua}"'
    ev = nginx.parse(line, 1)
    assert (ev.kind, ev.client_ip, ev.method, ev.path, ev.status, ev.bytes) == (
        "access",
        str(ipaddress.ip_address(ip)),
        method,
        path,
        status,
        size,
    )
    assert ev.to_json()["user_agent"] == (None if ua == "-" else ua)  # nginx writes "-" for no value
