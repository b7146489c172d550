"""Postfix 3.x's real message texts for the flood signals (tests/fixtures/logs/postfix-realworld.log):
each line written from the format string in Postfix's source, checked with its fields."""

from __future__ import annotations

from pathlib import Path

import pytest

from mbtop.logs.events import MailEvent
from mbtop.logs.pfdaemons import split_anvil_key
from mbtop.logs.postfix import PostfixParser

LOG = Path(__file__).resolve().parents[1] / "fixtures" / "logs" / "postfix-realworld.log"
LINES = LOG.read_text().splitlines()
P = PostfixParser(2026)


def ev(needle: str) -> MailEvent:
    (n, line) = next((i, x) for i, x in enumerate(LINES, 1) if needle in x)
    return P.parse(line, n)


@pytest.mark.parametrize(
    ("needle", "kind", "ip", "host", "port", "fields"),
    [
        ("non-SMTP command", "non_smtp", "203.0.113.20", "unknown", None, {"command": "GET / HTTP/1.1"}),
        (
            "pipelining after EHLO",
            "pipelining",
            "203.0.113.21",
            "unknown",
            None,
            {"after": "EHLO", "data": r"MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\n"},
        ),
        ("pipelining after CONNECT", "pipelining", "203.0.113.22", "bot.example", None, {"after": "CONNECT"}),
        (
            "mail.bad.example does not",
            "warning",
            "203.0.113.23",
            None,
            None,
            {"warning": "hostname_unresolved", "hostname": "mail.bad.example"},
        ),
        (
            "v6.bad.example",
            "warning",
            "2001:db8::23",
            None,
            None,
            {"warning": "hostname_unresolved", "hostname": "v6.bad.example", "reason": "Name or service not known"},
        ),
        ("bare <LF>", "warning", "203.0.113.24", "unknown", None, {"warning": "bare_lf", "after": "DATA"}),
        ("SSL_accept error", "tls_error", "203.0.113.25", "unknown", None, {"error": "lost connection"}),
        (
            "Anonymous TLS connection established from mail",
            "tls",
            "198.51.100.9",
            "mail.example.net",
            None,
            {"trust": "Anonymous", "tls_protocol": "TLSv1.3", "cipher": "TLS_AES_256_GCM_SHA384", "bits": "256/256"},
        ),
        ("Trusted TLS", "tls", "192.0.2.70", "laptop.example", None, {"trust": "Trusted", "tls_protocol": "TLSv1.2"}),
        ("Untrusted TLS", "tls", "198.51.100.71", "relay.example", None, {"trust": "Untrusted"}),
        ("Verified TLS", "tls", "198.51.100.72", "peer.example", None, {"trust": "Verified"}),
        (
            "reject_warning",
            "reject_warning",
            "203.0.113.26",
            "unknown",
            None,
            {"action": "reject_warning", "stage": "RCPT", "code": "450", "dsn": "4.7.1", "to": "b@example.com"},
        ),
        (
            "Connection rate limit",
            "rate_limit",
            "203.0.113.27",
            "unknown",
            None,
            {"limit": "connection rate", "count": "31", "service": "smtp"},
        ),
        ("concurrency limit", "rate_limit", "203.0.113.28", "unknown", None, {"limit": "connection concurrency"}),
        (
            "Message delivery request",
            "rate_limit",
            "192.0.2.70",
            "laptop.example",
            None,
            {"limit": "message delivery request rate", "count": "101", "service": "submission"},
        ),
        ("Recipient address rate", "rate_limit", "2001:db8::29", "unknown", None, {"limit": "recipient address rate"}),
        ("New TLS session rate", "rate_limit", "203.0.113.30", "unknown", None, {"limit": "new tls session rate"}),
        (
            "(127.0.0.1:2525:127.0.0.1)",
            "anvil",
            "127.0.0.1",
            None,
            None,
            {"what": "connection rate", "value": "3/60s", "svc": "127.0.0.1:2525", "at": "Nov 25 19:59:00"},
        ),
        ("(smtp:2001:db8::31)", "anvil", "2001:db8::31", None, None, {"svc": "smtp", "what": "connection count"}),
        ("(submission:203.0.113.32)", "anvil", "203.0.113.32", None, None, {"svc": "submission"}),
        ("([::1]:2525:::1)", "anvil", "::1", None, None, {"svc": "[::1]:2525", "what": "recipient rate"}),
        ("(2525:203.0.113.33)", "anvil", "203.0.113.33", None, None, {"svc": "2525", "what": "newtls rate"}),
        (
            "too many connections",
            "reject",
            "203.0.113.40",
            None,
            3333,
            {"action": "reject", "stage": "CONNECT", "reason": "too many connections"},
        ),
        ("all server ports busy", "reject", "203.0.113.41", None, 3334, {"reason": "all server ports busy"}),
        ("COMMAND COUNT LIMIT", "postscreen", "203.0.113.42", None, 3335, {"action": "COMMAND COUNT LIMIT"}),
        ("COMMAND LENGTH LIMIT", "postscreen", "203.0.113.42", None, 3335, {"action": "COMMAND LENGTH LIMIT"}),
        ("BARE NEWLINE", "postscreen", "203.0.113.43", None, 3336, {"action": "BARE NEWLINE"}),
        (
            "NON-SMTP COMMAND",
            "postscreen",
            "203.0.113.44",
            None,
            3337,
            {"action": "NON-SMTP COMMAND", "command": "GET GET / HTTP/1.1"},
        ),
        ("WHITELISTED", "postscreen", "198.51.100.50", None, 3338, {"action": "WHITELISTED"}),
        ("ALLOWLISTED", "postscreen", "198.51.100.51", None, 3339, {"action": "ALLOWLISTED"}),
        ("DENYLISTED", "postscreen", "203.0.113.45", None, 3340, {"action": "DENYLISTED"}),
        ("WHITELIST VETO", "postscreen", "203.0.113.46", None, 3341, {"action": "WHITELIST VETO"}),
        ("tlsproxy[600]: CONNECT", "tlsproxy", "203.0.113.47", None, 51234, {"action": "CONNECT"}),
        ("tlsproxy[600]: DISCONNECT", "tlsproxy", "203.0.113.47", None, 51234, {"action": "DISCONNECT"}),
        ("tlsproxy[600]: Anonymous", "tls", "203.0.113.47", None, 51234, {"trust": "Anonymous"}),
        (
            "listed by domain",
            "dnsbl",
            "203.0.113.5",
            None,
            None,
            {"domain": "zen.spamhaus.org", "reply": "127.0.0.2"},
        ),
        ("Illegal address syntax", "warning", "203.0.113.61", "unknown", None, {}),
    ],
)
def test_shapes(needle: str, kind: str, ip: str, host: str | None, port: int | None, fields: dict[str, str]) -> None:
    e = ev(needle)
    assert (e.kind, e.client_ip, e.client_hostname, e.client_port) == (kind, ip, host, port)
    assert {k: e.fields.get(k) for k in fields} == fields


