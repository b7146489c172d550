"""Typed events parsed from log lines. Parsers return data, never styled text."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

EMPTY: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class MailEvent:
    line_no: int
    kind: str  # connect, disconnect, lost_connection, timeout, too_many_errors, reject, sasl_fail, postscreen,
    #            anvil, client, cleanup, qmgr, removed, delivery, bounce, milter_reject, warning, fatal, panic, other
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
        }
