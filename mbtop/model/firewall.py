"""Firewall verdicts compared with the reference and with what listens.

Pure: a PortStatus (listeners) and the evaluated firewall in, findings out.
"""

from __future__ import annotations

from collections.abc import Sequence

from mbtop.model.types import Finding, PortStatus, Severity
from mbtop.probes.firewall import FirewallState, PortFirewall

UFW_HINT = {
    "allow": "ufw allow {port}/tcp",
    "cluster": "ufw delete allow {port}/tcp; ufw allow from CLUSTER_NET to any port {port} proto tcp",
}


def port_findings(p: PortStatus, fw: PortFirewall, exposed: Sequence[str]) -> list[Finding]:
    """``exposed``: the port's listening addresses that are not loopback."""
    spec = p.spec
    port = spec.port
    label = f"{port} ({spec.name})"
    out: list[Finding] = []
    if fw.verdict == "unknown" or fw.backend == "none":
        return out
    rule = f" — {fw.rule}" if fw.rule else ""
    if spec.firewall == "allow" and fw.verdict == "deny":
        sev: Severity = "critical" if spec.required else "warning"
        out.append(
            Finding(
                sev,
                "firewall-blocks-public",
                f"the firewall ({fw.backend}) blocks public port {label}{rule}",
                f"allow it: {UFW_HINT['allow'].format(port=port)} (or an accept rule for tcp dport {port})",
                port=port,
            )
        )
    elif spec.firewall == "deny" and fw.open_to_anyone:
        if exposed:
            out.append(
                Finding(
                    "critical",
                    "firewall-exposes-internal",
                    f"internal port {label} listens on {', '.join(exposed)} and the firewall ({fw.backend}) "
                    f"lets anyone in{rule}",
                    f"bind {spec.service} to 127.0.0.1, and remove the rule that opens port {port}",
                    port=port,
                )
            )
    elif spec.firewall == "restricted" and fw.open_to_anyone:
        out.append(
            Finding(
                "critical" if exposed else "warning",
                "firewall-cluster-open",
                f"cluster port {label} is open to any address ({fw.backend}){rule}; "
                "the reference allows only cluster peers",
                f"restrict it to the cluster's addresses: {UFW_HINT['cluster'].format(port=port)}",
                port=port,
            )
        )
    return out


def global_findings(ports: Sequence[tuple[PortStatus, Sequence[str]]], state: FirewallState) -> list[Finding]:
    """``ports``: each port with its non-loopback listening addresses."""
    if state.backend != "none" or state.active:
        return []
    public = [p for p, exposed in ports if p.spec.bind == "public" and exposed]
    if not public:
        return []
    names = ", ".join(str(p.spec.port) for p in public)
    return [
        Finding(
            "warning",
            "firewall-inactive",
            f"no firewall filters inbound traffic while public services listen ({names}); "
            "every port bound to a network address is reachable",
            "enable a firewall as the reference describes: ufw default deny incoming; "
            "ufw allow 25/tcp, 80/tcp, 443/tcp; ufw enable",
        )
    ]
