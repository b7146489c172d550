"""Lines as real gateways write them (tests/fixtures/logs/postfix-gateways.log, nginx-gateways.log),
each filled in from the format string in the writer's source, parsed to its fields, or deliberately
left "other" with nothing lost.  Pure code: the parsers, the bytes-level summary and `mbtop logs`.

Where the formats come from (Postfix 3.x, github.com/vdukhovni/postfix, postfix/src/...):
- envelopes: rsyslog's RSYSLOG_TraditionalFileFormat ("Nov  5 ..."), RSYSLOG_FileFormat (RFC 3339),
  RSYSLOG_SyslogProtocol23Format ("<PRI>1 TS HOST APP PROCID MSGID SD MSG", RFC 5424);
  util/msg_logger.c (postlogd/maillog_file: strftime "%b %d %H:%M:%S ", a zero-padded day);
  `journalctl -o short-iso` and `-o json` (one entry a line, MESSAGE maybe a byte array)
- util/msg_syslog.c: severities "warning", "error", "fatal", "panic"
- global/log_adhoc.c: "QID: to=<..>, relay=.., delay=.., delays=.., dsn=.., status=.. (..)", written
  by qmgr too (qmgr_defer.c: "delivery temporarily suspended", "mail transport unavailable")
- cleanup/cleanup_message.c cleanup_act_log: "QID: ACTION: header|body TEXT(%.200s) from ORIGIN;
  from=<..> to=<..> proto=.. helo=<..>: TEXT"
- cleanup/cleanup_milter.c and smtpd/smtpd.c check_milter_reply: "QID: milter-reject|milter-hold|
  milter-discard: STAGE from HOST[ADDR]: TEXT; from=<..> .."
- bounce/bounce_warn_service.c: "QID: sender|postmaster delay notification: NEWQID"
- smtp/smtp_connect.c: "connect to HOST[ADDR]:PORT: %m" (logged alone, "The reason already includes
  the IP address and TCP port"); tls/tls_client.c: "TRUST TLS connection established to
  HOST[ADDR]:PORT: PROTO with cipher C (N/M bits)"
- nginx src/http/modules/ngx_http_log_module.c (combined; ngx_http_log_escape writes \\xHH, upper
  case, for '"', '\\', controls and bytes >= 0x7f), src/http/ngx_http_request.c ("client %V closed
  keepalive connection", the error context ", client: .., server: .., request: ..").
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mbtop.logs import fastsum, nginx, syslog
from mbtop.logs.events import MailEvent
from mbtop.logs.postfix import PostfixParser
from mbtop.logs.summary import MailSummary

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "logs"
MAIL = FIX / "postfix-gateways.log"
WEB = FIX / "nginx-gateways.log"
MAIL_LINES = MAIL.read_text().splitlines()
WEB_LINES = WEB.read_text().splitlines()
P = PostfixParser(2026)


def ev(needle: str) -> MailEvent:
    (n, line) = next((i, x) for i, x in enumerate(MAIL_LINES, 1) if needle in x)
    return P.parse(line, n)


# --- envelopes ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("needle", "timestamp", "program", "pid", "ip"),
    [
        ("connect from mail.example.net[198.51.100.9]", "2026-11-05T09:42:11", "postfix/smtpd", 1201, "198.51.100.9"),
        ("postlogd.example", "2026-11-05T09:42:11", "postfix/smtpd", 1202, "198.51.100.10"),
        ("rfc3339.example", "2026-11-28T09:42:11.123456+00:00", "postfix/smtpd", 1203, "198.51.100.11"),
        ("short-iso.example", "2026-11-28T09:42:11+0000", "postfix/smtpd", 1204, "198.51.100.12"),
        ("rfc5424.example", "2026-11-28T09:42:11.123456+00:00", "postfix/smtpd", 1205, "198.51.100.13"),
        ("journal.example", "2026-11-28T09:42:11.123456+00:00", "postfix/smtpd", 1207, "198.51.100.15"),
        ("custom-name.example", "2026-11-28T09:42:13", "mx-in/smtpd", 1209, "198.51.100.16"),
    ],
)
def test_envelopes_of_a_connect_line(needle: str, timestamp: str, program: str, pid: int, ip: str) -> None:
    e = ev(needle)
    assert (e.kind, e.timestamp, e.host, e.program, e.pid, e.client_ip) == (
        "connect",
        timestamp,
        "gw",
        program,
        pid,
        ip,
    )


def test_rfc5424_structured_data_and_nil_values() -> None:
    s = ev("rfc5424@example.com")  # SD with an escaped '"' and ']' inside a value, then the message
    assert (s.kind, s.program, s.pid, s.client_ip, s.timestamp) == (
        "sasl_fail",
        "postfix/submission/smtpd",
        1206,
        "203.0.113.14",
        "2026-11-28T09:42:12.5Z",
    )
    assert s.fields == {"method": "LOGIN", "reason": "UGFzc3dvcmQ6", "sasl_username": "rfc5424@example.com"}
    bom = syslog.parse("<22>1 2026-11-28T09:42:11Z gw postfix/qmgr - - - \ufeff4A1B2C3D4E: removed", None)
    assert (bom.program, bom.pid, bom.message) == ("postfix/qmgr", None, "4A1B2C3D4E: removed")
    nil = P.parse("<22>1 - - - - - -", 7)
    assert (nil.kind, nil.timestamp, nil.host, nil.program) == ("other", None, None, None)


def test_journal_json_entries() -> None:
    binary = ev('"postfix/qmgr","_PID":"1208"')  # MESSAGE as journald's byte array
    assert (binary.kind, binary.queue_id, binary.pid, binary.timestamp) == (
        "removed",
        "4A1B2C3D4E",
        1208,
        "2026-11-28T09:42:12+00:00",
    )
    other = ev('"dovecot"')
    assert (other.kind, other.program, other.pid) == ("other", "dovecot", 77)
    assert other.message == "imap-login: Login: user=<alice>"
    deep = '{"MESSAGE":' + "[" * 60000  # nested past the JSON parser's depth: RecursionError, not ValueError
    for hostile in (deep, '{"MESSAGE": "x", "__REALTIME_TIMESTAMP": "999999999999999999"}', "{]", "{}"):
        e = P.parse(hostile, 1)  # no crash; a time past the year 9999 is no time
        assert e.kind == "other" and e.timestamp is None


def test_custom_syslog_name_needs_a_postfix_daemon_after_a_slash() -> None:
    assert P.parse("Nov 28 09:42:13 gw smtpd[7]: connect from a[192.0.2.1]", 1).kind == "other"  # OpenSMTPD
    assert P.parse("Nov 28 09:42:13 gw mx/notpostfix[7]: connect from a[192.0.2.1]", 1).kind == "other"
    out = P.parse("Nov 28 09:42:13 gw mx-out/smtp[7]: connect to mx.example.org[192.0.2.56]:25: Connection refused", 1)
    assert out.kind == "connect_error" and out.service == "smtp"


# --- Postfix ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("needle", "kind", "ip", "qid", "fields"),
    [
        ("(0 bytes)", "lost_connection", "203.0.113.20", None, {"after": "DATA"}),
        ("(8192 bytes)", "timeout", "203.0.113.21", None, {"after": "DATA"}),
        ("after UNKNOWN", "lost_connection", "203.0.113.22", None, {"after": "UNKNOWN"}),
        ("unknown=0/1", "disconnect", "203.0.113.22", None, {"unknown": "0/1", "commands": "0/1"}),
        ("auth=0/1", "disconnect", "203.0.113.23", None, {"auth": "0/1", "commands": "3/4"}),
        ("4.7.25", "reject", "203.0.113.24", None, {"stage": "RCPT", "code": "450", "helo": "x"}),
        ("Access denied; proto=SMTP", "reject", "203.0.113.25", None, {"stage": "CONNECT", "proto": "SMTP"}),
        ("Helo command rejected", "reject", "203.0.113.26", None, {"stage": "EHLO", "helo": "x"}),
        ("not logged in", "reject", "203.0.113.27", None, {"stage": "MAIL", "from": "a@example.org"}),
        (
            "query/ip",
            "reject",
            "203.0.113.28",
            None,
            {
                "dsn": "5.7.1",
                "reason": "Service unavailable; Client host [203.0.113.28] blocked using zen.spamhaus.org; "
                "https://www.spamhaus.org/query/ip/203.0.113.28",
                "to": "b@example.com",
            },
        ),
        # smtpd joins the words of "EHLO User; x": the HELO, last, may hold "; " (smtpd.c collapse_args)
        (
            "helo=<User; x>",
            "reject",
            "203.0.113.44",
            None,
            {
                "reason": "<x@example.com>: Relay access denied",
                "to": "x@example.com",
                "proto": "ESMTP",
                "helo": "User; x",
            },
        ),
        (
            "helo=<x; y>",
            "reject",
            "203.0.113.45",
            None,
            {"reason": "Service unavailable; client [203.0.113.45] blocked using zen.spamhaus.org", "helo": "x; y"},
        ),
        ("Multi-recipient", "reject", "203.0.113.29", "4dGz2w1r7Bz9vP5", {"stage": "DATA", "from": ""}),
        ("size exceeds", "reject", "203.0.113.30", None, {"stage": "END-OF-MESSAGE", "code": "552"}),
        ("reject: VRFY", "reject", "203.0.113.31", None, {"stage": "VRFY", "to": "x"}),
        ("NOQUEUE: discard", "other", "203.0.113.32", None, {"action": "discard", "stage": "RCPT"}),
        # smtpd_log_access_permit_actions (smtpd_check.c smtpd_acl_permit through log_whatsup)
        (
            "NOQUEUE: permit",
            "other",
            "127.0.0.1",
            None,
            {"action": "permit", "stage": "CONNECT", "reason": "action=permit_mynetworks for Client host=127.0.0.1"},
        ),
        ("Greylisting", "milter_reject", "203.0.113.33", None, {"code": "451", "dsn": "4.7.1"}),
        # smtpd.c check_milter_reply and cleanup_milter.c: hold and discard keep client and envelope
        ("smtpd[1212]: NOQUEUE: milter-discard", "other", "203.0.113.34", None, {"action": "milter-discard"}),
        ("smtpd[1212]: 6C1B2C3D4E: milter-hold", "other", "203.0.113.35", "6C1B2C3D4E", {"action": "milter-hold"}),
        ("cleanup[1213]: 7D1B2C3D4E: milter-discard", "other", "203.0.113.36", "7D1B2C3D4E", {"to": "c@example.com"}),
        ("cleanup[1213]: 7D1B2C3D4F: milter-hold", "other", "203.0.113.37", "7D1B2C3D4F", {"stage": "END-OF-MESSAGE"}),
        # cleanup_act_log: header/body checks name the client after the checked text
        (
            "Buy now",
            "reject",
            "203.0.113.38",
            "7D1B2C3D50",
            {
                "action": "reject",
                "class": "header",
                "content": "Subject: Buy now",
                "from": "a@example.org",
                "to": "c@example.com",
                "proto": "ESMTP",
                "helo": "x",
                "dsn": "5.7.1",
                "reason": "Spam subject",
            },
        ),
        ("spam.example", "reject", "198.51.100.9", "7D1B2C3D51", {"class": "body", "content": "http://spam.example/"}),
        ("X-Mailer: bulk", "warning", "203.0.113.39", "7D1B2C3D52", {"action": "warning", "text": "watch this"}),
        ("invoice", "other", "203.0.113.40", "7D1B2C3D53", {"action": "hold", "content": "Subject: invoice"}),
        ("from local;", "reject", None, "7D1B2C3D54", {"from": "root@gw.example", "reason": "no local tests"}),
        ("resent-message-id", "cleanup", None, "7D1B2C3D56", {"resent_message_id": "r1@example.org"}),
        # qmgr's own delivery records (qmgr_defer.c through log_adhoc.c)
        (
            "qmgr[1214]: 7D1B2C3D57",
            "delivery",
            None,
            "7D1B2C3D57",
            {"to": "c@example.org", "relay": "none", "dsn": "4.3.2", "status": "deferred"},
        ),
        ("mail transport unavailable", "delivery", None, "7D1B2C3D58", {"status": "deferred", "dsn": "4.3.0"}),
        (
            "postfix-out/smtp",
            "delivery",
            None,
            "5B1B2C3D4E",
            {"status": "sent", "relay": "mx.example.org[192.0.2.55]:25"},
        ),
        # the SMTP/LMTP client: the server is never a client
        (
            "smtp[1215]: connect to mx.example.org[192.0.2.56]:25",
            "connect_error",
            None,
            None,
            {"server": "mx.example.org[192.0.2.56]:25", "reason": "Connection refused"},
        ),
        ("Network is unreachable", "connect_error", None, None, {"server": "mx.example.org[2001:db8::56]:25"}),
        ("dovecot-lmtp", "connect_error", None, None, {"server": "mail.example.com[private/dovecot-lmtp]"}),
        (
            "Untrusted TLS connection established to",
            "tls_outbound",
            None,
            None,
            {
                "trust": "Untrusted",
                "tls_protocol": "TLSv1.3",
                "cipher": "TLS_AES_256_GCM_SHA384",
                "bits": "256/256",
                "server": "mx.example.org[192.0.2.55]:25",
            },
        ),
        (
            "Verified TLS connection established to",
            "tls_outbound",
            None,
            None,
            {"server": "mx.example.org[2001:db8::55]:25"},
        ),
        # bounce_warn_service.c, bounce_notify_service.c
        ("sender delay notification", "bounce", None, "8E1B2C3D4F", {"new_queue_id": "9F1B2C3D4E"}),
        ("postmaster delay notification", "bounce", None, "8E1B2C3D50", {"notice": "postmaster delay notification"}),
        ("postmaster non-delivery", "bounce", None, "8E1B2C3D51", {"new_queue_id": "9F1B2C3D50"}),
        ("error: open database", "error", None, None, {}),
        ("BARE NEWLINE", "postscreen", "203.0.113.42", None, {"action": "BARE NEWLINE", "after": "DATA"}),
        ("SSL_accept error", "tls_error", "203.0.113.43", None, {"error": "-1"}),
        ("orig_client=", "client", "127.0.0.1", "9F1B2C3D51", {"orig_client": "mail.example.net[198.51.100.9]"}),
    ],
)
def test_postfix_shapes(needle: str, kind: str, ip: str | None, qid: str | None, fields: dict[str, str]) -> None:
    e = ev(needle)
    assert (e.kind, e.client_ip, e.queue_id) == (kind, ip, qid)
    assert {k: e.fields.get(k) for k in fields} == fields


def test_a_second_origin_inside_the_checked_header_names_no_client() -> None:
    """cleanup writes the header text (%.200s) before " from ORIGIN;": a header holding its own
    " from HOST[IP];" could blame an innocent address, so neither is taken."""
    e = ev("innocent[192.0.2.66]")
    assert (e.kind, e.client_ip, e.fields.get("action")) == ("reject", None, "reject")
    far = "x" * 250 + " from decoy[192.0.2.67];"  # past 200 characters: the envelope, not the header
    head = "Nov 28 09:42:16 gw postfix/cleanup[1]: 7D1B2C3D55: reject: header Subject: y"
    line = f"{head} from a[203.0.113.9]; from=<{far}>"
    assert P.parse(line, 1).client_ip == "203.0.113.9"


def test_a_reject_of_many_semicolons_does_not_stall() -> None:
    """Each "; " starts what looks like an envelope and is read to the end of the line: only a few
    are tried (a line anyone can write with logger(1), not one Postfix writes)."""
    import time

    line = "Nov 28 09:42:22 gw postfix/smtpd[1]: NOQUEUE: reject: RCPT from a[203.0.113.9]: 554 5.7.1 no"
    line += "; from=<x" * 7000
    start = time.perf_counter()
    e = P.parse(line[:65536], 1)
    assert time.perf_counter() - start < 0.05
    assert (e.kind, e.client_ip, e.fields["code"]) == ("reject", "203.0.113.9", "554")


def test_the_relay_and_the_server_are_not_clients() -> None:
    for needle in ("qmgr[1214]", "connect to mx", "connect to mail", "established to", "host mx.example.org"):
        assert ev(needle).client_ip is None, needle


@pytest.mark.parametrize(
    ("needle", "program", "qid"),
    [
        ("said: 421", "postfix/smtp", "8E1B2C3D4E"),
        ("PIX workarounds", "postfix/smtp", "8E1B2C3D4E"),
        ("placed on hold", "postfix/postsuper", "8E1B2C3D52"),
        ("Deleted: 3 messages", "postfix/postsuper", None),
        ("domain lookup hits", "postfix/scache", None),
        ("full cleanup", "postfix/postscreen", None),
    ],
)
def test_lines_left_other_keep_everything(needle: str, program: str, qid: str | None) -> None:
    """Informational lines no pane counts: "other", with their envelope and text whole."""
    (n, line) = next((i, x) for i, x in enumerate(MAIL_LINES, 1) if needle in x)
    e = P.parse(line, n)
    assert (e.kind, e.program, e.queue_id, e.client_ip) == ("other", program, qid, None)
    assert line.endswith(e.message) and needle in e.message


def test_severities_and_daemon_lines() -> None:
    assert ev("do not list domain").kind == "warning"
    assert ev("dnsblog reply timeout").kind == "warning"
    assert ev("TLS library problem").kind == "warning"
    assert ev("exit status 1").kind == "warning"
    assert ev("reload -- version").kind == "daemon" and ev("terminating on signal").kind == "daemon"


def test_summary_counts_the_new_shapes() -> None:
    s = MailSummary()
    for i, line in enumerate(MAIL_LINES, 1):
        s.add(P.parse(line, i))
    doc = s.to_json()
    assert doc["deferred"] == 2 and doc["delivered"] == 1  # qmgr's two deferrals, the postfix-out delivery
    assert s.reject_reasons["Spam subject"] == 1 and s.reject_reasons["message content rejected"] == 1
    assert s.rejects_by_client["203.0.113.38"] == 1 and s.rejects_by_client["198.51.100.9"] == 1
    assert doc["events"]["connect_error"] == 3 and doc["events"]["tls_outbound"] == 2
    assert doc["events"]["error"] == 1 and doc["events"]["bounce"] == 3
    fast = fastsum.summarize(str(MAIL), "postfix", 2026, workers=1).to_json()
    assert fast == doc  # the bytes-level summary sends these lines the slow way: the same totals


def test_logs_json_contract_on_the_new_fixtures() -> None:
    """`mbtop logs --events --json`: one object per line, the public keys all there."""
    for path, fmt, keys in (
        (MAIL, "postfix", {"kind", "client_ip", "queue_id", "program", "pid", "fields", "message", "own"}),
        (WEB, "nginx", {"kind", "client_ip", "method", "path", "status", "bytes", "fields", "message", "own"}),
    ):
        argv = [sys.executable, "-m", "mbtop", "logs", str(path), "--format", fmt, "--events", "--json"]
        out = subprocess.run([*argv, "--year", "2026"], capture_output=True, text=True, timeout=60, check=True)
        docs = [json.loads(x) for x in out.stdout.splitlines()]
        assert [d["line_no"] for d in docs] == list(range(1, len(path.read_text().splitlines()) + 1))
        assert all(keys <= set(d) for d in docs)


# --- nginx -------------------------------------------------------------------------------------


def web(needle: str) -> nginx.WebEvent:
    (n, line) = next((i, x) for i, x in enumerate(WEB_LINES, 1) if needle in x)
    return nginx.parse(line, n)


def test_nginx_every_line_recognised() -> None:
    assert [i for i, line in enumerate(WEB_LINES, 1) if nginx.parse(line, i).kind == "other"] == []


@pytest.mark.parametrize(
    ("needle", "ip", "method", "path", "protocol", "status", "size"),
    [
        ("0.004 0.003 .", "203.0.113.90", "GET", "/mailborder/", "HTTP/1.1", 200, 612),  # $request_time appended
        ('urt="0.120"', "203.0.113.91", "GET", "/api/stats", "HTTP/1.1", 502, 157),  # upstream timings appended
        ("HTTP/2.0", "2001:db8::92", "GET", "/login.php", "HTTP/2.0", 200, 1024),
        ("HTTP/3.0", "2001:db8::93", "GET", "/login.php", "HTTP/3.0", 200, 1024),
        ("x5C", "203.0.113.99", "GET", "/\\xC3\\xA9t\\xC3\\xA9?q=\\x22x\\x5C", "HTTP/1.1", 404, 153),
        ("444", "203.0.113.97", "GET", "/wp-login.php", "HTTP/1.1", 444, 0),
        ("499", "203.0.113.98", "POST", "/api/quarantine", "HTTP/1.1", 499, 0),
        ("PRI *", "203.0.113.102", "PRI", "*", "HTTP/2.0", 400, 157),
        ("-0500", "203.0.113.103", "GET", "/", "HTTP/1.1", 301, 169),
        ("/rfc5424", "203.0.113.113", "GET", "/rfc5424", "HTTP/1.1", 200, 5),
    ],
)
def test_nginx_access_lines(
    needle: str, ip: str, method: str, path: str, protocol: str, status: int, size: int
) -> None:
    a = web(needle)
    assert (a.kind, a.client_ip, a.method, a.path, a.protocol, a.status, a.bytes) == (
        "access",
        ip,
        method,
        path,
        protocol,
        status,
        size,
    )


@pytest.mark.parametrize(
    ("needle", "status", "request_line"),
    [
        ("\\x16\\x03\\x01\\x00\\xF5\\x01", 400, "\\x16\\x03\\x01\\x00\\xF5\\x01\\x00\\x00\\xF1\\x03\\x03"),
        ('"-" 400', 400, "-"),
        ('"-" 408', 408, "-"),
        ("SSH-2.0-Go", 400, "SSH-2.0-Go"),
        ("/a b HTTP", 400, "GET /a b HTTP/1.1"),
    ],
)
def test_nginx_requests_that_are_not_http_keep_their_text(needle: str, status: int, request_line: str) -> None:
    a = web(needle)
    assert (a.kind, a.status, a.method, a.path, a.fields.get("request")) == ("access", status, None, None, request_line)


def test_nginx_escapes_stay_literal() -> None:
    a = web("x5C")
    assert a.user_agent == "curl/8.4.0 \\xE2\\x80\\xAE"  # nginx's \xHH text, never decoded into a bidi override


@pytest.mark.parametrize(
    ("needle", "ip", "level", "fields"),
    [
        ("*567 client 203.0.113.104 closed keepalive", "203.0.113.104", "info", {"connection": "567"}),
        ("(104: Connection reset by peer)", "2001:db8::105", "info", {"connection": "568"}),
        ("invalid method", "203.0.113.106", "info", {"request": "\\x16\\x03\\x01\\x00\\xF5", "server": "_"}),
        ("bad key share", "203.0.113.107", "crit", {"server": "0.0.0.0:443"}),
        ("waiting for request", "2001:db8::108", "info", {"server": "[::]:443"}),
        ("upstream timed out", "203.0.113.109", "error", {"upstream": "http://127.0.0.1:8080/api/stats"}),
        ("php8.2-fpm.sock failed", "203.0.113.110", "error", {"socket": "/run/php/php8.2-fpm.sock"}),
        ("password mismatch", "203.0.113.111", "error", {"host": "mail.example.com"}),
        ("Address already in use", None, "emerg", {}),
        ("worker_connections", None, "alert", {}),
        ('"SYSLOG_IDENTIFIER":"nginx"', "203.0.113.112", "error", {"request": "GET /favicon.ico HTTP/1.1"}),
    ],
)
def test_nginx_error_lines(needle: str, ip: str | None, level: str, fields: dict[str, str]) -> None:
    e = web(needle)
    assert (e.kind, e.client_ip, e.fields.get("level")) == ("error", ip, level)
    assert {k: e.fields.get(k) for k in fields} == fields


def test_nginx_keepalive_client_only_where_nginx_writes_it() -> None:
    line = '2026/11/28 09:42:15 [error] 1#1: *1 open() "/x client 6.6.6.6 closed keepalive connection" failed'
    assert nginx.parse(line, 1).client_ip is None


# --- no envelope breaks the prefix parser --------------------------------------------------------

ENVELOPES = st.sampled_from(["<22>1 ", "<190>", "1 ", "{", '{"MESSAGE":', "[", '"', "\\", "\ufeff", "]", "-", " "])
PIECES = st.one_of(ENVELOPES, st.text(max_size=12), st.just("2026-11-28T09:42:11Z"), st.just('[a b="c\\"]"]'))


@settings(max_examples=300, deadline=None)
@given(st.lists(PIECES, max_size=14).map("".join))
def test_no_envelope_breaks_the_prefix_parser(line: str) -> None:
    p = syslog.parse(line, 2026)
    assert isinstance(p.message, str) and (p.pid is None or isinstance(p.pid, int))
    for e in (P.parse(line, 1), nginx.parse(line, 1)):
        json.dumps(e.to_json())
