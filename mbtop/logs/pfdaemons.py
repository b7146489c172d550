"""The lines of Postfix's screening daemons: postscreen, tlsproxy, dnsblog and anvil.

Formats as Postfix 3.x writes them (postscreen*.c, tlsproxy.c, dnsblog.c, anvil.c); the client is
always the "[IP]:PORT" Postfix puts right after the verdict, never an address from the free text.
"""

from __future__ import annotations

import re

from mbtop.logs.events import MailEvent, number
from mbtop.logs.pfbase import Builder, normalise_ip, reject_fields

_PS_ADDR = r"\[(?P<cip>[^\]\s]+)\]:(?P<cport>\d+)"
# verdict -> the text between it and the address, as postscreen writes them
_POSTSCREEN = re.compile(
    r"(?P<action>CONNECT from|PASS NEW|PASS OLD|PREGREET (?P<count>\d+) after (?P<after>\S+) from|"
    r"DNSBL rank (?P<rank>\d+) for|HANGUP after (?P<hangup>\S+) from|"
    r"COMMAND PIPELINING from|COMMAND TIME LIMIT from|COMMAND COUNT LIMIT from|COMMAND LENGTH LIMIT from|"
    r"BARE NEWLINE from|NON-SMTP COMMAND from|DISCONNECT|WHITELISTED|WHITELIST VETO|BLACKLISTED|"
    r"ALLOWLISTED|ALLOWLIST VETO|DENYLISTED|reject: (?P<stage>[A-Z-]+) from) " + _PS_ADDR + r"(?P<rest>.*)",
    re.S,
)
_PS_AFTER = re.compile(r" after (?P<after>[^:\s]+)(?:: (?P<data>.*))?", re.S)
_PS_IN = re.compile(r" in (?P<test>.*)", re.S)
_TLSPROXY = re.compile(r"(?P<action>CONNECT from|CONNECT to|DISCONNECT) " + _PS_ADDR)
_DNSBLOG = re.compile(r"addr (?P<cip>\S+) listed by domain (?P<domain>\S+) as (?P<reply>\S+)")
_ANVIL = re.compile(
    r"statistics: max (?P<what>connection rate|connection count|message rate|recipient rate|"
    r"newtls rate|newtls request rate|auth rate|cache size) (?P<value>\S+)"
    r"(?: for \((?P<key>[^()\s]+)\))?(?: at (?P<at>.*))?",
    re.S,
)
_ADDR_SERVICE = re.compile(
    r"(?:\[[^\]]*\]|\d{1,3}(?:\.\d{1,3}){3}|[^:\s]*[A-Za-z.-][^:\s]*\.[^:\s]*):\d+"
)  # "127.0.0.1:2525", "[::1]:2525"


def postscreen(ev: Builder, rest: str) -> MailEvent:
    m = _POSTSCREEN.match(rest)
    if not m:
        return ev.done("other")
    ev.client_ip = normalise_ip(m["cip"])
    ev.client_port = number(m["cport"])
    head = m["action"]
    tail = m["rest"]
    if m["stage"]:  # NOQUEUE: reject: RCPT|CONNECT|DATA from [IP]:PORT: reply; from=<..>, ...
        ev.fields.update(reject_fields(tail[2:] if tail.startswith(": ") else tail))
        ev.fields["action"] = "reject"
        ev.fields["stage"] = m["stage"]
        return ev.done("reject")
    if head.startswith("PREGREET"):
        action = "PREGREET"
        ev.fields.update(count=m["count"], after=m["after"])
        if tail.startswith(": "):
            ev.fields["data"] = tail[2:]
    elif head.startswith("DNSBL"):
        action = "DNSBL"
        ev.fields["rank"] = m["rank"]
    elif head.startswith("HANGUP"):
        action = "HANGUP"
        ev.fields["after"] = m["hangup"]
        im = _PS_IN.match(tail)
        if im:
            ev.fields["test"] = im["test"]
    else:
        action = head.removesuffix(" from")
        if action == "NON-SMTP COMMAND":  # "NON-SMTP COMMAND from [IP]:PORT CMD LINE"
            if tail.startswith(" "):
                ev.fields["command"] = tail[1:]
        elif tail.startswith(" after "):  # COMMAND PIPELINING / TIME LIMIT: "after CMD[: data]"
            am = _PS_AFTER.match(tail)
            if am:
                ev.fields["after"] = am["after"]
                if am["data"] is not None:
                    ev.fields["data"] = am["data"]
        elif action == "CONNECT" and tail.startswith(" to "):
            ev.fields["server"] = tail[4:].strip()
    ev.fields["action"] = action
    return ev.done("postscreen")


def tlsproxy(ev: Builder, rest: str) -> MailEvent:
    m = _TLSPROXY.match(rest)
    if not m:
        return ev.done("other")
    if m["action"] == "CONNECT to":  # the client role: the address is a server, not a client
        ev.fields = {"action": "CONNECT", "server": f"[{m['cip']}]:{m['cport']}"}
        return ev.done("tlsproxy")
    ev.client_ip = normalise_ip(m["cip"])
    ev.client_port = number(m["cport"])
    ev.fields = {"action": m["action"].removesuffix(" from")}
    return ev.done("tlsproxy")


def dnsblog(ev: Builder, rest: str) -> MailEvent:
    m = _DNSBLOG.match(rest)
    if not m:
        return ev.done("other")
    ev.client_ip = normalise_ip(m["cip"])
    ev.fields = {"domain": m["domain"], "reply": m["reply"]}
    return ev.done("dnsbl")


def split_anvil_key(key: str) -> tuple[str, str | None]:
    """anvil's "service:client" key -> (service, client address).

    The service is a master.cf name ("smtp", "submission", "2525") or an address and port
    ("127.0.0.1:2525", "[::1]:2525"); the client may be IPv6 ("smtp:2001:db8::1").
    """
    m = _ADDR_SERVICE.match(key)
    if m and key[m.end() : m.end() + 1] == ":":
        ip = normalise_ip(key[m.end() + 1 :])
        if ip is not None:
            return m.group(0), ip
    service, sep, addr = key.partition(":")
    return (service, normalise_ip(addr)) if sep else (key, None)


def anvil(ev: Builder, rest: str) -> MailEvent:
    m = _ANVIL.match(rest)
    if not m:
        return ev.done("other")
    ev.fields = {"what": m["what"], "value": m["value"]}
    if m["key"]:
        service, ip = split_anvil_key(m["key"])
        ev.fields["svc"] = service
        if ip is not None:
            ev.fields["addr"] = ip
            ev.client_ip = ip
    if m["at"]:
        ev.fields["at"] = m["at"].strip()
    return ev.done("anvil")
