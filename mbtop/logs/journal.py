"""Postfix from journald, when there is no /var/log/mail.log (systemd machines without rsyslog).

``journalctl --facility=mail -f -o json`` is read line by line; each entry of a
``postfix*`` identifier is turned back into the classic syslog line, so the
same parser and the same panes serve both sources.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import time
from collections.abc import AsyncIterator
from typing import Any

from mbtop import syscmd
from mbtop.logs.follow import MAX_LINE, Line
from mbtop.logs.syslog import journal_text

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
COMMAND = ("journalctl", "--facility=mail", "-o", "json", "--no-pager")


def entry_line(entry: dict[str, Any]) -> str | None:
    """The syslog line of a Postfix journal entry; None for other programs."""
    ident = journal_text(entry.get("SYSLOG_IDENTIFIER"))
    if not ident.startswith("postfix"):
        return None
    try:
        usec = int(journal_text(entry.get("__REALTIME_TIMESTAMP")) or 0)
    except ValueError:
        usec = 0
    t = time.localtime(usec / 1e6)
    stamp = f"{MONTHS[t.tm_mon - 1]} {t.tm_mday:2d} {t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}"
    host = journal_text(entry.get("_HOSTNAME")) or "-"
    pid = journal_text(entry.get("SYSLOG_PID") or entry.get("_PID"))
    message = journal_text(entry.get("MESSAGE")).replace("\n", " ")
    return f"{stamp} {host} {ident}{f'[{pid}]' if pid else ''}: {message}"[:MAX_LINE]


def has_postfix() -> bool:
    """journalctl exists and its mail facility holds Postfix entries."""
    if syscmd.which(COMMAND[0]) is None:
        return False
    try:
        out = syscmd.run([*COMMAND, "-n", "50", "-q"], timeout=10, text=True)
    except (OSError, subprocess.TimeoutExpired):
        return False
    for raw in out.stdout.splitlines():
        with contextlib.suppress(ValueError):
            if entry_line(json.loads(raw)) is not None:
                return True
    return False


async def follow_journal(backfill: int = 200) -> AsyncIterator[list[Line]]:
    """Yield batches of Postfix lines from journald, starting with the last ``backfill`` mail entries."""
    proc = await syscmd.start(
        (*COMMAND, "-f", "-n", str(backfill)),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        limit=MAX_LINE * 4,
    )
    assert proc.stdout is not None  # noqa: S101 - PIPE was asked for
    count = 0

    def convert(raw: bytes) -> None:
        nonlocal count
        try:
            line = entry_line(json.loads(raw))
        except ValueError:
            return
        if line is not None:
            count += 1
            batch.append(Line(line, count))

    try:
        while True:
            batch: list[Line] = []
            try:
                raw = await proc.stdout.readline()
            except ValueError:  # one entry over the limit: skip it, keep following
                continue
            if not raw:
                return
            convert(raw)
            # Whatever else arrives within 20 ms joins this batch: a burst becomes one update.
            while len(batch) < 5000:
                try:
                    raw = await asyncio.wait_for(proc.stdout.readline(), timeout=0.02)
                except (TimeoutError, ValueError):
                    break
                if not raw:
                    break
                convert(raw)
            if batch:
                yield batch
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
