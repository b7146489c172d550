"""pflogsumm-like totals for a Postfix log, and the nginx equivalent."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from mbtop.logs.events import MailEvent, WebEvent
from mbtop.logs.own import check_session, is_local

TOP = 10
MAX_LOCAL_TLS = 1024  # TLS lines of sessions from this host awaiting their disconnect (own or not)
_ADDR_PREFIX = re.compile(r"^<[^>]*>: ")


def ranked(c: Counter[str]) -> list[tuple[str, int]]:
    """Most frequent first; ties by name, so the order never depends on the order of reading."""
    return sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))


def reject_reason(ev: MailEvent) -> str:
    """The reason without the address it was about: rejects group by cause, not by recipient."""
    reason = _ADDR_PREFIX.sub("", ev.fields.get("reason", "")).strip()
    if ev.client_ip:
        reason = reason.replace(ev.client_ip, "CLIENT")
    return reason or "(no reason given)"


@dataclass
class MailSummary:
    lines: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    received: int = 0
    delivered: int = 0
    deferred: int = 0
    bounced: int = 0
    expired: int = 0
    rejected: int = 0
    reject_reasons: Counter[str] = field(default_factory=Counter)
    connects: Counter[str] = field(default_factory=Counter)
    rejects_by_client: Counter[str] = field(default_factory=Counter)
    sasl_failures: Counter[str] = field(default_factory=Counter)
    postscreen: Counter[str] = field(default_factory=Counter)
    rate_limits: Counter[str] = field(default_factory=Counter)  # by limit ("connection rate", ...)
    rate_limited: Counter[str] = field(default_factory=Counter)  # by client
    pipelining: Counter[str] = field(default_factory=Counter)  # by client: smtpd's and postscreen's
    non_smtp: Counter[str] = field(default_factory=Counter)  # by client: smtpd's and postscreen's
    tls: Counter[str] = field(default_factory=Counter)  # by trust (Anonymous, Trusted, ...)
    dnsbl: Counter[str] = field(default_factory=Counter)  # listings by DNSBL domain
    reject_warnings: int = 0
    own_sessions: int = 0  # mbtop's own SMTP checks (see mbtop.logs.own): not traffic
    own_lines: int = 0
    _local_tls: dict[int, str] = field(default_factory=dict, repr=False)  # smtpd pid -> trust

    def add(self, ev: MailEvent) -> None:
        self.lines += 1
        kind = ev.kind
        if ev.own or (kind == "disconnect" and check_session(ev)):
            self._own(ev)
            return
        self.kinds[kind] += 1
        if kind == "connect" and ev.client_ip:
            self.connects[ev.client_ip] += 1
        elif kind == "client":
            self.received += 1
        elif kind == "delivery":
            status = ev.fields.get("status")
            if status == "sent":
                self.delivered += 1
            elif status == "deferred":
                self.deferred += 1
            elif status == "bounced":
                self.bounced += 1
            elif status == "expired":
                self.expired += 1
        elif kind in ("reject", "milter_reject"):
            self.rejected += 1
            self.reject_reasons[reject_reason(ev)] += 1
            if ev.client_ip:
                self.rejects_by_client[ev.client_ip] += 1
        elif kind == "sasl_fail" and ev.client_ip:
            self.sasl_failures[ev.client_ip] += 1
        elif kind == "postscreen":
            action = ev.fields.get("action", "?")
            self.postscreen[action] += 1
            if ev.client_ip and action in ("COMMAND PIPELINING", "NON-SMTP COMMAND"):
                (self.pipelining if action == "COMMAND PIPELINING" else self.non_smtp)[ev.client_ip] += 1
        elif kind == "rate_limit":
            self.rate_limits[ev.fields.get("limit", "?")] += 1
            if ev.client_ip:
                self.rate_limited[ev.client_ip] += 1
        elif kind == "pipelining" or kind == "non_smtp":
            if ev.client_ip:
                (self.pipelining if kind == "pipelining" else self.non_smtp)[ev.client_ip] += 1
        elif kind == "tls":
            self.add_tls(ev.fields.get("trust", "?"), ev.client_ip, ev.pid)
        elif kind == "reject_warning":
            self.reject_warnings += 1
        elif kind == "dnsbl":
            self.dnsbl[ev.fields.get("domain", "?")] += 1
        elif kind == "other" and ev.service == "pickup" and "uid=" in ev.message:
            self.received += 1

    def add_tls(self, trust: str, client_ip: str | None, pid: int | None, n: int = 1) -> None:
        """A TLS session: by trust; one from this host may be a check's, known at its disconnect."""
        self.tls[trust] += n
        if pid is not None and is_local(client_ip):
            if len(self._local_tls) >= MAX_LOCAL_TLS:
                del self._local_tls[next(iter(self._local_tls))]  # the oldest: its session ended long ago
            self._local_tls[pid] = trust

    def _own(self, ev: MailEvent) -> None:
        """A line of mbtop's own check.  Its session's connect (and TLS) lines were counted before its
        disconnect said whose it was: they are taken back here (counters may go negative in one part
        of a file read in parallel; the merged totals are right)."""
        self.own_lines += 1
        if ev.kind != "disconnect" or ev.own:
            if ev.kind == "disconnect":
                self.own_sessions += 1
            return
        self.own_sessions += 1
        self.own_lines += 1  # its connect line
        self.kinds["connect"] -= 1
        if ev.client_ip:
            self.connects[ev.client_ip] -= 1
        trust = self._local_tls.pop(ev.pid or 0, None)
        if trust is not None:
            self.own_lines += 1
            self.kinds["tls"] -= 1
            self.tls[trust] -= 1

    def merge(self, other: MailSummary) -> None:
        for name in MAIL_COUNTS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for name in MAIL_COUNTERS:
            getattr(self, name).update(getattr(other, name))

    def to_json(self) -> dict[str, Any]:
        def top(c: Counter[str], key: str) -> list[dict[str, Any]]:
            return [{key: k, "count": n} for k, n in ranked(c)[:TOP]]

        def positive(c: Counter[str]) -> dict[str, int]:
            return dict(ranked(+c))

        return {
            "format": "postfix",
            "lines": self.lines,
            "received": self.received,
            "delivered": self.delivered,
            "deferred": self.deferred,
            "bounced": self.bounced,
            "expired": self.expired,
            "rejected": self.rejected,
            "rejected_by_reason": top(self.reject_reasons, "reason"),
            "top_clients_by_connections": top(+self.connects, "address"),
            "top_clients_by_rejects": top(self.rejects_by_client, "address"),
            "sasl_failures": sum(self.sasl_failures.values()),
            "top_sasl_failures": top(self.sasl_failures, "address"),
            "postscreen": dict(ranked(self.postscreen)),
            "events": positive(self.kinds),
            "rate_limit_hits": sum(self.rate_limits.values()),
            "rate_limits": positive(self.rate_limits),
            "top_rate_limited": top(self.rate_limited, "address"),
            "pipelining": sum(self.pipelining.values()),
            "top_pipelining": top(self.pipelining, "address"),
            "non_smtp_commands": sum(self.non_smtp.values()),
            "top_non_smtp": top(self.non_smtp, "address"),
            "reject_warnings": self.reject_warnings,
            "tls_sessions": positive(self.tls),
            "dnsbl_listings": positive(self.dnsbl),
            "own_traffic": {"sessions": self.own_sessions, "lines": self.own_lines},
        }


