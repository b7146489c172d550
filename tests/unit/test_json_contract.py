"""`snapshot --json` (schema 1) has exactly the keys the README names: none missing when a value is
unknown or empty (null or [] instead), none renamed. Built from hand-made probe values (fakes, by
design: the serializer is pure)."""

from __future__ import annotations

import dataclasses
import json
from types import MappingProxyType
from typing import Any

from mbtop.catalog import load_reference
from mbtop.model import cluster
from mbtop.model.build import build
from mbtop.model.flood import FloodTracker, mail_ports
from mbtop.model.serialize import fail2ban, finding, flood, snapshot
from mbtop.probes.cluster import ClusterState, PeerCheck
from mbtop.probes.fail2ban import Fail2ban, Jail
from mbtop.probes.firewall import FamilyVerdict, FirewallState, PortFirewall
from mbtop.probes.health import Health
from mbtop.probes.services import ServiceState
from tests.unit.fakes import conn, listen, proc, sample, sockfile

CAT = load_reference()
TOP = {
    "schema", "host", "taken_at", "root", "status", "ports", "sockets", "findings", "notes", "sources",
    "firewall", "services", "queue", "vitals", "cluster",
}  # fmt: skip
PORT = {
    "port", "proto", "service", "name", "expect", "status", "reason", "listening", "listeners", "accept_queue",
    "backlog", "connections", "top_remotes", "findings", "firewall", "health",
}  # fmt: skip
PORT_EXPECT = {"bind", "required", "cluster_only", "firewall"}
LISTENER = {"address", "pid", "process", "user", "cmdline", "started", "expected", "main", "inode"}
SOCKET = {
    "id", "path", "service", "status", "reason", "exists", "kind", "is_socket", "owner", "group", "mode",
    "link_target", "expect", "accepting", "listeners", "clients", "pending", "backlog", "findings", "health",
}  # fmt: skip
SOCKET_EXPECT = {"owner", "group", "mode", "required"}
FINDING = {"severity", "code", "message", "fix", "action"}
TOP_FINDING = FINDING | {"port", "path"}
HEALTH = {"ok", "detail", "latency_ms", "protocol", "cert_days"}
SERVICE = {"name", "state", "pid", "since", "manager", "detail", "processes", "result", "log"}
PORT_FIREWALL = {"backend", "verdict", "sources", "rule", "limit", "except", "families", "reason", "unknown_because"}
FAMILY = {"family", "verdict", "sources", "rule", "limit", "except", "unknown_because"}
FIREWALL = {"backend", "active", "policies", "established_accepted", "interfaces", "rules", "reason", "notes"}
FLOOD = {
    "ports", "new_per_s", "new_per_min", "concurrent", "syn_recv", "accept_queue", "backlog", "kernel", "alert",
    "reasons", "top_sources", "top_prefixes", "thresholds",
}  # fmt: skip
TOP_SOURCE = {
    "address", "concurrent", "new_per_min", "rejects", "auth_failures", "postscreen",
    "rate_limits", "pipelining", "non_smtp",
}  # fmt: skip
QUEUE = {
    "available", "reason", "read_seconds", "counts", "bytes", "oldest_seconds", "top_domains", "top_senders",
    "deferred_reasons",
}  # fmt: skip
QUEUES = {"maildrop", "incoming", "active", "deferred", "hold", "corrupt"}
VITALS = {
    "filesystems", "memory", "load", "cpus", "clock_synchronized", "clock_source", "certificates",
    "mailborder_logs", "notes",
}  # fmt: skip
FILESYSTEM = {"mount", "path_roles", "total_bytes", "free_bytes", "free_ratio", "total_inodes", "free_inodes_ratio"}
CERTIFICATE = {"path", "used_by", "subject", "not_after", "days_left", "error"}
CLUSTER = {"port", "peers"}
CLUSTER_PEER = {"peer", "up", "error", "latency_ms", "checked_at"}
THRESHOLDS = {"total_per_minute", "source_per_30s", "concurrent", "syn_recv", "queue_fill", "origin"}


def _doc() -> dict[str, Any]:
    """A gateway with a foreign process on 6379 (a finding with an action), 25 on loopback only (a
    finding without one), a firewall that was read, a health answer and a service."""
    php = "/var/run/php/mailborder.sock"
    fam = FamilyVerdict(4, "allow", (), "INPUT: -p tcp --dport 25 -j ACCEPT", None)
    pf = PortFirewall(25, "iptables", "allow", (), fam.rule, None, (fam,))
    fw = FirewallState("iptables", True, {25: pf}, ("IPv4 INPUT policy DROP (iptables)",), True)
    s = sample(
        tcp=[listen("127.0.0.1", 25, 7), listen("0.0.0.0", 6379, 8), conn(25, "198.51.100.7")],
        files={php: sockfile(php)},
        owners={7: (proc(70, "master"),), 8: (proc(80, "squatter"),)},
    )
    s = dataclasses.replace(
        s,
        firewall=fw,
        health=MappingProxyType({"port:25": Health(True, "220 ok", 2.5, "smtp")}),
        services=(ServiceState("postfix", "running", 70, 1.7e9, "processes", "master", 1),),
    )
    return snapshot(build(CAT, s))


