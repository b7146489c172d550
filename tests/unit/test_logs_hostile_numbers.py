"""Issue 15: a numeric field of 5,000 digits (pid, client port, postscreen port, nginx byte count) —
any local user can write one with `logger` — reads as null; the line still yields its event, and no
command stops.  Through the real CLI and the parsers (pure code: no fakes involved)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from mbtop.logs import nginx
from mbtop.logs.postfix import PostfixParser

D = "9" * 5000
MAIL = [
    f"Nov 25 10:00:00 gw postfix/smtpd[{D}]: connect from unknown[203.0.113.1]",
    f"Nov 25 10:00:01 gw postfix/smtpd[7]: connect from unknown[203.0.113.2]:{D}",
    f"Nov 25 10:00:02 gw postfix/postscreen[8]: CONNECT from [203.0.113.3]:{D} to [192.0.2.1]:25",
    f"Nov 25 10:00:03 gw postfix/smtpd[{D}]: warning: Connection rate limit exceeded: {D} from x[203.0.113.4]"
    " for service smtp",
    f"2026-11-25T10:00:04Z gw postfix/smtpd[{D}]: disconnect from unknown[203.0.113.1] ehlo=1 commands=1",
]
WEB = [
    f'203.0.113.9 - - [25/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 {D} "-" "curl/8"',
    f"2026/11/25 10:00:01 [error] {D}#0: *{D} open() failed, client: 203.0.113.9, server: x",
]


def run(path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "mbtop", "logs", str(path), "--year", "2026", *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60)


def test_parsers_read_a_huge_number_as_null() -> None:
    p = PostfixParser(2026)
    events = [p.parse(line, i) for i, line in enumerate(MAIL, 1)]
    assert [e.kind for e in events] == ["connect", "connect", "postscreen", "rate_limit", "disconnect"]
    assert events[0].pid is None and events[0].client_ip == "203.0.113.1"
    assert events[1].client_port is None and events[1].pid == 7
    assert events[2].client_port is None and events[2].client_ip == "203.0.113.3"
    web = [nginx.parse(line, i) for i, line in enumerate(WEB, 1)]
    assert web[0].kind == "access" and web[0].bytes is None and web[0].status == 200
    assert web[1].kind == "error" and web[1].client_ip == "203.0.113.9"


def test_cli_events_and_summary_survive(tmp_path: Path) -> None:
    mail = tmp_path / "mail.log"
    mail.write_text("\n".join(MAIL) + "\n")
    web = tmp_path / "nginx-access.log"
    web.write_text("\n".join(WEB) + "\n")
    out = run(mail, "--format", "postfix", "--events", "--json")
    assert out.returncode == 0, out.stderr[-2000:]
    docs = [json.loads(x) for x in out.stdout.splitlines()]
    assert len(docs) == len(MAIL) and docs[0]["pid"] is None and docs[1]["client_port"] is None
    out = run(mail, "--format", "postfix", "--summary", "--json")
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout)["lines"] == len(MAIL)
    out = run(web, "--format", "nginx", "--events", "--json")
    assert out.returncode == 0, out.stderr[-2000:]
    assert [json.loads(x)["bytes"] for x in out.stdout.splitlines()] == [None, None]
    out = run(web, "--format", "nginx", "--summary", "--json")
    assert out.returncode == 0, out.stderr[-2000:]
    doc = json.loads(out.stdout)
    assert doc["requests"] == 1 and doc["bytes"] == 0 and doc["errors"] == 1
