"""The syslog prefix of a log line: timestamp, host, program, pid (RFC 3164 and RFC 3339 forms)."""

from __future__ import annotations

import re
from dataclasses import dataclass

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
    return Prefix(None, None, None, None, line)
