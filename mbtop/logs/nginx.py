"""nginx access (combined and "main") and error log lines -> WebEvent."""

from __future__ import annotations

import re
from types import MappingProxyType

from mbtop.logs.events import EMPTY, WebEvent
from mbtop.logs.postfix import normalise_ip
from mbtop.logs.syslog import MONTHS

_Q = r'"(?P<{}>(?:[^"\\]|\\.)*)"'  # nginx escapes '"' in variables as \x22, so quoted fields hold none
_ACCESS = re.compile(
    r"(?P<ip>\S+) \S+ (?P<user>\S+) \[(?P<time>[^\]]+)\] "
    + _Q.format("request")
    + r" (?P<status>\d{3}) (?P<bytes>\d+|-)"
    + r"(?: "
    + _Q.format("ref")
    + " "
    + _Q.format("ua")
    + r"(?: "
    + _Q.format("xff")
    + r")?)?"
)
_TIME = re.compile(
    r"(?P<d>\d\d)/(?P<mon>[A-Z][a-z]{2})/(?P<y>\d{4}):(?P<t>\d\d:\d\d:\d\d) (?P<sign>[+-])(?P<hh>\d\d)(?P<mm>\d\d)"
)
_ERROR = re.compile(
    r"(?P<date>\d{4}/\d\d/\d\d) (?P<time>\d\d:\d\d:\d\d) \[(?P<level>[a-z]+)\] (?P<pid>\d+)#\d+: "
    r"(?:\*(?P<cid>\d+) )?(?P<msg>.*)",
    re.S,
)
# nginx appends the request context at the end of an error line, in this order.
_CONTEXT = re.compile(
    r", client: (?P<client>[^,\s]+), server: (?P<server>[^,]*)"
    r"(?:, request: \"(?P<request>(?:[^\"\\]|\\.)*)\")?"
    r"(?:, subrequest: \"(?:[^\"\\]|\\.)*\")?"
    r"(?:, upstream: \"(?P<upstream>(?:[^\"\\]|\\.)*)\")?"
    r"(?:, host: \"(?P<host>(?:[^\"\\]|\\.)*)\")?"
    r"(?:, referrer: \"(?:[^\"\\]|\\.)*\")?\s*$"
)
_UNIX = re.compile(r"unix:(/[^\s:\"]+)")


def _iso(text: str) -> str | None:
    m = _TIME.fullmatch(text)
    if not m or m["mon"] not in MONTHS:
        return None
    return f"{m['y']}-{MONTHS[m['mon']]:02d}-{m['d']}T{m['t']}{m['sign']}{m['hh']}:{m['mm']}"


def _request(text: str) -> tuple[str | None, str | None, str | None]:
    parts = text.split(" ")
    if len(parts) == 3 and parts[0].isalpha() and parts[0].isupper() and parts[2].startswith("HTTP/"):
        return parts[0], parts[1], parts[2]
    if len(parts) == 2 and parts[0].isalpha() and parts[0].isupper():  # HTTP/0.9
        return parts[0], parts[1], None
    return None, None, None


def _dash(v: str | None) -> str | None:
    return None if v in (None, "-") else v


def parse(line: str, line_no: int) -> WebEvent:
    m = _ACCESS.match(line)
    if m:
        method, path, proto = _request(m["request"])
        size = m["bytes"]
        return WebEvent(
            line_no=line_no,
            kind="access",
            timestamp=_iso(m["time"]),
            client_ip=normalise_ip(m["ip"]),
            method=method,
            path=path,
            protocol=proto,
            status=int(m["status"]),
            bytes=int(size) if size.isdigit() else None,
            referer=_dash(m["ref"]),
            user_agent=_dash(m["ua"]),
            message=line,
            fields=MappingProxyType({"request": m["request"]}) if method is None else EMPTY,
        )
    m = _ERROR.match(line)
    if m:
        msg = m["msg"]
        fields = {"level": m["level"], "pid": m["pid"]}
        client = None
        method = path = proto = None
        ctx = _CONTEXT.search(msg)
        if ctx:
            client = normalise_ip(ctx["client"])
            fields["server"] = ctx["server"]
            for key in ("upstream", "host"):
                if ctx[key]:
                    fields[key] = ctx[key]
            if ctx["request"]:
                fields["request"] = ctx["request"]
                method, path, proto = _request(ctx["request"])
            msg = msg[: ctx.start()]
        sock = _UNIX.search(msg)
        if sock:
            fields["socket"] = sock.group(1)
        date = m["date"].replace("/", "-")
        return WebEvent(
            line_no,
            "error",
            f"{date}T{m['time']}",
            client,
            method,
            path,
            proto,
            None,
            None,
            None,
            None,
            msg,
            MappingProxyType(fields),
        )
    return WebEvent(line_no, "other", None, None, None, None, None, None, None, None, None, line)
