"""The syslog prefix of a log line: timestamp, host, program, pid.

The forms real gateways write: RFC 3164 ("Nov 25 19:40:02 host prog[123]: msg", rsyslog's traditional
format and Postfix's own postlogd), RFC 3339 timestamps (rsyslog's high-precision default,
``journalctl -o short-iso``), RFC 5424 (rsyslog's ``RSYSLOG_SyslogProtocol23Format``, syslog-ng) and
``journalctl -o json`` entries, one JSON object a line.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from mbtop.logs.events import number

MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
MONTHS = {m: i for i, m in enumerate(MONTH_NAMES, 1)}

# The program may carry a master.cf service named by address and port ("postfix/127.0.0.1:10025/smtpd"):
# a ":" inside it is followed by more of the name, the one that ends it by a space.
_PROG = r"(?P<prog>[^\s\[\]:]+(?::[^\s\[\]:]+)*)"
# "Nov 25 19:40:02 host prog[123]: msg"   (RFC 3164, as Postfix's postlogd and rsyslog write it)
_BSD = re.compile(
    r"(?:<\d{1,3}>)?(?P<mon>[A-Z][a-z]{2}) {1,2}(?P<day>\d{1,2}) (?P<time>\d\d:\d\d:\d\d)(?:\.\d+)? "
    r"(?P<host>\S+) " + _PROG + r"(?:\[(?P<pid>\d+)\])?: (?P<msg>.*)",
    re.S,
)
# "2026-11-25T19:40:02.123456+00:00 host prog[123]: msg"   (RFC 3339, rsyslog's high-precision format)
_ISO = re.compile(
    r"(?:<\d{1,3}>)?(?P<ts>\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?) "
    r"(?P<host>\S+) " + _PROG + r"(?:\[(?P<pid>\d+)\])?: (?P<msg>.*)",
    re.S,
)
# "<22>1 2026-11-25T19:40:02.123456+00:00 host postfix/smtpd 123 - - msg"   (RFC 5424: VERSION, then
# TIMESTAMP HOSTNAME APP-NAME PROCID MSGID, each "-" when absent, then STRUCTURED-DATA: "-" or
# "[id k="v" ...]" elements, whose values escape '"', '\' and ']' with a backslash; the message may
# start with a UTF-8 byte-order mark)
_SD_ELEMENT = r'\[[^\]"]*(?:"(?:[^"\\]|\\.)*"[^\]"]*)*\]'
_RFC5424 = re.compile(
    r"(?:<\d{1,3}>)?1 (?P<ts>-|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)) "
    r"(?P<host>\S+) (?P<prog>\S+) (?P<pid>\S+) \S+ (?:-|(?:" + _SD_ELEMENT + r")+)(?: \ufeff?(?P<msg>.*))?$",
    re.S,
)


@dataclass(frozen=True, slots=True)
class Prefix:
    timestamp: str | None  # ISO-8601
    host: str | None
    program: str | None
    pid: int | None
    message: str


def parse(line: str, year: int | None) -> Prefix:
    """Split a syslog line; a line without a recognisable prefix keeps all its text as the message."""
    m = _BSD.match(line)
    if m:
        ts = None
        if year is not None:
            ts = f"{year:04d}-{MONTHS[m['mon']]:02d}-{int(m['day']):02d}T{m['time']}" if m["mon"] in MONTHS else None
        return Prefix(ts, m["host"], m["prog"], number(m["pid"]), m["msg"])
    m = _ISO.match(line)
    if m:
        return Prefix(m["ts"].replace(" ", "T", 1), m["host"], m["prog"], number(m["pid"]), m["msg"])
    head = line[:1]
    if head == "<" or head == "1":
        m = _RFC5424.match(line)
        if m:
            return Prefix(_nil(m["ts"]), _nil(m["host"]), _nil(m["prog"]), number(m["pid"]), m["msg"] or "")
    elif head == "{":
        p = journal_entry(line)
        if p is not None:
            return p
    return Prefix(None, None, None, None, line)


def _nil(value: str) -> str | None:
    return None if value == "-" else value


def journal_text(value: Any) -> str:
    """A journal field as text: a string, or a byte array (journald's binary-safe form)."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(b, int) for b in value):
        return bytes(b & 0xFF for b in value).decode("utf-8", "replace")
    return "" if value is None else str(value)


def journal_entry(line: str) -> Prefix | None:
    """A ``journalctl -o json`` line: the entry's syslog fields, its time in UTC to the microsecond;
    None when the line is not a journal entry with a message."""
    try:
        entry = json.loads(line)
    except (ValueError, RecursionError):  # not JSON, or nested past the parser's depth (hostile)
        return None
    if not isinstance(entry, dict) or "MESSAGE" not in entry:
        return None
    ts = None
    usec = number(journal_text(entry.get("__REALTIME_TIMESTAMP")))
    if usec is not None:
        sec, frac = divmod(usec, 1_000_000)
        try:
            ts = datetime.fromtimestamp(sec, UTC).replace(microsecond=frac).isoformat()
        except (OverflowError, OSError, ValueError):
            ts = None
    program = journal_text(entry.get("SYSLOG_IDENTIFIER")) or journal_text(entry.get("_COMM")) or None
    pid = number(journal_text(entry.get("SYSLOG_PID"))) or number(journal_text(entry.get("_PID")))
    host = journal_text(entry.get("_HOSTNAME")) or None
    return Prefix(ts, host, program, pid, journal_text(entry["MESSAGE"]).replace("\n", " "))
