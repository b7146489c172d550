"""The lines of Postfix's queue side: cleanup (message-id, header/body checks, milters), the bounce
daemon's notices, delivery records from any agent (qmgr included) and the SMTP/LMTP client's own.

Formats as Postfix 3.x writes them: cleanup_message.c (cleanup_act_log), cleanup_milter.c
(cleanup_milter_apply), bounce_notify_service.c / bounce_warn_service.c / bounce_trace_service.c,
log_adhoc.c, smtp_connect.c and tls_client.c.  A remote server or relay is never the client.
"""

from __future__ import annotations

import re

from mbtop.logs.events import MailEvent
from mbtop.logs.pfbase import CLIENT, Builder, kv_fields, reject_fields

# "QID: reject: header Subject: Buy now from unknown[192.0.2.1]; from=<a@b> to=<c@d> proto=ESMTP
# helo=<x>: 5.7.1 Spam" (header_checks, body_checks: cleanup_act_log).  The header or body text comes
# first, cut at 200 characters, then " from ORIGIN;", the origin being HOST[IP] or "local".
CHECK = re.compile(
    r"(?P<action>reject|warning|info|hold|discard|filter|redirect|replace|prepend|strip|bcc): "
    r"(?P<class>header|body|content) ",
)
_ORIGIN = re.compile(r" from (?P<origin>(?P<chost>[^\s\[\];]*)\[(?P<cip>[^\]\s]+)\](?::(?P<cport>\d+))?|local);")
_CONTENT_MAX = 200  # "%.200s"
# The envelope after the origin; "[^>]*" so that a hostile address cannot make the match backtrack.
_CHECK_TAIL = re.compile(
    r"(?: from=<(?P<from>[^>]*)>)?(?: to=<(?P<to>[^>]*)>)?(?: proto=(?P<proto>\S+))?(?: helo=<(?P<helo>[^>]*)>)?"
    r"(?:: (?P<text>.*))?$",
    re.S,
)
# "QID: milter-reject|milter-discard|milter-hold: STAGE from HOST[IP]: text; from=<..> ..." (smtpd and cleanup)
_MILTER = re.compile(
    rf"milter-(?P<action>reject|discard|hold): (?P<stage>\S+) from {CLIENT}: (?P<rest>.*)",
    re.S,
)
_NOTICE = re.compile(r"(?P<notice>[a-z -]+ notification): (?P<qid>[0-9A-Za-z]+)\s*$")
_STATUS = re.compile(r"status=(?P<status>\S+)(?: \((?P<why>.*)\))?\s*$", re.S)
# The SMTP/LMTP client: "connect to HOST[ADDR]:PORT: reason" and "TRUST TLS connection established to
# HOST[ADDR]:PORT: PROTO with cipher CIPHER (N/M bits)" (the address of an LMTP socket is its path).
_SERVER = r"(?P<server>[^\s\[\]]*\[[^\]\s]+\](?::\d+)?)"
_CONNECT_TO = re.compile(rf"connect to {_SERVER}: (?P<why>.*)", re.S)
_TLS_TO = re.compile(
    rf"(?P<trust>Anonymous|Trusted|Untrusted|Verified) TLS connection established to {_SERVER}: "
    r"(?P<proto>\S+) with cipher (?P<cipher>\S+) \((?P<bits>\d+/\d+) bits\)",
)


def cleanup(ev: Builder, rest: str) -> MailEvent:
    if rest.startswith("message-id="):
        ev.fields = {"message_id": rest[len("message-id=") :].strip().strip("<>")}
        return ev.done("cleanup")
    if rest.startswith("resent-message-id="):
        ev.fields = {"resent_message_id": rest[len("resent-message-id=") :].strip().strip("<>")}
        return ev.done("cleanup")
    if rest.startswith("milter-"):
        return milter(ev, rest, "milter_reject" if rest.startswith("milter-reject: ") else "other")
    m = CHECK.match(rest)
    if m:
        return content_check(ev, rest, m)
    return ev.done("reject" if rest.startswith("reject: ") else "other")