def test_postscreen_verdict_details_from_the_older_fixture_still_hold() -> None:
    line = (
        "Nov 25 19:40:01 mb postfix/postscreen[100]: COMMAND PIPELINING from [203.0.113.6]:5555 after EHLO: MAIL\\r\\n"
    )
    e = P.parse(line, 1)
    assert e.fields == {"action": "COMMAND PIPELINING", "after": "EHLO", "data": "MAIL\\r\\n"}
    hangup = P.parse(
        "Nov 25 1:0:0 x postfix/postscreen[1]: HANGUP after 0.5 from [192.0.2.1]:25 in tests after SMTP", 1
    )
    assert hangup.kind == "other"  # not a syslog time: never guessed
    line = "Nov 25 19:40:01 mb postfix/postscreen[100]: HANGUP after 0.5 from [192.0.2.1]:2500 in tests after SMTP"
    h = P.parse(line, 1)
    assert h.fields == {"action": "HANGUP", "after": "0.5", "test": "tests after SMTP"}


def test_queue_id_forms() -> None:
    assert ev("long-inode@").queue_id == "4F2A1B2C3D4E5F6"  # a short id longer than 12 characters
    c = ev("4Z9tZB3RcSz9sSf: client=")
    assert c.queue_id == "4Z9tZB3RcSz9sSf" and c.kind == "client" and c.client_ip == "203.0.113.60"
    w = ev("bounce service failure")
    assert w.queue_id == "4Z9tZB3RcSz9sSf" and w.kind == "warning"  # the id after "warning:"


