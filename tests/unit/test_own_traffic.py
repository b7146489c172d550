"""mbtop's own health checks in the logs: recognised, never counted as traffic, still shown as own.
Pure code on fixture lines (tests/fixtures/logs/postfix-own.log, nginx-realworld.log) and through the
real CLI; the live mode's probe record is a real OwnConnections."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from mbtop.logs.own import HOLD, OwnSessions, check_session
from mbtop.logs.postfix import PostfixParser
from mbtop.logs.summary import MailSummary
from mbtop.probes.own import OwnConnections

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "logs"
LINES = (FIX / "postfix-own.log").read_text().splitlines()
P = PostfixParser(2026)
EVENTS = [P.parse(line, i) for i, line in enumerate(LINES, 1)]
OWN_LINES = [1, 3, 4, 5, 6]  # two check sessions: plain on submission, STARTTLS on 25


def test_a_file_marks_exactly_the_check_sessions() -> None:
    o = OwnSessions()
    out = [*o.feed(EVENTS), *o.flush()]
    assert [e.line_no for e in out] == list(range(1, len(LINES) + 1))  # order kept
    assert [e.line_no for e in out if e.own] == OWN_LINES
    # a local client that sends mail, a remote one that only greets, are traffic
    assert not check_session(EVENTS[8]) and not check_session(EVENTS[10]) and not check_session(EVENTS[11])


def test_live_marks_connects_the_probe_opened() -> None:
    opened = OwnConnections(ttl=30.0)
    o = OwnSessions(claims=opened.current)
    opened.add("127.0.0.1", 40000)
    opened.add("127.0.0.1", 40001)
    marked = o.mark(EVENTS)
    assert [e.line_no for e in marked if e.own] == OWN_LINES
    # a third local session finds no claim left: it is traffic, not hidden
    again = o.mark([P.parse(LINES[6], 20)])
    assert not again[0].own


STRANGER = [
    "Nov 28 04:56:43 gw postfix/smtpd[13233]: connect from unknown[127.0.0.1]",
    "Nov 28 04:56:43 gw postfix/smtpd[13233]: NOQUEUE: reject: RCPT from unknown[127.0.0.1]: 550 5.1.1 "
    "<nobody@mailborder.test>: Recipient address rejected; from=<a@example.org> to=<nobody@mailborder.test> "
    "proto=ESMTP helo=<x>",
    "Nov 28 04:56:43 gw postfix/smtpd[13233]: disconnect from unknown[127.0.0.1] ehlo=1 mail=1 rcpt=0/1 quit=1 "
    "commands=3/4",
]


def test_live_a_stranger_on_a_checks_address_is_never_hidden() -> None:
    """Claims left over from a round whose connect lines were read first (smtpd logs before the
    client's connect returns) must not hide the next session from that address: a session is
    mbtop's only when its disconnect shows exactly a check's dialogue."""
    opened = OwnConnections(ttl=30.0)
    o = OwnSessions(claims=opened.current)
    opened.add("127.0.0.1", -1)
    opened.add("127.0.0.1", -2)  # two stale claims, nothing of them in the log
    events = [P.parse(line, i) for i, line in enumerate(STRANGER, 100)]
    out = o.mark(events[:2], now=10.0)
    assert out == []  # held for its disconnect: it took a claim from the checks' address
    out = o.mark(events[2:], now=10.5)
    assert [e.line_no for e in out] == [100, 101, 102] and not any(e.own for e in out)
    assert out[1].kind == "reject"


def test_live_a_held_session_goes_out_as_traffic_after_the_hold() -> None:
    opened = OwnConnections(ttl=30.0)
    o = OwnSessions(claims=opened.current)
    opened.add("127.0.0.1", -1)
    first = P.parse(STRANGER[0], 1)
    assert o.mark([first], now=0.0) == []
    later = P.parse("Nov 28 04:56:50 gw postfix/qmgr[9]: 4ABC123: removed", 2)
    out = o.mark([later], now=HOLD + 0.1)
    assert [(e.line_no, e.own) for e in out] == [(2, False), (1, False)]


def test_summary_leaves_own_sessions_out() -> None:
    s = MailSummary()
    for e in EVENTS:
        s.add(e)
    doc = s.to_json()
    assert doc["own_traffic"] == {"sessions": 2, "lines": 5}
    clients = {c["address"]: c["count"] for c in doc["top_clients_by_connections"]}
    assert clients == {"127.0.0.1": 1, "198.51.100.9": 1, "203.0.113.90": 1}
    assert doc["events"]["connect"] == 3 and doc["events"]["disconnect"] == 3
    assert "tls" not in doc["events"] and doc["tls_sessions"] == {}


def test_cli_events_say_own_and_summary_leaves_it_out() -> None:
    run = [sys.executable, "-m", "mbtop", "logs", str(FIX / "postfix-own.log"), "--format", "postfix", "--year", "2026"]
    out = subprocess.run([*run, "--events", "--json"], capture_output=True, text=True, timeout=60)
    docs = [json.loads(x) for x in out.stdout.splitlines()]
    assert [d["line_no"] for d in docs if d["own"]] == OWN_LINES
    out = subprocess.run([*run, "--summary", "--json"], capture_output=True, text=True, timeout=60)
    assert json.loads(out.stdout)["own_traffic"]["sessions"] == 2
    web = [sys.executable, "-m", "mbtop", "logs", str(FIX / "nginx-realworld.log"), "--format", "nginx"]
    doc = json.loads(subprocess.run([*web, "--summary", "--json"], capture_output=True, text=True).stdout)
    assert doc["own_requests"] == 1 and "127.0.0.1" not in {c["address"] for c in doc["top_clients"]}


def test_logs_pane_shows_own_lines_only_under_their_filter() -> None:
    from mbtop.ui.widgets.logspane import OWN, mail_rows

    o = OwnSessions()
    marked = [*o.feed(EVENTS), *o.flush()]
    default = mail_rows(marked, None)
    assert sorted(int(k[1:]) for k in default) == [n for n in range(1, len(LINES) + 1) if n not in OWN_LINES]
    own = mail_rows(marked, OWN)
    assert sorted(int(k[1:]) for k in own) == OWN_LINES
    assert all(row["kind"][0].endswith("(mbtop)") for row in own.values())
