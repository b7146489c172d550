"""What every Postfix daemon's lines share: the client's "HOST[IP]:PORT", key=value lists, reject
reasons, numbers that may be hostile, and the builder that turns a parsed line into a MailEvent."""

from __future__ import annotations

import ipaddress
import re
from functools import lru_cache
from types import MappingProxyType

from mbtop.logs import syslog
from mbtop.logs.events import EMPTY, MailEvent, number

# "HOST[IP]" or "HOST[IP]:PORT"; HOST may be "unknown"; IP may be IPv6 (optionally "IPv6:" prefixed).
CLIENT = r"(?P<chost>[^\s\[\]]*)\[(?P<cip>[^\]\s]+)\](?::(?P<cport>\d+))?"
_KV = re.compile(r"(?P<k>[a-z_]+)=(?P<v><[^>]*>|\([^)]*\)|[^,\s]+)")
_DSN = re.compile(r"[245]\.\d{1,3}\.\d{1,3}")
# What Postfix appends to a reject (smtpd_check.c log_whatsup; postscreen separates with ", "): from, to,
# proto, helo, each optional, in that order; the HELO, last, may hold anything.
_ENVELOPE = re.compile(r"(?:from=<[^>]*>)?(?:,? ?to=<[^>]*>)?(?:,? ?proto=[^\s,]+)?(?:,? ?helo=<.*>)?", re.S)
_ENVELOPE_TRIES = 8


def _octet(p: str) -> bool:
    """A decimal octet as ipaddress accepts it: 1-3 ASCII digits, no leading zero, at most 255."""
    return 0 < len(p) <= 3 and p.isdigit() and p.isascii() and (p[0] != "0" or p == "0") and int(p) <= 255


@lru_cache(maxsize=65536)
def normalise_ip(text: str) -> str | None:
    """Canonical address text, or None when it is not an address (e.g. "unknown")."""
    if len(text) > 64:  # no address is longer; a hostile one is not worth parsing
        return None
    parts = text.split(".")
    if len(parts) == 4:  # the common case, canonical as written, without the ipaddress module
        a, b, c, d = parts
        if _octet(a) and _octet(b) and _octet(c) and _octet(d):
            return text
    if text[:5].lower() == "ipv6:":
        text = text[5:]
    try:
        return str(ipaddress.ip_address(text.split("%", 1)[0]))
    except ValueError:
        return None


def kv_fields(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for m in _KV.finditer(text):
        v = m["v"]
        if v[:1] == "<" and v[-1:] == ">":
            v = v[1:-1]
        out.setdefault(m["k"], v)
    return out


def _split_envelope(text: str) -> tuple[str, str]:
    """(reply, envelope): the envelope is after the last "; " whose remainder is one.  A HELO may hold
    "; " itself (smtpd joins the words of "EHLO a; b"), so a remainder that is not an envelope means the
    split is further left (a few tries: a line of many "; " costs no more)."""
    end = len(text)
    for _ in range(_ENVELOPE_TRIES):
        i = text.rfind("; ", 0, end)
        if i < 0:
            break
        if i + 2 < len(text) and _ENVELOPE.fullmatch(text, i + 2):
            return text[:i], text[i + 2 :]
        end = i
    reason, _, tail = text.rpartition("; ")
    return (reason, tail) if reason else (text, "")


def reject_fields(text: str) -> dict[str, str]:
    """'554 5.7.1 <x@y>: Relay access denied; from=<a> to=<b> proto=ESMTP helo=<h>'."""
    reason, tail = _split_envelope(text)
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
    for k, v in kv_fields(tail).items():
        if k in ("from", "to", "proto", "helo"):
            out[k] = v
    return out


class Builder:
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
        """The client from a match of CLIENT (or of any pattern with its cip/chost/cport groups)."""
        d = m.groupdict()
        self.client_ip = normalise_ip(d["cip"])
        self.client_host = d.get("chost") or None
        self.client_port = number(d.get("cport"))

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
