"""The public JSON form of a Snapshot (``mbtop snapshot --json``, schema 1).

Keys named in the README's schema are a contract: add keys, never rename or drop.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from mbtop.model import gateway_json
from mbtop.model.flood import FloodState, Thresholds, TopSource
from mbtop.model.types import Finding, Listener, PortStatus, Snapshot, SocketStatus
from mbtop.probes.cluster import ClusterState
from mbtop.probes.fail2ban import Fail2ban
from mbtop.probes.firewall import FirewallState, PortFirewall
from mbtop.probes.health import Health
from mbtop.probes.services import ServiceState

SCHEMA = 1


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat(timespec="seconds")


def finding(f: Finding, *, where: bool = False) -> dict[str, Any]:
    # "action" is always there (null: no action fixes it): a key of the schema is never left out.
    out: dict[str, Any] = {
        "severity": f.severity,
        "code": f.code,
        "message": f.message,
        "fix": f.fix,
        "action": f.action or None,
    }
    if where:
        out["port"] = f.port
        out["path"] = f.path
    return out


def listener(lst: Listener) -> dict[str, Any]:
    return {
        "address": lst.address,
        "pid": lst.pid,
        "process": lst.process,
        "user": lst.user,
        "cmdline": list(lst.cmdline),
        "started": iso(lst.started),
        "expected": lst.expected,
        "main": lst.main,
        "inode": lst.inode,
    }


def port(p: PortStatus) -> dict[str, Any]:
    spec = p.spec
    return {
        "port": spec.port,
        "proto": spec.proto,
        "service": spec.service,
        "name": spec.name,
        "expect": {
            "bind": spec.bind,
            "required": spec.required,
            "cluster_only": spec.cluster_only,
            "firewall": spec.firewall,
        },
        "status": p.status,
        "reason": p.reason,
        "listening": p.listening,
        "listeners": [listener(lst) for lst in p.listeners],
        "accept_queue": p.accept_queue,
        "backlog": p.backlog,
        "connections": {"total": p.connections_total, "by_state": dict(p.by_state)},
        "top_remotes": [{"address": a, "connections": n} for a, n in p.top_remotes],
        "findings": [finding(f) for f in p.findings],
        "firewall": port_firewall(p.firewall),
        "health": health(p.health),
    }


def health(h: Health | None) -> dict[str, Any]:
    """``ports[].health`` / ``sockets[].health``: ok (null: not checked), detail, latency_ms."""
    if h is None:
        return {"ok": None, "detail": "not checked", "latency_ms": None, "protocol": None, "cert_days": None}
    return {
        "ok": h.ok,
        "detail": h.detail,
        "latency_ms": h.latency_ms,
        "protocol": h.protocol,
        "cert_days": h.cert_days,
    }


def service(s: ServiceState) -> dict[str, Any]:
    return {
        "name": s.name,
        "state": s.state,
        "pid": s.pid,
        "since": iso(s.since),
        "manager": s.manager,
        "detail": s.detail,
        "processes": s.processes,
        "result": s.result,
        "log": list(s.log),
    }


def port_firewall(pf: PortFirewall | None) -> dict[str, Any]:
    """``ports[].firewall``: backend, verdict, sources, rule (+ limit, per family, reason)."""
    if pf is None:
        return {
            "backend": "unknown",
            "verdict": "unknown",
            "sources": [],
            "rule": None,
            "limit": None,
            "except": [],
            "families": [],
            "reason": "not read",
            "unknown_because": None,
        }
    return {
        "backend": pf.backend,
        "verdict": pf.verdict,
        "sources": list(pf.sources),
        "rule": pf.rule,
        "limit": pf.limit,
        "except": list(pf.excepted),
        "families": [
            {
                "family": f"ipv{fv.family}",
                "verdict": fv.verdict,
                "sources": list(fv.sources),
                "rule": fv.rule,
                "limit": fv.limit,
                "except": list(fv.excepted),
                "unknown_because": fv.unknown_because,
            }
            for fv in pf.families
        ],
        "reason": pf.reason or None,
        "unknown_because": pf.unknown_because,
    }


def firewall(state: FirewallState | None) -> dict[str, Any] | None:
    if state is None:
        return None
    return {
        "backend": state.backend,
        "active": state.active,
        "policies": list(state.policies),
        "established_accepted": state.established,
        "interfaces": list(state.interfaces),
        "rules": state.rules,
        "reason": state.reason or None,
        "notes": list(state.notes),
    }


def sock(s: SocketStatus) -> dict[str, Any]:
    f = s.file
    return {
        "id": s.spec.id,
        "path": s.spec.path,
        "service": s.spec.service,
        "status": s.status,
        "reason": s.reason,
        "exists": f.exists,
        "kind": f.kind,
        "is_socket": f.kind == "socket",
        "owner": f.owner if f.owner is not None else (str(f.uid) if f.uid is not None else None),
        "group": f.group if f.group is not None else (str(f.gid) if f.gid is not None else None),
        "mode": f"{f.mode:04o}" if f.mode is not None else None,
        "link_target": f.link_target,
        "expect": {"owner": s.spec.owner, "group": s.spec.group, "mode": s.spec.mode_text, "required": s.spec.required},
        "accepting": s.accepting,
        "listeners": [listener(lst) for lst in s.listeners],
        "clients": s.clients,
        "pending": s.pending,
        "backlog": s.backlog,
        "findings": [finding(x) for x in s.findings],
        "health": health(s.health),
    }


def snapshot(snap: Snapshot) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "host": snap.host,
        "taken_at": iso(snap.taken_at),
        "root": snap.root,
        "status": snap.status,
        "ports": [port(p) for p in snap.ports],
        "sockets": [sock(s) for s in snap.sockets],
        "findings": [finding(f, where=True) for f in snap.findings],
        "notes": list(snap.notes),
        "sources": dict(snap.sources),
        "firewall": firewall(snap.firewall),
        "services": [service(s) for s in snap.services],
        "queue": gateway_json.queue(snap.queue),
        "vitals": gateway_json.vitals(snap.vitals),
        "cluster": cluster(snap.cluster),
    }


def cluster(state: ClusterState | None) -> dict[str, Any] | None:
    """The peers named in ``[cluster] peers`` and whether each accepts; null when none are named."""
    if state is None:
        return None
    return {
        "port": state.port,
        "peers": [
            {"peer": p.peer, "up": p.up, "error": p.error, "latency_ms": p.latency_ms, "checked_at": iso(p.checked_at)}
            for p in state.peers
        ],
    }


def flood(state: FloodState) -> dict[str, Any]:
    def src(t: TopSource) -> dict[str, Any]:
        return {
            "address": t.address,
            "concurrent": t.concurrent,
            "new_per_min": t.new_per_min,
            "rejects": t.rejects,
            "auth_failures": t.auth_failures,
            "postscreen": dict(t.postscreen),
            "rate_limits": t.rate_limits,
            "pipelining": t.pipelining,
            "non_smtp": t.non_smtp,
        }

    return {
        "ports": list(state.ports),
        "new_per_s": round(state.new_per_s, 3),
        "new_per_min": state.new_per_min,
        "concurrent": state.concurrent,
        "syn_recv": state.syn_recv,
        "accept_queue": state.queue,
        "backlog": state.backlog,
        "kernel": dict(state.kernel),
        "alert": state.alert,
        "reasons": list(state.reasons),
        "top_sources": [src(t) for t in state.top_sources],
        "top_prefixes": [src(t) for t in state.top_prefixes],
        "thresholds": thresholds(state.thresholds),
    }


def thresholds(t: Thresholds) -> dict[str, Any]:
    return {
        "total_per_minute": t.total_per_minute,
        "source_per_30s": t.source_per_30s,
        "concurrent": t.concurrent,
        "syn_recv": t.syn_recv,
        "queue_fill": t.queue_fill,
        "origin": t.origin,
    }


def fail2ban(f: Fail2ban) -> dict[str, Any]:
    return {
        "running": f.running,
        "error": f.error,
        "jails": [
            {
                "name": j.name,
                "currently_failed": j.currently_failed,
                "currently_banned": j.currently_banned,
                "total_banned": j.total_banned,
                "banned": list(j.banned),
            }
            for j in f.jails
        ],
    }
