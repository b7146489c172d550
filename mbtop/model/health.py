"""Protocol health and service state compared with what the reference expects. Pure."""

from __future__ import annotations

from collections.abc import Sequence

from mbtop.catalog import Catalog
from mbtop.model.types import Finding, PortStatus, Severity, SocketStatus
from mbtop.probes.health import Health
from mbtop.probes.services import ServiceState
from mbtop.text import clean

CERT_WARN_DAYS = 14
CERT_CRIT_DAYS = 3


def _cert(h: Health, where: str, service: str, port: int | None = None, path: str | None = None) -> list[Finding]:
    if h.cert_days is None or h.cert_days >= CERT_WARN_DAYS:
        return []
    if h.cert_days < 0:
        sev: Severity = "critical"
        what = f"expired {-h.cert_days} days ago"
    else:
        sev = "critical" if h.cert_days < CERT_CRIT_DAYS else "warning"
        what = f"expires in {h.cert_days} days"
    return [
        Finding(
            sev,
            "certificate-expiring",
            f"{where}: the TLS certificate {what}",
            f"renew the certificate (certbot renew), then reload {service}",
            port=port,
            path=path,
            action=f"restart {service}",
        )
    ]


def port_findings(p: PortStatus, h: Health) -> list[Finding]:
    spec = p.spec
    where = f"port {spec.port} ({spec.name})"
    if h.ok is None or not p.listening:
        return []  # not listening is its own finding
    if h.ok is False:
        return [_failed(where, h, spec.service, spec.required, port=spec.port)]
    return _cert(h, where, spec.service, port=spec.port)


def socket_findings(s: SocketStatus, h: Health) -> list[Finding]:
    spec = s.spec
    if h.ok is not False or not s.accepting:
        return []
    return [_failed(f"socket {spec.path} ({spec.name})", h, spec.service, spec.required, path=spec.path)]


def _failed(
    where: str, h: Health, service: str, required: bool, port: int | None = None, path: str | None = None
) -> Finding:
    """A listener that accepts but does not speak its protocol: the daemon is hung or overloaded."""
    return Finding(
        "critical" if required else "warning",
        "health-failed",
        f"{where} accepts connections but does not answer {h.protocol}: {clean(h.detail)}",
        f"{service} is hung or overloaded: check its log, then restart {service}",
        port=port,
        path=path,
        action=f"restart {service}",
    )


def service_findings(
    catalog: Catalog, services: Sequence[ServiceState], ports: Sequence[PortStatus], sockets: Sequence[SocketStatus]
) -> list[Finding]:
    """A service its manager reports as failed; critical when it serves a required port or socket."""
    out: list[Finding] = []
    for st in services:
        if st.state != "failed":
            continue
        svc = catalog.service(st.name)
        required = any(p.spec.required and p.spec.service == st.name for p in ports) or any(
            s.spec.required and s.spec.service == st.name for s in sockets
        )
        how = (
            f"systemctl status {svc.unit}, journalctl -u {svc.unit}"
            if svc and st.manager == "systemd"
            else f"service {st.name} status"
        )
        why = clean(st.result or st.detail) or st.manager
        # The daemon's own last words from its journal: two lines, since the cause often comes just
        # before the verdict (nginx: "[emerg] unknown directive …", then "… test failed").
        said = f": {' | '.join(clean(line) for line in st.log[-2:])}" if st.log else ""
        out.append(
            Finding(
                "critical" if required else "warning",
                "service-failed",
                f"service {st.name} has failed ({why}){said}",
                f"see why ({how}, its log), then restart it",
                action=f"restart {st.name}",
            )
        )
    return out