def test_snapshot_has_exactly_the_schema_keys() -> None:
    doc = _doc()
    assert set(doc) == TOP and doc["schema"] == 1
    assert set(doc["sources"]) == {"tcp", "unix"}
    for p in doc["ports"]:
        assert set(p) == PORT, p["port"]
        assert set(p["expect"]) == PORT_EXPECT
        assert set(p["connections"]) == {"total", "by_state"}
        assert all(set(r) == {"address", "connections"} for r in p["top_remotes"])
        assert all(set(lst) == LISTENER for lst in p["listeners"])
        assert all(set(f) == FINDING for f in p["findings"])
        assert set(p["health"]) == HEALTH
    for s in doc["sockets"]:
        assert set(s) == SOCKET, s["id"]
        assert set(s["expect"]) == SOCKET_EXPECT and set(s["health"]) == HEALTH
        assert all(set(f) == FINDING for f in s["findings"])
    assert doc["findings"] and all(set(f) == TOP_FINDING for f in doc["findings"])
    assert set(doc["firewall"]) == FIREWALL
    port25 = next(p for p in doc["ports"] if p["port"] == 25)
    assert set(port25["firewall"]) == PORT_FIREWALL
    assert all(set(f) == FAMILY for f in port25["firewall"]["families"])
    assert all(set(x) == SERVICE for x in doc["services"]) and doc["services"]
    assert doc["cluster"] is None  # no [cluster] peers
    peers = ClusterState(10050, (PeerCheck("gw2.example", False, "connection refused", None, 1.7e9),))
    with_peers = snapshot(cluster.extend(build(CAT, sample()), peers))["cluster"]
    assert set(with_peers) == CLUSTER and all(set(p) == CLUSTER_PEER for p in with_peers["peers"])


def test_a_finding_without_an_action_still_has_the_key() -> None:
    doc = _doc()
    codes = {f["code"]: f for f in doc["findings"]}
    assert codes["unexpected-owner"]["action"] == "free-port 6379"
    without = [f for f in doc["findings"] if not f["action"]]
    assert without, "the example needs a finding no action fixes"
    assert all("action" in f and f["action"] is None for f in without)
    loopback_only = build(CAT, sample(tcp=[listen("127.0.0.1", 25, 7)], owners={7: (proc(70, "master"),)}))
    bare = next(f for f in loopback_only.findings if not f.action)
    assert finding(bare)["action"] is None and finding(bare, where=True)["action"] is None
    json.dumps(doc)  # and it is JSON


def test_flood_and_fail2ban_have_exactly_their_keys() -> None:
    tracker = FloodTracker(mail_ports((p.port, p.service) for p in CAT.ports))
    state = tracker.update([conn(25, "198.51.100.7")], 1.0)
    doc = flood(state)
    assert set(doc) == FLOOD
    assert set(doc["thresholds"]) == THRESHOLDS
    assert all(set(t) == TOP_SOURCE for t in doc["top_sources"] + doc["top_prefixes"])
    f2b = fail2ban(Fail2ban(True, (Jail("postfix", 1, 2, 1, 3, ("203.0.113.1",)),)))
    assert set(f2b) == {"running", "error", "jails"}
    assert set(f2b["jails"][0]) == {"name", "currently_failed", "currently_banned", "total_banned", "banned"}


def test_queue_and_vitals_have_exactly_their_keys() -> None:
    from mbtop.model import queue as qm
    from mbtop.model.gateway_json import queue, vitals
    from mbtop.probes.queue import Message
    from mbtop.probes.vitals import Certificate, Filesystem, Vitals

    unread = _doc()
    assert set(unread["queue"]) == QUEUE and unread["queue"]["available"] is False and unread["vitals"] is None
    assert unread["queue"]["counts"] == {}  # not read: no counts, not zeros
    msg = Message("deferred", "ABCDEF1234", 1.7e9, 10, "a@b.c", (("d@e.f", "connect to x: refused"),))
    doc = queue(qm.summarise([msg], 1.7e9 + 60))
    assert set(doc) == QUEUE
    assert set(doc["counts"]) == set(doc["bytes"]) == set(doc["oldest_seconds"]) == QUEUES
    assert doc["top_domains"] == [{"domain": "e.f", "count": 1}]
    assert doc["top_senders"] == [{"sender": "a@b.c", "count": 1}]
    assert doc["deferred_reasons"] == [{"reason": "connect to x: refused", "count": 1}]
    v = Vitals(
        1.7e9,
        (Filesystem("/", ("root",), ("/",), 10, 5, 0.5, 100, 50, 0.5),),
        (("total", 1.0),),
        (0.1, 0.2, 0.3),
        2,
        None,
        "adjtimex: …",
        (Certificate("/c.crt", ("nginx",), None, None, "no certificate in the file"),),
        None,
    )
    vd = vitals(v)
    assert vd is not None and set(vd) == VITALS
    assert set(vd["filesystems"][0]) == FILESYSTEM and set(vd["certificates"][0]) == CERTIFICATE
    json.dumps(vd)
