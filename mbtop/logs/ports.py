"""Which documented port or socket a log event is about, from the catalog's names (never numbers here)."""

from __future__ import annotations

from collections.abc import Iterable

from mbtop.catalog import Catalog
from mbtop.logs.events import MailEvent, WebEvent

SMTP_SERVERS = frozenset({"smtpd", "postscreen", "anvil", "tlsproxy"})


def mail_event_port(ev: MailEvent, catalog: Catalog) -> int | None:
    """postfix/smtpd and postscreen -> the SMTP port; postfix/submission/smtpd -> Submission; smtps -> SMTPS.

    The master.cf service name (the middle part of the program, as Debian's syslog_name sets it) is
    matched against the catalog's port names of the Postfix service.
    """
    prog = ev.program or ""
    parts = prog.split("/")
    if len(parts) < 2 or not parts[0].startswith("postfix") or parts[-1] not in SMTP_SERVERS:
        return None
    wanted = parts[1].lower() if len(parts) == 3 else "smtp"
    for spec in catalog.ports:
        if spec.service == "postfix" and spec.name.lower() == wanted:
            return spec.port
    return None


def web_event_ports(catalog: Catalog) -> tuple[int, ...]:
    """The nginx ports: web events belong to all of them (the access log does not say which)."""
    return tuple(p.port for p in catalog.ports if p.service == "nginx")


def socket_errors(events: Iterable[WebEvent], aliases: dict[str, frozenset[str]]) -> dict[str, list[WebEvent]]:
    """nginx error lines that name a documented socket (e.g. connect() to unix:... failed), by catalog path."""
    by_name = {name: path for path, names in aliases.items() for name in names}
    out: dict[str, list[WebEvent]] = {}
    for ev in events:
        sock = ev.fields.get("socket") if ev.kind == "error" else None
        if sock and sock in by_name:
            out.setdefault(by_name[sock], []).append(ev)
    return out
