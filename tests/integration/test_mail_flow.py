"""Real mail through the real stack (swaks → Postfix → Rspamd milter → local delivery) shows up as events."""

from __future__ import annotations

import json
import subprocess
import sys
import time

from tests.support import stack as st


def _events() -> list[dict]:
    out = subprocess.run(
        [sys.executable, "-m", "mbtop", "logs", "/var/log/mail.log", "--format", "postfix", "--events", "--json"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return [json.loads(x) for x in out.stdout.splitlines()]


def _swaks(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["swaks", "--server", "127.0.0.1", "--from", "sender@example.org", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_sent_and_rejected_mail_produce_the_expected_events() -> None:
    st.require_stack()
    before = len(_events())
    ok = _swaks("--to", "root@mailborder.test", "--header", "Subject: mbtop flow test")
    assert ok.returncode == 0, ok.stdout[-500:]
    bad = _swaks("--to", "nosuchuser@mailborder.test")
    assert "550 5.1.1" in bad.stdout
    deadline = time.monotonic() + 30
    while True:
        new = [e for e in _events() if e["line_no"] > before]
        delivered = [
            e
            for e in new
            if e["kind"] == "delivery"
            and e["fields"].get("status") == "sent"
            and e["fields"].get("to") == "root@mailborder.test"
        ]
        if delivered or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    kinds = [e["kind"] for e in new]
    assert kinds.count("connect") >= 2 and kinds.count("disconnect") >= 2
    assert all(e["client_ip"] == "127.0.0.1" for e in new if e["kind"] in ("connect", "disconnect", "reject"))
    (client,) = [e for e in new if e["kind"] == "client"]
    qid = client["queue_id"]
    trace = [e["kind"] for e in new if e["queue_id"] == qid]
    assert trace[:1] == ["client"] and {"cleanup", "qmgr", "delivery", "removed"} <= set(trace)
    assert delivered and delivered[0]["queue_id"] == qid and delivered[0]["fields"]["relay"] == "local"
    (reject,) = [e for e in new if e["kind"] == "reject"]
    assert reject["fields"]["code"] == "550" and reject["fields"]["to"] == "nosuchuser@mailborder.test"
    assert "User unknown in local recipient table" in reject["fields"]["reason"]
