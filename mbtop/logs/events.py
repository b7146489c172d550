"""Typed events parsed from log lines. Parsers return data, never styled text."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

EMPTY: Mapping[str, str] = MappingProxyType({})
MAX_DIGITS = 18  # a pid, port or byte count longer than this is not one (and int() refuses > 4300 digits)


def number(text: str | bytes | None) -> int | None:
    """A decimal field of a log line, or None when it cannot be one (absent, not ASCII digits, too long):
    anyone who can write to the log chooses these digits."""
    if not text or len(text) > MAX_DIGITS or not text.isdigit() or not text.isascii():
        return None
    return int(text)


@dataclass(frozen=True, slots=True)
class MailEvent:
    line_no: int
    kind: str  # connect, disconnect, lost_connection, timeout, too_many_errors, reject, reject_warning, sasl_fail,
    #            postscreen, anvil, rate_limit, pipelining, non_smtp, tls, tls_error, tlsproxy, dnsbl, client,
    #            cleanup, qmgr, removed, delivery, bounce, milter_reject, daemon, warning, error, fatal, panic,
    #            connect_error and tls_outbound (the SMTP client's, about a server), other
    timestamp: str | None
    host: str | None
    program: str | None  # "postfix/smtpd", "postfix-out/smtp", "postfix/submission/smtpd"
    pid: int | None
    client_ip: str | None
    client_hostname: str | None
    client_port: int | None
    queue_id: str | None
    message: str  # the text after "program[pid]: "
    fields: Mapping[str, str] = field(default_factory=lambda: EMPTY)  # status, relay, dsn, from, to, helo, ...
    own: bool = False  # a line of mbtop's own health check (see mbtop.logs.own): never counted as traffic

    @property
    def service(self) -> str | None:
        """The daemon: the last part of the program name (smtpd, qmgr, postscreen, ...)."""
        return self.program.rsplit("/", 1)[-1] if self.program else None

    def to_json(self) -> dict[str, Any]:
        return {
            "line_no": self.line_no,
            "kind": self.kind,
            "timestamp": self.timestamp,
            "host": self.host,
            "program": self.program,
            "pid": self.pid,
            "client_ip": self.client_ip,
            "client_hostname": self.client_hostname,
            "client_port": self.client_port,
            "queue_id": self.queue_id,
            "message": self.message,
            "fields": dict(self.fields),
            "own": self.own,
        }


@dataclass(frozen=True, slots=True)
class WebEvent:
    line_no: int
    kind: str  # access, error, other
    timestamp: str | None
    client_ip: str | None
    method: str | None
    path: str | None
    protocol: str | None
    status: int | None
    bytes: int | None
    referer: str | None
    user_agent: str | None
    message: str  # error: the message; access/other: the raw line
    fields: Mapping[str, str] = field(default_factory=lambda: EMPTY)  # error log: level, pid, upstream, server, socket
    own: bool = False  # mbtop's own health check (its user agent, from this host): never counted as traffic

    def to_json(self) -> dict[str, Any]:
        return {
            "line_no": self.line_no,
            "kind": self.kind,
            "timestamp": self.timestamp,
            "client_ip": self.client_ip,
            "method": self.method,
            "path": self.path,
            "protocol": self.protocol,
            "status": self.status,
            "bytes": self.bytes,
            "referer": self.referer,
            "user_agent": self.user_agent,
            "message": self.message,
            "fields": dict(self.fields),
            "own": self.own,
        }
