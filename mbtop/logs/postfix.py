"""Postfix log lines -> MailEvent.

The client address is taken only where Postfix puts it for that event
("connect from HOST[IP]", "reject: RCPT from HOST[IP]:", postscreen's
"[IP]:PORT"), never from free text: a HELO of <1.2.3.4>, a relay address or a
reason that names another IP are not the client.
"""

from __future__ import annotations

import ipaddress
import re
from functools import lru_cache
from types import MappingProxyType

from mbtop.logs import syslog
from mbtop.logs.events import EMPTY, MailEvent

# "HOST[IP]" or "HOST[IP]:PORT"; HOST may be "unknown"; IP may be IPv6 (optionally "IPv6:" prefixed).
_CLIENT = r"(?P<chost>[^\s\[\]]*)\[(?P<cip>[^\]\s]+)\](?::(?P<cport>\d+))?"
_QUEUE_ID = re.compile(r"(?P<qid>[0-9A-F]{6,12}|[0-9B-DF-HJ-NP-TV-Zb-df-hj-np-tv-z]{8,20}|NOQUEUE): (?P<rest>.*)", re.S)

_CONNECT = re.compile(rf"connect from {_CLIENT}")
_DISCONNECT = re.compile(rf"disconnect from {_CLIENT}(?P<cmds>(?: \S+=\S+)*)")
_LOST = re.compile(rf"lost connection after (?P<after>\S+)(?: \(.*?\))? from {_CLIENT}")
_TIMEOUT = re.compile(rf"timeout after (?P<after>\S+)(?: \(.*?\))? from {_CLIENT}")
_TOO_MANY = re.compile(rf"too many errors after (?P<after>\S+)(?: \(.*?\))? from {_CLIENT}")
_SESSION_END_EVENTS = (
    ("lost connection after ", _LOST, "lost_connection"),
    ("timeout after ", _TIMEOUT, "timeout"),
    ("too many errors after ", _TOO_MANY, "too_many_errors"),
)
_SESSION_ENDS = tuple(prefix for prefix, _, _ in _SESSION_END_EVENTS)
_REJECT = re.compile(
    rf"(?P<action>reject|discard|hold|filter|redirect|warn): (?P<stage>\S+) from {_CLIENT}: (?P<rest>.*)", re.S
)
_SASL = re.compile(rf"warning: {_CLIENT}: SASL (?P<method>\S+) authentication failed(?:: (?P<why>.*))?", re.S)
_CLIENT_LINE = re.compile(rf"client={_CLIENT}")
_PS_ADDR = r"\[(?P<cip>[^\]\s]+)\]:(?P<cport>\d+)"
_POSTSCREEN = re.compile(
    r"(?P<action>CONNECT from|PASS NEW|PASS OLD|PREGREET \d+ after \S+ from|DNSBL rank \d+ for|HANGUP after \S+ from|"
    r"COMMAND PIPELINING from|COMMAND TIME LIMIT from|COMMAND COUNT LIMIT from|COMMAND LENGTH LIMIT from|"
    r"BARE NEWLINE from|NON-SMTP COMMAND from|DISCONNECT|WHITELISTED|WHITELIST VETO|BLACKLISTED|"
    r"ALLOWLISTED|ALLOWLIST VETO|DENYLISTED|reject: RCPT from) " + _PS_ADDR
)
_ANVIL = re.compile(
    r"statistics: max (?P<what>connection rate|connection count|message rate|recipient rate|"
    r"newtls rate|newtls request rate|auth rate|cache size) (?P<value>\S+)"
    r"(?: for \((?P<svc>[^:]+):(?P<addr>[^)]+)\))?"
)
_KV = re.compile(r"(?P<k>[a-z_]+)=(?P<v><[^>]*>|\([^)]*\)|[^,\s]+)")
_STATUS = re.compile(r"status=(?P<status>\S+)(?: \((?P<why>.*)\))?\s*$", re.S)
_DSN = re.compile(r"[245]\.\d{1,3}\.\d{1,3}")
_DELIVERY_SERVICES = frozenset({"smtp", "lmtp", "local", "virtual", "pipe", "error", "retry", "discard", "relay"})


@lru_cache(maxsize=65536)
def normalise_ip(text: str) -> str | None:
    """Canonical address text, or None when it is not an address (e.g. "unknown")."""
    if text.lower().startswith("ipv6:"):
        text = text[5:]
    try:
        return str(ipaddress.ip_address(text.split("%", 1)[0]))
    except ValueError:
        return None