def milter(ev: Builder, rest: str, unmatched: str = "other") -> MailEvent:
    """A milter's verdict, logged by smtpd or cleanup: a reject is a reject; hold and discard keep
    their client and envelope as an "other" event, like smtpd's own hold and discard."""
    m = _MILTER.match(rest)
    if not m:
        return ev.done(unmatched)
    ev.client(m)
    ev.fields = {"stage": m["stage"], **reject_fields(m["rest"])}
    if m["action"] == "reject":
        return ev.done("milter_reject")
    ev.fields["action"] = f"milter-{m['action']}"
    return ev.done("other")


def content_check(ev: Builder, rest: str, m: re.Match[str]) -> MailEvent:
    """A header/body check's action.  The client is the origin Postfix writes after the checked text;
    when that text holds another " from HOST[IP];" within its 200 characters, which one is Postfix's
    cannot be told, and no client is named."""
    action = m["action"]
    ev.fields = {"action": action, "class": m["class"]}
    start = m.end()
    # the origin starts within the text's 200 characters and is at most ~340 long (a hostname of 255, an
    # address, a port): nothing further right is read
    origins = [
        o for o in _ORIGIN.finditer(rest, start - 1, start + _CONTENT_MAX + 400) if o.start() <= start + _CONTENT_MAX
    ]
    kind = "reject" if action == "reject" else "warning" if action == "warning" else "other"
    if len(origins) != 1:
        return ev.done(kind)
    o = origins[0]
    ev.fields["content"] = rest[start : o.start()]
    if o["cip"] is not None:
        ev.client(o)
    t = _CHECK_TAIL.match(rest, o.end())
    if t:
        ev.fields.update({k: v for k, v in t.groupdict().items() if v is not None and k != "text"})
        text = t["text"]
        if text:
            if action == "reject":
                ev.fields.update({k: v for k, v in reject_fields(text).items() if k in ("dsn", "code", "reason")})
            else:
                ev.fields["text"] = text
    return ev.done(kind)


def bounce(ev: Builder, rest: str) -> MailEvent:
    """ "QID: sender non-delivery notification: NEWQID" and its kin (delay, delivery status, postmaster)."""
    m = _NOTICE.match(rest)
    if not m:
        return ev.done("other")
    ev.fields = {"notice": m["notice"], "new_queue_id": m["qid"]}
    return ev.done("bounce")


def delivery(ev: Builder, rest: str) -> MailEvent:
    """A delivery record (log_adhoc.c): "to=<..>, [orig_to=<..>,] relay=.., delay=.., delays=..,
    dsn=.., status=STATUS (reason)", written by the delivery agents and by qmgr itself when it defers
    or bounces a recipient ("delivery temporarily suspended", "mail transport unavailable")."""
    ev.fields = kv_fields(rest.split(" status=", 1)[0])
    m = _STATUS.search(rest)
    if m:
        ev.fields["status"] = m["status"]
        if m["why"]:
            ev.fields["reason"] = m["why"]
    return ev.done("delivery")


def smtp_client(ev: Builder, rest: str) -> MailEvent:
    """The SMTP/LMTP client's lines about a server: a failed connection, an outbound TLS session."""
    if rest.startswith("connect to "):
        m = _CONNECT_TO.match(rest)
        if m:
            ev.fields = {"server": m["server"], "reason": m["why"]}
            return ev.done("connect_error")
    elif " TLS connection established to " in rest[:40]:
        m = _TLS_TO.match(rest)
        if m:
            ev.fields = {
                "trust": m["trust"],
                "tls_protocol": m["proto"],
                "cipher": m["cipher"],
                "bits": m["bits"],
                "server": m["server"],
            }
            return ev.done("tls_outbound")
    return ev.done("other")
