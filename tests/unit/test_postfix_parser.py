"""Every event kind and every trap, on lines written for these tests (tests/fixtures/logs)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mbtop.logs.postfix import PostfixParser

LOG = Path(__file__).resolve().parents[1] / "fixtures" / "logs" / "postfix-events.log"
LINES = LOG.read_text().splitlines()
P = PostfixParser(2026)


def ev(needle: str):  # type: ignore[no-untyped-def]
    (n, line) = next((i, x) for i, x in enumerate(LINES, 1) if needle in x)
    return P.parse(line, n)


@pytest.mark.parametrize(
    ("needle", "kind", "ip", "host", "port"),
    [
        ("CONNECT from [203.0.113.5]", "postscreen", "203.0.113.5", None, 41234),
        ("PREGREET", "postscreen", "203.0.113.5", None, 41234),
        ("DNSBL rank", "postscreen", "203.0.113.5", None, 41234),
        ("HANGUP", "postscreen", "203.0.113.5", None, 41234),
        ("COMMAND PIPELINING", "postscreen", "203.0.113.6", None, 5555),
        ("COMMAND TIME LIMIT", "postscreen", "203.0.113.6", None, 5555),
        ("PASS NEW", "postscreen", "2001:db8::7", None, 5678),
        ("PASS OLD", "postscreen", "198.51.100.9", None, 5679),
        ("DISCONNECT [", "postscreen", "203.0.113.5", None, 41234),
        ("blocked using zen", "reject", "203.0.113.8", None, 4444),
        ("connect from mail.example.net", "connect", "198.51.100.9", "mail.example.net", None),
        ("connect from unknown[2001:db8::7]", "connect", "2001:db8::7", "unknown", None),
        ("IPv6:2001:db8::8", "connect", "2001:db8::8", "host.example", 2525),
        ("client=mail.example.net", "client", "198.51.100.9", "mail.example.net", None),
        ("disconnect from mail.example.net", "disconnect", "198.51.100.9", "mail.example.net", None),
        ("Relay access denied", "reject", "203.0.113.9", "unknown", None),
        ("SASL LOGIN", "sasl_fail", "203.0.113.10", "unknown", None),
        ("lost connection after AUTH", "lost_connection", "203.0.113.10", "unknown", None),
        ("timeout after END-OF-MESSAGE", "timeout", "203.0.113.11", "unknown", None),
        ("too many errors", "too_many_errors", "203.0.113.12", "unknown", None),
        ("milter-reject", "milter_reject", "198.51.100.9", "mail.example.net", None),
        ("max connection rate", "anvil", "203.0.113.5", None, None),
        ("submission/smtpd", "connect", "192.0.2.200", "client.example", 40000),
        ("smtps/smtpd", "lost_connection", "192.0.2.201", "unknown", None),
    ],
)
def test_client_events(needle: str, kind: str, ip: str, host: str | None, port: int | None) -> None:
    e = ev(needle)
    assert (e.kind, e.client_ip, e.client_hostname, e.client_port) == (kind, ip, host, port)


def test_the_client_is_never_an_address_from_elsewhere_in_the_text() -> None:
    reject = ev("Relay access denied")
    assert reject.client_ip == "203.0.113.9"  # not the HELO's 192.0.2.99 nor the recipient's 198.51.100.77
    assert (
        reject.fields["helo"] == "[192.0.2.99]" and reject.fields["code"] == "554" and reject.fields["dsn"] == "5.7.1"
    )
    for needle in ("status=sent", "status=deferred", "status=bounced", "DNSBL", "does not resolve"):
        e = ev(needle)
        assert e.client_ip != "192.0.2.55" and e.client_ip != "192.0.2.56"
    # smtpd names the client's own address there (the hostname is its PTR name that did not verify)
    unresolved = ev("does not resolve")
    assert unresolved.client_ip == "203.0.113.13" and unresolved.kind == "warning"
    assert unresolved.fields["hostname"] == "bad.example"
    assert ev("status=sent").client_ip is None  # the relay is not a client


def test_queue_events_and_delivery_fields() -> None:
    c = ev("client=mail.example.net")
    assert c.queue_id == "4A1B2C3D4E" and c.fields == {"sasl_method": "PLAIN", "sasl_username": "alice"}
    assert ev("message-id=").fields["message_id"] == "20261125.1@example.net"
    q = ev("nrcpt=2")
    assert q.kind == "qmgr" and q.fields["from"] == "alice@example.net" and q.fields["size"] == "1234"
    sent = ev("status=sent")
    assert sent.kind == "delivery" and sent.fields["status"] == "sent" and sent.fields["dsn"] == "2.0.0"
    assert sent.fields["relay"] == "mx.example.com[192.0.2.55]:25" and sent.fields["delay"] == "1.1"
    assert sent.fields["reason"] == "250 2.0.0 Ok: queued as 777"
    assert ev("status=deferred").fields["status"] == "deferred"
    assert ev("status=expired").kind == "delivery" and ev("status=expired").fields["status"] == "expired"
    assert ev(": removed").kind == "removed"
    b = ev("non-delivery notification")
    assert b.kind == "bounce" and b.fields["new_queue_id"] == "7D4E5F6A7B"


def test_prefixes_multi_instance_and_rfc3339() -> None:
    e = ev("postfix-out/smtp")
    assert e.program == "postfix-out/smtp" and e.service == "smtp" and e.pid == 300
    assert e.timestamp == "2026-11-25T19:40:07.123456+01:00" and e.host == "mb"
    assert e.kind == "delivery" and e.fields["status"] == "bounced" and e.queue_id == "8E5F6A7B8C"
    assert ev("submission/smtpd").program == "postfix/submission/smtpd"
    assert ev("smtps/smtpd").timestamp == "2026-11-25T19:40:07Z"
    assert ev("PASS OLD").timestamp == "2026-11-25T19:40:01"


def test_severities_other_and_nothing_dropped() -> None:
    assert ev("fatal: bind").kind == "fatal"
    assert ev("panic:").kind == "panic"
    assert ev("dovecot").kind == "other" and ev("dovecot").program == "dovecot"
    garbage = ev("not a syslog line")
    assert garbage.kind == "other" and garbage.program is None and garbage.message == "not a syslog line at all"
    events = [P.parse(line, i) for i, line in enumerate(LINES, 1)]
    assert [e.line_no for e in events] == list(range(1, len(LINES) + 1))
    assert {e.kind for e in events} >= {
        "connect",
        "disconnect",
        "lost_connection",
        "timeout",
        "too_many_errors",
        "reject",
        "sasl_fail",
        "postscreen",
        "anvil",
        "client",
        "cleanup",
        "qmgr",
        "removed",
        "delivery",
        "bounce",
        "milter_reject",
        "warning",
        "fatal",
        "panic",
        "other",
    }


def test_sasl_and_reject_details() -> None:
    s = ev("SASL LOGIN")
    assert s.fields == {"method": "LOGIN", "reason": "UGFzc3dvcmQ6", "sasl_username": "admin"}
    ps = ev("blocked using zen")
    assert ps.fields["to"] == "b@example.com" and "blocked using zen.spamhaus.org" in ps.fields["reason"]
    m = ev("milter-reject")
    assert m.fields["dsn"] == "5.7.1" and m.fields["reason"] == "Spam message rejected" and m.queue_id == "5B2C3D4E5F"


def test_year_less_timestamp_without_year() -> None:
    assert PostfixParser(None).parse(LINES[0], 1).timestamp is None


def test_smtpd_milter_reject_and_unknown_client() -> None:
    m = ev("Try again later")
    assert m.kind == "milter_reject" and m.client_ip == "203.0.113.14" and m.fields["code"] == "451"
    u = ev("connect from unknown[unknown]")
    assert u.kind == "connect" and u.client_ip is None and u.client_hostname == "unknown"
