"""Postfix log lines -> MailEvent.

The client address is taken only where Postfix puts it for that event
("connect from HOST[IP]", "reject: RCPT from HOST[IP]:", postscreen's
"[IP]:PORT"), never from free text: a HELO of <1.2.3.4>, a relay address or a
reason that names another IP are not the client.  The message formats are
Postfix 3.x's own (smtpd.c, smtpd_check.c, tls_server.c; the screening
daemons are in ``pfdaemons``).
"""

from __future__ import annotations

import re

from mbtop.logs import pfagents, pfdaemons, syslog
from mbtop.logs.events import MailEvent
from mbtop.logs.pfbase import CLIENT as _CLIENT
from mbtop.logs.pfbase import Builder, kv_fields, normalise_ip, reject_fields

__all__ = ["PostfixParser", "normalise_ip"]

# Short ids: microseconds (5 hex digits) and the inode in hex, so 6 and more characters (over 12 on
# large inode numbers); long ids (enable_long_queue_ids): base-52 time, "z", base-51 inode.
_QUEUE_ID = re.compile(r"(?P<qid>[0-9A-F]{6,24}|[0-9B-DF-HJ-NP-TV-Zb-df-hj-np-tv-z]{8,32}|NOQUEUE): (?P<rest>.*)", re.S)

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
    r"(?P<action>reject|reject_warning|discard|hold|filter|redirect|warn|permit): "
    rf"(?P<stage>\S+) from {_CLIENT}: (?P<rest>.*)",
    re.S,
)
_SASL = re.compile(rf"warning: {_CLIENT}: SASL (?P<method>\S+) authentication failed(?:: (?P<why>.*))?", re.S)
_CLIENT_LINE = re.compile(rf"client={_CLIENT}")
# smtpd's own signs of bots and floods (smtpd.c, smtpd_peer.c)
_LIMIT = re.compile(
    rf"(?P<limit>Connection rate|Connection concurrency|Message delivery request rate|Recipient address rate|"
    rf"New TLS session rate|AUTH command rate) limit exceeded: (?P<count>\d+) from {_CLIENT} for service (?P<svc>\S+)"
)
_PIPELINING = re.compile(rf"improper command pipelining after (?P<after>\S+) from {_CLIENT}(?:: (?P<data>.*))?", re.S)
_NON_SMTP = re.compile(rf"non-SMTP command from {_CLIENT}(?:: (?P<command>.*))?", re.S)
_UNRESOLVED = re.compile(
    r"hostname (?P<name>\S+) does not resolve to address (?P<cip>[^\s:]+|[0-9A-Fa-f:.]+?)(?:: (?P<why>.*))?$", re.S
)
_BARE_LF = re.compile(rf"(?:\S+: )?bare <LF> received from {_CLIENT}(?: after (?P<after>\S+))?")
_TLS = re.compile(
    rf"(?P<trust>Anonymous|Trusted|Untrusted|Verified) TLS connection established from {_CLIENT}: "
    r"(?P<proto>\S+) with cipher (?P<cipher>\S+) \((?P<bits>\d+/\d+) bits\)(?P<more>.*)",
    re.S,
)
_TLS_ERROR = re.compile(rf"SSL_accept error from {_CLIENT}: (?P<error>.*)", re.S)
# other smtpd warnings that name the client the way Postfix does (" from HOST[IP]", then ":" or " " or the end)
_WARNING_CLIENT = re.compile(rf" from {_CLIENT}(?=[:,\s]|$)")
_DELIVERY_SERVICES = frozenset({"smtp", "lmtp", "local", "virtual", "pipe", "error", "retry", "discard", "relay"})
# Postfix's programs (the last part of the syslog tag), to know its lines under a custom syslog_name
POSTFIX_DAEMONS = frozenset(
    {
        "anvil", "bounce", "cleanup", "discard", "dnsblog", "error", "flush", "lmtp", "local", "master",
        "oqmgr", "pickup", "pipe", "postdrop", "postfix-script", "postlog", "postlogd", "postmap",
        "postqueue", "postscreen", "postsuper", "proxymap", "qmgr", "qmqpd", "scache", "sendmail",
        "showq", "smtp", "smtpd", "spawn", "tlsmgr", "tlsproxy", "trivial-rewrite", "verify", "virtual",
    }
)  # fmt: skip
_SEVERITIES = ("warning: ", "error: ", "fatal: ", "panic: ")
_SMTPD_WARNINGS = (
    ("non-SMTP command from ", _NON_SMTP, "non_smtp"),
    ("improper command pipelining after ", _PIPELINING, "pipelining"),
)
_SMTPD_WARNING_PREFIXES = tuple(prefix for prefix, _, _ in _SMTPD_WARNINGS)


