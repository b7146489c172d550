"""Postfix from journald. There is no systemd journal on these machines: the tests put a stand-in
`journalctl` first on PATH that prints entries in journalctl's JSON format (a fake, by necessity)."""

from __future__ import annotations

import asyncio
import json
import os
import stat
from pathlib import Path

import pytest

from mbtop import syscmd
from mbtop.logs import journal
from mbtop.logs.postfix import PostfixParser

ENTRIES = [
    {
        "SYSLOG_IDENTIFIER": "postfix/smtpd",
        "SYSLOG_PID": "812",
        "_HOSTNAME": "gw1",
        "__REALTIME_TIMESTAMP": "1764099602000000",
        "MESSAGE": "connect from mail.example.net[198.51.100.9]",
    },
    {"SYSLOG_IDENTIFIER": "dovecot", "_PID": "9", "MESSAGE": "imap-login: not postfix"},
    {
        "SYSLOG_IDENTIFIER": "postfix/qmgr",
        "_PID": "77",
        "__REALTIME_TIMESTAMP": "1764099603000000",
        "MESSAGE": [52, 65, 49, 66, 50, 67, 51, 68, 52, 69, 58, 32, 114, 101, 109, 111, 118, 101, 100],
    },
]


def test_entries_become_syslog_lines_the_parser_understands() -> None:
    line = journal.entry_line(ENTRIES[0])
    assert line is not None and line.endswith("gw1 postfix/smtpd[812]: connect from mail.example.net[198.51.100.9]")
    ev = PostfixParser(2025).parse(line, 1)
    assert ev.kind == "connect" and ev.client_ip == "198.51.100.9" and ev.pid == 812
    assert journal.entry_line(ENTRIES[1]) is None
    binary = journal.entry_line(ENTRIES[2])
    assert binary is not None and binary.endswith("postfix/qmgr[77]: 4A1B2C3D4E: removed")
    assert PostfixParser(2025).parse(binary, 2).kind == "removed"


@pytest.fixture
def fake_journalctl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    data = tmp_path / "entries.json"
    data.write_text("\n".join(json.dumps(e) for e in ENTRIES) + "\nnot json\n")
    script = tmp_path / "journalctl"
    script.write_text(f"#!/bin/sh\ncat {data}\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    # mbtop looks commands up in the system PATH only (mbtop.syscmd): the fake stands in for /usr/bin.
    monkeypatch.setattr(syscmd, "SYSTEM_PATH", f"{tmp_path}{os.pathsep}{syscmd.SYSTEM_PATH}")
    return script


def test_detection_and_following_through_journalctl(fake_journalctl: Path) -> None:
    assert journal.has_postfix()

    async def collect() -> list[str]:
        out: list[str] = []
        async for batch in journal.follow_journal():
            out += [x.text for x in batch]
        return out

    lines = asyncio.run(collect())
    assert len(lines) == 2 and "connect from" in lines[0] and lines[1].endswith("removed")


def test_no_journalctl_means_no_journal(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(syscmd, "SYSTEM_PATH", str(tmp_path))
    assert journal.has_postfix() is False
