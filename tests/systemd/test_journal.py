"""The journald follower on the real journal: Postfix logs through syslog to journald (no
/var/log/mail.log, no rsyslog, as on a stock systemd gateway), mbtop finds its entries, follows
them live, and keeps following across `journalctl --rotate` and a vacuum of the archived files."""

from __future__ import annotations

import json
import queue
import sys
import threading
import time
import uuid
from typing import IO

from tests.systemd.conftest import Gateway

FOLLOWER = """
import asyncio, json, os, signal, sys
from mbtop.logs import journal
from mbtop.logs.postfix import PostfixParser

signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
print(json.dumps({"pid": os.getpid(), "mail_log": os.path.exists("/var/log/mail.log"),
                  "has_postfix": journal.has_postfix()}), flush=True)
parser = PostfixParser()

async def main():
    async for batch in journal.follow_journal(backfill=0):
        for line in batch:
            ev = parser.parse(line.text, line.line_no)
            print(json.dumps({"text": line.text, "kind": ev.kind, "program": ev.program,
                              "queue_id": ev.queue_id}), flush=True)

asyncio.run(main())
"""

# Sent inside the gateway, to its own Postfix on its own 127.0.0.1.
SEND = """
import smtplib, sys
with smtplib.SMTP("127.0.0.1", 25, timeout=20) as s:
    s.sendmail(sys.argv[1], ["root@mailborder.test"], "Subject: mbtop journal test\\r\\n\\r\\nhello\\r\\n")
"""


def _reader(stream: IO[str], out: queue.Queue[str]) -> None:
    for line in stream:
        out.put(line)


def _wait_for(lines: queue.Queue[str], needle: str, seconds: float = 30) -> list[dict]:
    seen: list[dict] = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            raw = lines.get(timeout=max(0.1, end - time.monotonic()))
        except queue.Empty:
            break
        seen.append(json.loads(raw))
        if needle in seen[-1]["text"]:
            return seen
    raise AssertionError(f"{needle!r} not followed from the journal within {seconds} s; saw {seen[-10:]}")


def test_journald_follower_reads_postfix_across_rotation_and_vacuum(gateway: Gateway) -> None:
    follower = gateway.popen(sys.executable, "-c", FOLLOWER)
    assert follower.stdout is not None
    lines: queue.Queue[str] = queue.Queue()
    first = json.loads(follower.stdout.readline() or "{}")
    try:
        assert first.get("mail_log") is False and first.get("has_postfix") is True, (first, follower.stderr)
        threading.Thread(target=_reader, args=(follower.stdout, lines), daemon=True).start()

        sender = f"before-{uuid.uuid4().hex[:8]}@mailborder.test"
        gateway.run(sys.executable, "-c", SEND, sender)
        seen = _wait_for(lines, f"from=<{sender}>")
        qmgr = [e for e in seen if f"from=<{sender}>" in e["text"]][-1]
        # The journal entry came back as the syslog line the mail.log parser reads.
        assert (qmgr["kind"], qmgr["program"]) == ("qmgr", "postfix/qmgr") and qmgr["queue_id"], qmgr

        # A new journal file, then every archived one deleted: the follower must carry on.
        gateway.run("journalctl", "--rotate")
        gateway.run("journalctl", "--vacuum-files=1")
        gateway.run("journalctl", "--rotate")
        gateway.run("journalctl", "--vacuum-size=1")
        sender = f"after-{uuid.uuid4().hex[:8]}@mailborder.test"
        gateway.run(sys.executable, "-c", SEND, sender)
        _wait_for(lines, f"from=<{sender}>")
        assert follower.poll() is None
    finally:
        if "pid" in first:  # its pid inside the gateway: nsenter's child, not nsenter
            gateway.run("kill", str(first["pid"]), check=False)
        follower.wait(timeout=10)
