"""nginx access (combined, "main", vhost_combined) and error log lines -> WebEvent.

Access lines may start with the virtual host (``$host $remote_addr …`` or ``$host:$server_port
$remote_addr …``) and may lack the remote-user field; error lines may sit inside a syslog or
journald prefix (``error_log syslog:``).  The request context nginx appends to an error line is read
from the end, as nginx writes it last: a ``client:`` injected earlier through a URI is text.
"""

from __future__ import annotations

import dataclasses
import re
from types import MappingProxyType

from mbtop.logs import syslog
from mbtop.logs.events import EMPTY, WebEvent, number
from mbtop.logs.own import own_web
from mbtop.logs.pfbase import normalise_ip
from mbtop.logs.syslog import MONTHS

_Q = r'"(?P<{}>(?:[^"\\]|\\.)*)"'  # nginx escapes '"' in variables as \x22, so quoted fields hold none
_ACCESS = re.compile(
    r"(?P<head>\S+(?: \S+){1,3}) \[(?P<time>[^\]]+)\] "
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
_UNIX = re.compile(r"unix:(/[^\s:\"]+)")
# limit_req / limit_conn: "limiting requests, excess: 5.120 by zone "one"", "limiting connections by zone "addr""
_LIMIT = re.compile(
    r"(?P<what>limiting requests|delaying request|limiting connections)"
    r"(?:, excess: (?P<excess>[0-9.]+),?)? by zone \"(?P<zone>[^\"]*)\""
)
# nginx mail proxy: "client 203.0.113.5:51234 connected to 0.0.0.0:25"
_MAIL_CONNECT = re.compile(r"client (?P<ip>\S+?):(?P<port>\d+) connected to (?P<server>\S+)")
# keep-alive's end, written without the request context: "client 203.0.113.5 closed keepalive connection"
# (ngx_http_request.c; "kevent() reported that client ..." on the BSDs)
_KEEPALIVE = re.compile(r"(?:kevent\(\) reported that )?client (?P<ip>\S+) closed keepalive connection")
_QUOTED_TAIL = ("referrer", "host", "upstream", "subrequest", "request")  # nginx's order, read backwards


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


def _head(head: str) -> tuple[str, dict[str, str]]:
    """The client and the virtual host from the fields before "[time]" (2 to 4 of them)."""
    tokens = head.split(" ")
    if len(tokens) >= 2 and normalise_ip(tokens[0]) is None and normalise_ip(tokens[1]) is not None:
        vhost, _, port = tokens[0].rpartition(":") if tokens[0].count(":") == 1 else (tokens[0], "", "")
        fields = {"vhost": vhost or tokens[0]}
        if port.isdigit():
            fields["server_port"] = port
        return tokens[1], fields
    return tokens[0], {}


def parse(line: str, line_no: int) -> WebEvent:
    m = _ACCESS.match(line)
    if m:
        return _access(m, line, line_no)
    m = _ERROR.match(line)
    if m:
        return _error(m, line_no)
    head = line[:1]
    if head == "<" or head == "{" or head.isalpha() or line[:4].isdigit():  # nginx through syslog / journald
        p = syslog.parse(line, None)
        if p.program and p.program.startswith("nginx"):
            m = _ACCESS.match(p.message)
            if m:
                return _access(m, p.message, line_no)
            m = _ERROR.match(p.message)
            if m:
                return _error(m, line_no)
    return WebEvent(line_no, "other", None, None, None, None, None, None, None, None, None, line)


def _access(m: re.Match[str], line: str, line_no: int) -> WebEvent:
    method, path, proto = _request(m["request"])
    ip, fields = _head(m["head"])
    if method is None:
        fields["request"] = m["request"]
    ev = WebEvent(
        line_no=line_no,
        kind="access",
        timestamp=_iso(m["time"]),
        client_ip=normalise_ip(ip),
        method=method,
        path=path,
        protocol=proto,
        status=int(m["status"]),
        bytes=number(m["bytes"]),
        referer=_dash(m["ref"]),
        user_agent=_dash(m["ua"]),
        message=line,
        fields=MappingProxyType(fields) if fields else EMPTY,
    )
    if ev.user_agent is not None and own_web(ev):
        return dataclasses.replace(ev, own=True)
    return ev


def context(msg: str) -> tuple[str, dict[str, str]]:
    """Split nginx's request context off the end of an error message: (message, fields).

    HTTP: ", client: C, server: S, request: "R", subrequest: "…", upstream: "U", host: "H", referrer: "F"";
    mail: ", client: C[ using starttls], server: S, login: "L", upstream: U".  Each field is found by
    its last marker, from the end, so text injected before the context (a URI in the message) is not
    read as it; the client is the last ", client: " before the server.
    """
    fields: dict[str, str] = {}
    rest = msg.rstrip()
    if rest.endswith(('"', "]")) or ", upstream: " in rest[-80:]:
        for key in _QUOTED_TAIL:
            marker = f', {key}: "'
            if rest.endswith('"'):
                i = rest.rfind(marker)
                if i >= 0:
                    fields[key] = rest[i + len(marker) : -1]
                    rest = rest[:i]
    i = rest.rfind(", upstream: ")  # mail: unquoted, last
    if i >= 0 and '"' not in rest[i:] and " " not in rest[i + 12 :]:
        fields["upstream"] = rest[i + 12 :]
        rest = rest[:i]
    i = rest.rfind(', login: "')
    if i >= 0 and rest.endswith('"'):
        fields["login"] = rest[i + 10 : -1]
        rest = rest[:i]
    i = rest.rfind(", server: ")
    c = rest.rfind(", client: ", 0, i if i >= 0 else len(rest))
    if c < 0:
        return msg, {}
    client = rest[c + 10 : i] if i >= 0 else rest[c + 10 :]
    if client.endswith(" using starttls"):
        client = client[: -len(" using starttls")]
        fields["starttls"] = "yes"
    if not client or " " in client or "," in client:
        return msg, {}
    fields["client"] = client
    if i >= 0:
        fields["server"] = rest[i + 10 :]
    return rest[:c], fields


def _error(m: re.Match[str], line_no: int) -> WebEvent:
    msg = m["msg"]
    fields = {"level": m["level"], "pid": m["pid"]}
    if m["cid"] and number(m["cid"]) is not None:
        fields["connection"] = m["cid"]
    client = None
    method = path = proto = None
    msg, ctx = context(msg)
    if ctx:
        client = normalise_ip(ctx.pop("client"))
        fields.update(ctx)
        if "request" in ctx:
            method, path, proto = _request(ctx["request"])
    lm = _LIMIT.search(msg)
    if lm:
        fields["zone"] = lm["zone"]
        if lm["excess"]:
            fields["excess"] = lm["excess"]
        msg = lm["what"]
    mc = _MAIL_CONNECT.match(msg)
    if mc and client is None:
        client = normalise_ip(mc["ip"])
        fields["client_port"] = mc["port"]
        fields["server"] = mc["server"]
    if client is None and "closed keepalive" in msg:
        km = _KEEPALIVE.match(msg)
        if km:
            client = normalise_ip(km["ip"])
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
