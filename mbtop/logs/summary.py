"""pflogsumm-like totals for a Postfix log, and the nginx equivalent."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from mbtop.logs.events import MailEvent, WebEvent

TOP = 10
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

    def add(self, ev: MailEvent) -> None:
        self.lines += 1
        kind = ev.kind
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
            self.postscreen[ev.fields.get("action", "?")] += 1
        elif kind == "other" and ev.service == "pickup" and "uid=" in ev.message:
            self.received += 1

    def merge(self, other: MailSummary) -> None:
        for name in ("lines", "received", "delivered", "deferred", "bounced", "expired", "rejected"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for name in ("kinds", "reject_reasons", "connects", "rejects_by_client", "sasl_failures", "postscreen"):
            getattr(self, name).update(getattr(other, name))

    def to_json(self) -> dict[str, Any]:
        def top(c: Counter[str], key: str) -> list[dict[str, Any]]:
            return [{key: k, "count": n} for k, n in ranked(c)[:TOP]]

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
            "top_clients_by_connections": top(self.connects, "address"),
            "top_clients_by_rejects": top(self.rejects_by_client, "address"),
            "sasl_failures": sum(self.sasl_failures.values()),
            "top_sasl_failures": top(self.sasl_failures, "address"),
            "postscreen": dict(ranked(self.postscreen)),
            "events": dict(ranked(self.kinds)),
        }


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

    def add(self, ev: WebEvent) -> None:
        self.lines += 1
        if ev.kind == "access":
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
        for name in ("lines", "requests", "errors", "bytes"):
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