def _fields(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for m in _KV.finditer(text):
        v = m["v"]
        if v[:1] == "<" and v[-1:] == ">":
            v = v[1:-1]
        out.setdefault(m["k"], v)
    return out


def _client(m: re.Match[str]) -> tuple[str | None, str | None, int | None]:
    d = m.groupdict()
    host = d.get("chost")
    port = d.get("cport")
    return normalise_ip(d["cip"]), (host if host else None), (int(port) if port else None)


class PostfixParser:
    """Stateless apart from the year used for RFC 3164 timestamps (which carry none)."""

    def __init__(self, year: int | None = None) -> None:
        self.year = year

    def parse(self, line: str, line_no: int) -> MailEvent:
        p = syslog.parse(line, self.year)
        msg = p.message
        ev = _Builder(line_no, p, msg)
        prog = p.program or ""
        if not prog.startswith("postfix"):
            return ev.done("other")
        service = prog.rsplit("/", 1)[-1]
        qid: str | None = None
        rest = msg
        m = _QUEUE_ID.match(msg)
        if m:
            qid = None if m["qid"] == "NOQUEUE" else m["qid"]
            rest = m["rest"]
        ev.queue_id = qid
        for severity in ("warning", "fatal", "panic"):
            if rest.startswith(severity + ": "):
                sm = _SASL.match(rest) if severity == "warning" else None
                if sm:
                    ev.client(sm)
                    why, _, user = (sm["why"] or "").partition(", sasl_username=")
                    ev.fields = {"method": sm["method"], "reason": why}
                    if user:
                        ev.fields["sasl_username"] = user.strip()
                    return ev.done("sasl_fail")
                return ev.done(severity)
        if service == "postscreen":
            return self._postscreen(ev, rest)
        if service == "anvil":
            am = _ANVIL.match(rest)
            if am:
                ev.fields = {k: v for k, v in am.groupdict().items() if v}
                if am["addr"]:
                    ev.client_ip = normalise_ip(am["addr"])
                return ev.done("anvil")
            return ev.done("other")
        if service in ("smtpd", "submission", "smtps") or service.endswith("smtpd"):
            return self._smtpd(ev, rest, qid)
        if service == "cleanup":
            if rest.startswith("message-id="):
                ev.fields = {"message_id": rest[len("message-id=") :].strip().strip("<>")}
                return ev.done("cleanup")
            if rest.startswith("milter-reject: "):
                rm = _REJECT.match(rest[len("milter-") :])
                if rm:
                    ev.client(rm)
                    ev.fields = {"stage": rm["stage"], **_reject_fields(rm["rest"])}
                return ev.done("milter_reject")
            if rest.startswith(("reject: ", "discard: ", "hold: ", "warning: header", "info: header")):
                return ev.done("reject" if rest.startswith("reject") else "other")
            return ev.done("other")
        if service == "qmgr":
            if rest.strip() == "removed":
                return ev.done("removed")
            if rest.startswith("from=<"):
                ev.fields = _fields(rest)
                if "status=expired" in rest:
                    ev.fields["status"] = "expired"
                    return ev.done("delivery")
                return ev.done("qmgr")
            return ev.done("other")
        if service == "bounce":
            if "non-delivery notification" in rest or "delivery status notification" in rest:
                ev.fields = {"notice": rest.split(":", 1)[0], "new_queue_id": rest.rsplit(": ", 1)[-1].strip()}
                return ev.done("bounce")
            return ev.done("other")
        if service in _DELIVERY_SERVICES and rest.startswith("to=<"):
            ev.fields = _fields(rest.split(" status=", 1)[0])
            sm2 = _STATUS.search(rest)
            if sm2:
                ev.fields["status"] = sm2["status"]
                if sm2["why"]:
                    ev.fields["reason"] = sm2["why"]
            return ev.done("delivery")
        if rest.strip() == "removed":
            return ev.done("removed")
        return ev.done("other")

    def _smtpd(self, ev: _Builder, rest: str, qid: str | None) -> MailEvent:
        if rest.startswith("connect from "):
            m = _CONNECT.match(rest)
            if m:
                ev.client(m)
                return ev.done("connect")
        elif rest.startswith("disconnect from "):
            m = _DISCONNECT.match(rest)
            if m:
                ev.client(m)
                ev.fields = dict(kv.split("=", 1) for kv in m["cmds"].split())
                return ev.done("disconnect")
        elif rest.startswith(_SESSION_ENDS):
            for prefix, pattern, kind in _SESSION_END_EVENTS:
                if rest.startswith(prefix):
                    m = pattern.match(rest)
                    if m:
                        ev.client(m)
                        ev.fields = {"after": m["after"]}
                        return ev.done(kind)
        elif rest.startswith("client="):
            m = _CLIENT_LINE.match(rest)
            if m:
                ev.client(m)
                ev.fields = {k: v for k, v in _fields(rest).items() if k != "client"}
                return ev.done("client")
        elif rest.startswith("milter-reject: "):  # smtpd's own milter verdicts (NOQUEUE: milter-reject: RCPT ...)
            m = _REJECT.match(rest[len("milter-") :])
            if m:
                ev.client(m)
                ev.fields = {"stage": m["stage"], **_reject_fields(m["rest"])}
                return ev.done("milter_reject")
        else:
            m = _REJECT.match(rest)
            if m:
                ev.client(m)
                ev.fields = {"action": m["action"], "stage": m["stage"], **_reject_fields(m["rest"])}
                return ev.done("reject" if m["action"] == "reject" else "other")
        return ev.done("other")

    def _postscreen(self, ev: _Builder, rest: str) -> MailEvent:
        m = _POSTSCREEN.match(rest)
        if not m:
            return ev.done("other")
        ev.client_ip = normalise_ip(m["cip"])
        ev.client_port = int(m["cport"])
        action = m["action"].split(" from")[0].split(" for")[0].split(" after")[0]
        if action.startswith("PREGREET"):
            action = "PREGREET"
        elif action.startswith("DNSBL"):
            action = "DNSBL"
            ev.fields["rank"] = m["action"].split()[2]
        elif action.startswith("reject"):
            ev.fields.update(_reject_fields(rest.split("]:", 1)[1].split(": ", 1)[-1]))
            ev.fields["action"] = "reject"
            return ev.done("reject")
        ev.fields["action"] = action
        return ev.done("postscreen")


def _reject_fields(text: str) -> dict[str, str]:
    """'554 5.7.1 <x@y>: Relay access denied; from=<a> to=<b> proto=ESMTP helo=<h>'."""
    reason, _, tail = text.rpartition("; ")
    if not reason:
        reason, tail = text, ""
    out: dict[str, str] = {}
    parts = reason.split(" ", 2)
    if parts and _DSN.fullmatch(parts[0]):  # milter replies start with the enhanced code
        out["dsn"] = parts[0]
        out["reason"] = " ".join(parts[1:])
    elif len(parts) >= 2 and parts[0].isdigit():
        out["code"] = parts[0]
        if _DSN.fullmatch(parts[1]):
            out["dsn"] = parts[1]
            out["reason"] = parts[2] if len(parts) > 2 else ""
        else:
            out["reason"] = " ".join(parts[1:])
    else:
        out["reason"] = reason
    for k, v in _fields(tail).items():
        if k in ("from", "to", "proto", "helo"):
            out[k] = v
    return out


class _Builder:
    __slots__ = ("client_host", "client_ip", "client_port", "fields", "line_no", "msg", "prefix", "queue_id")

    def __init__(self, line_no: int, prefix: syslog.Prefix, msg: str) -> None:
        self.line_no = line_no
        self.prefix = prefix
        self.msg = msg
        self.client_ip: str | None = None
        self.client_host: str | None = None
        self.client_port: int | None = None
        self.queue_id: str | None = None
        self.fields: dict[str, str] = {}

    def client(self, m: re.Match[str]) -> None:
        self.client_ip, self.client_host, self.client_port = _client(m)

    def done(self, kind: str) -> MailEvent:
        p = self.prefix
        return MailEvent(
            line_no=self.line_no,
            kind=kind,
            timestamp=p.timestamp,
            host=p.host,
            program=p.program,
            pid=p.pid,
            client_ip=self.client_ip,
            client_hostname=self.client_host,
            client_port=self.client_port,
            queue_id=self.queue_id,
            message=self.msg,
            fields=MappingProxyType(self.fields) if self.fields else EMPTY,
        )