def test_service_names_in_the_program() -> None:
    a, b = ev("postfix/10025/smtpd"), ev("postfix/127.0.0.1:10025/smtpd")
    assert (a.program, a.service, a.kind, a.pid) == ("postfix/10025/smtpd", "smtpd", "connect", 900)
    assert (b.program, b.service, b.kind, b.pid) == ("postfix/127.0.0.1:10025/smtpd", "smtpd", "connect", 901)


def test_the_address_inside_a_warning_text_is_not_the_client() -> None:
    e = ev("Illegal address syntax")
    assert e.client_ip == "203.0.113.61"  # not the 192.0.2.9 inside the rejected address


@pytest.mark.parametrize(
    ("key", "service", "ip"),
    [
        ("smtp:203.0.113.1", "smtp", "203.0.113.1"),
        ("smtp:2001:db8::1", "smtp", "2001:db8::1"),
        ("2525:2001:db8::1", "2525", "2001:db8::1"),
        ("127.0.0.1:2525:127.0.0.1", "127.0.0.1:2525", "127.0.0.1"),
        ("[::1]:2525:::1", "[::1]:2525", "::1"),
        ("mx.example.com:25:2001:db8::2", "mx.example.com:25", "2001:db8::2"),
        ("smtp:unknown", "smtp", None),
        ("nonsense", "nonsense", None),
    ],
)
def test_anvil_keys(key: str, service: str, ip: str | None) -> None:
    assert split_anvil_key(key) == (service, ip)


def test_every_line_of_the_fixture_is_recognised() -> None:
    events = [P.parse(line, i) for i, line in enumerate(LINES, 1)]
    assert [e.line_no for e in events if e.kind == "other"] == []


def test_postfix_starting_and_restarting_are_daemon_events() -> None:
    assert ev("daemon started").kind == "daemon" and ev("starting the Postfix").kind == "daemon"
    assert ev("has changed -- restarting").kind == "daemon"
    assert P.parse("Nov 25 1:00:00 mb postfix/master[1]: fatal: bind", 1).kind == "other"  # not a syslog time
    assert P.parse("Nov 25 10:00:00 mb postfix/master[1]: fatal: bind 0.0.0.0 port 25", 1).kind == "fatal"


def test_summary_counts_the_flood_signs_through_the_cli() -> None:
    import json
    import subprocess
    import sys

    argv = [sys.executable, "-m", "mbtop", "logs", str(LOG), "--summary", "--json", "--format", "postfix"]
    doc = json.loads(subprocess.run(argv, capture_output=True, text=True, timeout=60, check=True).stdout)
    assert doc["rate_limit_hits"] == 5 and doc["rate_limits"]["connection rate"] == 1
    assert {c["address"] for c in doc["top_rate_limited"]} == {
        "203.0.113.27",
        "203.0.113.28",
        "192.0.2.70",
        "2001:db8::29",
        "203.0.113.30",
    }
    assert doc["pipelining"] == 2 and doc["non_smtp_commands"] == 2  # smtpd's and postscreen's
    assert {c["address"] for c in doc["top_non_smtp"]} == {"203.0.113.20", "203.0.113.44"}
    assert doc["tls_sessions"] == {"Anonymous": 2, "Trusted": 1, "Untrusted": 1, "Verified": 1}
    assert doc["reject_warnings"] == 1 and doc["dnsbl_listings"] == {"zen.spamhaus.org": 1}
    assert doc["rejected"] == 2  # postscreen's CONNECT rejects; a reject_warning is not a reject