MAIL_COUNTS = (
    "lines",
    "received",
    "delivered",
    "deferred",
    "bounced",
    "expired",
    "rejected",
    "reject_warnings",
    "own_sessions",
    "own_lines",
)
MAIL_COUNTERS = (
    "kinds",
    "reject_reasons",
    "connects",
    "rejects_by_client",
    "sasl_failures",
    "postscreen",
    "rate_limits",
    "rate_limited",
    "pipelining",
    "non_smtp",
    "tls",
    "dnsbl",
)


@dataclass
class WebSummary:
    lines: int = 0
    requests: int = 0
    errors: int = 0
    bytes: int = 0
    status_classes: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    clients: Counter[str] = field(default_factory=Counter)
    paths: Counter[str] = field(default_factory=Counter)
    error_sockets: Counter[str] = field(default_factory=Counter)
    own_requests: int = 0  # mbtop's own health checks: not traffic

    def add(self, ev: WebEvent) -> None:
        self.lines += 1
        if ev.own:
            self.own_requests += 1
        elif ev.kind == "access":
            self.requests += 1
            if ev.status is not None:
                self.statuses[ev.status] += 1
                self.status_classes[f"{ev.status // 100}xx"] += 1
            if ev.bytes:
                self.bytes += ev.bytes
            if ev.client_ip:
                self.clients[ev.client_ip] += 1
            if ev.path is not None:
                self.paths[ev.path.split("?", 1)[0]] += 1
        elif ev.kind == "error":
            self.errors += 1
            sock = ev.fields.get("socket")
            if sock:
                self.error_sockets[sock] += 1

    def merge(self, other: WebSummary) -> None:
        for name in ("lines", "requests", "errors", "bytes", "own_requests"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for name in ("status_classes", "statuses", "clients", "paths", "error_sockets"):
            getattr(self, name).update(getattr(other, name))

    def to_json(self) -> dict[str, Any]:
        return {
            "format": "nginx",
            "lines": self.lines,
            "requests": self.requests,
            "errors": self.errors,
            "bytes": self.bytes,
            "status_classes": dict(sorted(self.status_classes.items())),
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "top_clients": [{"address": k, "count": n} for k, n in ranked(self.clients)[:TOP]],
            "top_paths": [{"path": k, "count": n} for k, n in ranked(self.paths)[:TOP]],
            "error_sockets": dict(ranked(self.error_sockets)),
            "own_requests": self.own_requests,
        }


def render(doc: dict[str, Any]) -> str:
    """A plain-text report of a summary's JSON form (outside text is cleaned by the caller)."""
    lines: list[str] = []
    for key, value in doc.items():
        if isinstance(value, list):
            lines.append(f"{key.replace('_', ' ')}:")
            if not value:
                lines.append("  (none)")
            for item in value:
                name = next(v for k, v in item.items() if k != "count")
                lines.append(f"  {item['count']:>8}  {name}")
        elif isinstance(value, dict):
            lines.append(f"{key.replace('_', ' ')}:")
            if not value:
                lines.append("  (none)")
            for k, v in value.items():
                lines.append(f"  {v:>8}  {k}")
        else:
            lines.append(f"{key.replace('_', ' ')}: {value}")
    return "\n".join(lines)