class PostfixParser:
    """Stateless apart from the year used for RFC 3164 timestamps (which carry none)."""

    def __init__(self, year: int | None = None) -> None:
        self.year = year

    def parse(self, line: str, line_no: int) -> MailEvent:
        p = syslog.parse(line, self.year)
        msg = p.message
        ev = Builder(line_no, p, msg)
        prog = p.program or ""
        service = prog.rsplit("/", 1)[-1]
        if not prog.startswith("postfix") and not (service in POSTFIX_DAEMONS and "/" in prog):
            return ev.done("other")  # not Postfix, nor a custom syslog_name ("mx-in/smtpd")
        rest = msg
        m = _QUEUE_ID.match(msg)
        if m:
            ev.queue_id = None if m["qid"] == "NOQUEUE" else m["qid"]
            rest = m["rest"]
        for severity in _SEVERITIES:
            if rest.startswith(severity):
                if severity == "warning: " and ev.queue_id is not None and service == "cleanup":
                    cm = pfagents.CHECK.match(rest)  # "QID: warning: header ...": header_checks' WARN action
                    if cm:
                        return pfagents.content_check(ev, rest, cm)
                return self._severity(ev, service, severity[:-2], rest)
        if service in ("master", "postfix-script") or rest.endswith(" has changed -- restarting"):
            return ev.done("daemon")  # Postfix starting, stopping, reloading; a daemon restarting for a table
        if service == "postscreen":
            return pfdaemons.postscreen(ev, rest)
        if service == "anvil":
            return pfdaemons.anvil(ev, rest)
        if service == "tlsproxy":
            if " TLS connection established from " in rest:
                return _tls(ev, rest)
            return pfdaemons.tlsproxy(ev, rest)
        if service == "dnsblog":
            return pfdaemons.dnsblog(ev, rest)
        if service in ("smtpd", "submission", "smtps") or service.endswith("smtpd"):
            return self._smtpd(ev, rest)
        if service == "cleanup":
            return pfagents.cleanup(ev, rest)
        if rest.startswith("to=<") and (service in _DELIVERY_SERVICES or " status=" in rest):
            return pfagents.delivery(ev, rest)  # any agent's, and qmgr's own deferrals and bounces
        if service == "qmgr":
            if rest.strip() == "removed":
                return ev.done("removed")
            if rest.startswith("from=<"):
                ev.fields = kv_fields(rest)
                if "status=expired" in rest:
                    ev.fields["status"] = "expired"
                    return ev.done("delivery")
                return ev.done("qmgr")
            return ev.done("other")
        if service == "bounce":
            return pfagents.bounce(ev, rest)
        if service in ("smtp", "lmtp") and ev.queue_id is None:
            return pfagents.smtp_client(ev, rest)
        if rest.strip() == "removed":
            return ev.done("removed")
        return ev.done("other")

    def _severity(self, ev: Builder, service: str, severity: str, rest: str) -> MailEvent:
        body = rest[len(severity) + 2 :]
        if severity != "warning":
            return _queue_id_after(ev, body, severity)
        sm = _SASL.match(rest)
        if sm:
            ev.client(sm)
            why, _, user = (sm["why"] or "").partition(", sasl_username=")
            ev.fields = {"method": sm["method"], "reason": why}
            if user:
                ev.fields["sasl_username"] = user.strip()
            return ev.done("sasl_fail")
        lm = _LIMIT.match(body)
        if lm:
            ev.client(lm)
            ev.fields = {"limit": lm["limit"].lower(), "count": lm["count"], "service": lm["svc"]}
            return ev.done("rate_limit")
        if body.startswith(_SMTPD_WARNING_PREFIXES):
            return _bot_sign(ev, body)
        if body.startswith("hostname "):
            um = _UNRESOLVED.match(body)
            if um:
                ev.client_ip = normalise_ip(um["cip"])
                ev.fields = {"warning": "hostname_unresolved", "hostname": um["name"]}
                if um["why"]:
                    ev.fields["reason"] = um["why"]
                return ev.done("warning")
        bm = _BARE_LF.match(body)
        if bm:
            ev.client(bm)
            ev.fields = {"warning": "bare_lf"}
            if bm["after"]:
                ev.fields["after"] = bm["after"]
            return ev.done("warning")
        if service.endswith("smtpd") or service in ("submission", "smtps"):
            cm = _WARNING_CLIENT.search(body)
            if cm:
                ev.client(cm)
        return _queue_id_after(ev, body, "warning")

    def _smtpd(self, ev: Builder, rest: str) -> MailEvent:
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
                ev.fields = {k: v for k, v in kv_fields(rest).items() if k != "client"}
                return ev.done("client")
        elif rest.startswith("milter-"):  # smtpd's own milter verdicts (NOQUEUE: milter-reject: RCPT ...)
            return pfagents.milter(ev, rest)
        elif " TLS connection established from " in rest[:48]:
            return _tls(ev, rest)
        elif "bare <LF> received from " in rest[:40]:
            m = _BARE_LF.match(rest)
            if m:
                ev.client(m)
                ev.fields = (
                    {"warning": "bare_lf"} if m["after"] is None else {"warning": "bare_lf", "after": m["after"]}
                )
                return ev.done("warning")
        elif rest.startswith("SSL_accept error from "):
            m = _TLS_ERROR.match(rest)
            if m:
                ev.client(m)
                ev.fields = {"error": m["error"]}
                return ev.done("tls_error")
        elif rest.startswith(_SMTPD_WARNING_PREFIXES):  # pipelining is logged as info, non-SMTP as a warning
            return _bot_sign(ev, rest)
        else:
            m = _REJECT.match(rest)
            if m:
                ev.client(m)
                action = m["action"]
                ev.fields = {"action": action, "stage": m["stage"], **reject_fields(m["rest"])}
                if action in ("reject", "reject_warning"):
                    return ev.done(action)
                return ev.done("other")
        return ev.done("other")


def _queue_id_after(ev: Builder, body: str, kind: str) -> MailEvent:
    """ "warning: 3F2A1B2C3D: ..." names the message after the severity."""
    if ev.queue_id is None:
        m = _QUEUE_ID.match(body)
        if m and m["qid"] != "NOQUEUE":
            ev.queue_id = m["qid"]
    return ev.done(kind)


def _bot_sign(ev: Builder, text: str) -> MailEvent:
    """smtpd's non-SMTP command and improper pipelining: the client, and what it sent."""
    for prefix, pattern, kind in _SMTPD_WARNINGS:
        if text.startswith(prefix):
            m = pattern.match(text)
            if m:
                ev.client(m)
                ev.fields = {
                    k: v for k, v in m.groupdict().items() if v is not None and k in ("after", "data", "command")
                }
                return ev.done(kind)
    return ev.done("warning")


def _tls(ev: Builder, rest: str) -> MailEvent:
    m = _TLS.match(rest)
    if not m:
        return ev.done("other")
    ev.client(m)
    ev.fields = {"trust": m["trust"], "tls_protocol": m["proto"], "cipher": m["cipher"], "bits": m["bits"]}
    return ev.done("tls")
