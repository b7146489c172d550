"""The model's conclusions from given probe values (pure: no system is read)."""

from __future__ import annotations

import socket

from mbtop.catalog import load_reference
from mbtop.model.build import build, is_loopback
from mbtop.probes.types import InetSocket
from tests.unit.fakes import conn, listen, proc, sample, sockfile, uclient, ulisten

CAT = load_reference()
PHP = "/var/run/php/mailborder.sock"


def _files(**over: object) -> dict:
    files = {
        s.path: sockfile(s.path, owner=s.owner, group=s.group, mode=s.mode, inode=900 + i)
        for i, s in enumerate(CAT.sockets)
    }
    files.update(over)  # type: ignore[arg-type]
    return files


def _healthy_unix(files: dict) -> list:
    out = []
    for i, s in enumerate(CAT.sockets):
        f = files[s.path]
        out.append(ulisten(s.path, 7000 + i, f.inode))
    return out


def _healthy_tcp() -> tuple[list, dict]:
    tcp, owners = [], {}
    for i, p in enumerate(CAT.ports):
        inode = 100 + i
        addr = "127.0.0.1"
        tcp.append(listen(addr, p.port, inode))
        owners[inode] = (proc(2000 + i, CAT.processes_for(p.service)[0]),)
    return tcp, owners


def _healthy(**kw: object):  # type: ignore[no-untyped-def]
    files = _files()
    tcp, owners = _healthy_tcp()
    unix = _healthy_unix(files)
    for i, s in enumerate(CAT.sockets):
        owners[7000 + i] = (proc(3000 + i, CAT.processes_for(s.service)[0]),)
    args = {"tcp": tcp, "unix": unix, "files": files, "owners": owners}
    args.update(kw)
    return args


def _codes(snap) -> set[tuple[object, str, str]]:  # type: ignore[no-untyped-def]
    return {(f.port or f.path, f.code, f.severity) for f in snap.findings}


def test_healthy_loopback_lab_has_only_the_loopback_warnings() -> None:
    snap = build(CAT, sample(**_healthy()))
    assert {c[1] for c in _codes(snap)} == {"bind-loopback-only"}
    assert {c[0] for c in _codes(snap)} == {25, 80, 443, 587, 465}
    assert snap.status == "warning"


def test_public_bind_is_clean() -> None:
    args = _healthy()
    args["tcp"] = [
        listen("0.0.0.0", s.local_port, s.inode) if CAT.port(s.local_port).bind != "loopback" else s
        for s in args["tcp"]
    ]
    snap = build(CAT, sample(**args))
    assert snap.findings == () and snap.status == "ok"


def test_required_port_missing_is_critical_optional_is_not() -> None:
    args = _healthy()
    args["tcp"] = [s for s in args["tcp"] if s.local_port not in (3306, 10032)]
    snap = build(CAT, sample(**args))
    assert (3306, "not-listening", "critical") in _codes(snap)
    assert not any(c[0] == 10032 for c in _codes(snap))
    p = next(p for p in snap.ports if p.spec.port == 10032)
    assert p.status == "ok" and "optional" in p.reason


def test_port_with_accepting_socket_alternative_is_only_a_warning() -> None:
    args = _healthy()
    args["tcp"] = [s for s in args["tcp"] if s.local_port != 3310]
    snap = build(CAT, sample(**args))
    assert (3310, "not-listening", "warning") in _codes(snap)
    args["unix"] = [u for u in args["unix"] if u.path != "/var/run/clamav/clamd.sock"]
    snap = build(CAT, sample(**args))
    assert (3310, "not-listening", "critical") in _codes(snap)


def test_exposed_bind_and_squatter() -> None:
    args = _healthy()
    inode = next(s.inode for s in args["tcp"] if s.local_port == 6379)
    args["tcp"] = [listen("0.0.0.0", 6379, inode) if s.local_port == 6379 else s for s in args["tcp"]]
    args["owners"][inode] = (proc(4242, "nc", user="nobody"),)
    snap = build(CAT, sample(**args))
    assert (6379, "exposed-bind", "critical") in _codes(snap)
    squat = next(f for f in snap.findings if f.code == "unexpected-owner")
    assert "nc (pid 4242, user nobody)" in squat.message and squat.action == "free-port 6379"


def test_group_of_workers_sharing_a_listener() -> None:
    args = _healthy()
    inode = next(s.inode for s in args["tcp"] if s.local_port == 25)
    args["owners"][inode] = (proc(10, "master"), proc(11, "smtpd", ppid=10), proc(12, "smtpd", ppid=10))
    snap = build(CAT, sample(**args))
    p25 = next(p for p in snap.ports if p.spec.port == 25)
    assert [(lst.pid, lst.main, lst.expected) for lst in p25.listeners] == [
        (10, True, True),
        (11, False, True),
        (12, False, True),
    ]
    assert not any(f.code == "unexpected-owner" for f in p25.findings)


def test_unknown_owner_is_not_a_squatter() -> None:
    args = _healthy(owners={})
    snap = build(CAT, sample(**args, denied=True))
    assert not any(f.code == "unexpected-owner" for f in snap.findings)
    p = next(p for p in snap.ports if p.spec.port == 6379)
    assert p.listeners[0].pid is None and p.listeners[0].expected is None


def test_connections_by_state_and_top_remotes() -> None:
    args = _healthy()
    args["tcp"] += [conn(25, "198.51.100.7")] * 3 + [conn(25, "203.0.113.9", "SYN_RECV")] * 2
    args["tcp"] += [conn(25, f"192.0.2.{i}", "TIME_WAIT") for i in range(6)]
    snap = build(CAT, sample(**args))
    p = next(p for p in snap.ports if p.spec.port == 25)
    assert p.connections_total == 11
    assert dict(p.by_state) == {"ESTABLISHED": 3, "SYN_RECV": 2, "TIME_WAIT": 6}
    assert p.top_remotes[:2] == (("198.51.100.7", 3), ("203.0.113.9", 2))
    assert len(p.top_remotes) == 5


def test_accept_queue_full() -> None:
    args = _healthy()
    args["tcp"] = [
        listen("127.0.0.1", 25, s.inode, queue=100, backlog=100) if s.local_port == 25 else s for s in args["tcp"]
    ]
    assert (25, "accept-queue-full", "warning") in _codes(build(CAT, sample(**args)))


def test_socket_findings() -> None:
    files = _files()
    files[PHP] = sockfile(PHP, owner="root", group="root", mode=0o600, inode=files[PHP].inode)
    args = _healthy(files=files)
    codes = _codes(build(CAT, sample(**args)))
    assert (PHP, "socket-owner", "critical") in codes and (PHP, "socket-mode", "critical") in codes
    files[PHP] = sockfile(PHP, kind="symlink", target="/etc/shadow")
    codes = _codes(build(CAT, sample(**_healthy(files=files))))
    assert {c for c in codes if c[0] == PHP} == {(PHP, "not-a-socket", "critical")}
    files[PHP] = sockfile(PHP, kind=None)
    codes = _codes(build(CAT, sample(**_healthy(files=files))))
    assert {c for c in codes if c[0] == PHP} == {(PHP, "socket-missing", "critical")}


def test_stale_socket_file_is_not_accepting_even_if_a_listener_has_the_same_name() -> None:
    files = _files()
    args = _healthy(files=files)
    # The listener is bound to an older, deleted file with the same name: a different inode.
    args["unix"] = [ulisten(u.path, u.inode, 1) if u.path == PHP else u for u in args["unix"]]
    codes = _codes(build(CAT, sample(**args)))
    assert (PHP, "socket-not-accepting", "critical") in codes


def test_clients_counted_per_socket() -> None:
    files = _files()
    args = _healthy(files=files)
    args["unix"] += [uclient(PHP, 8000 + i, files[PHP].inode) for i in range(4)]
    snap = build(CAT, sample(**args))
    s = next(s for s in snap.sockets if s.spec.path == PHP)
    assert s.clients == 4 and s.accepting


def test_probe_failure_is_unknown_not_a_crash() -> None:
    snap = build(CAT, sample(**_healthy(), tcp_error="cannot read TCP sockets: Permission denied"))
    assert all(p.status == "unknown" for p in snap.ports)
    assert "Permission denied" in snap.notes[-1]


def test_is_loopback() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("127.5.6.7") and is_loopback("::1")
    assert is_loopback("::ffff:127.0.0.1")
    assert not is_loopback("0.0.0.0") and not is_loopback("::") and not is_loopback("10.0.0.1")
    assert not is_loopback("garbage")


def test_rate_tracker_keys_are_conn_ids_the_detail_screen_looks_up() -> None:
    # The tracker hashes the 4-tuple inline (a hot loop); the port detail looks connection ages up
    # with conn_id(): both must name a connection the same way.
    import dataclasses

    from mbtop.model.history import RateTracker, conn_id

    a = InetSocket(socket.AF_INET, "ESTABLISHED", "127.0.0.1", 25, "198.51.100.7", 40001, 0, 0, 0, 0)
    b = InetSocket(socket.AF_INET, "TIME_WAIT", "127.0.0.1", 25, "198.51.100.8", 40002, 0, 0, 0, 0)
    tracker = RateTracker([25])
    first = sample(tcp=[listen("0.0.0.0", 25, 7), a])
    r1 = tracker.update(first)
    assert set(r1.first_seen) == {conn_id(a)}
    second = dataclasses.replace(sample(tcp=[listen("0.0.0.0", 25, 7), a, b]), monotonic=3.0)
    r2 = tracker.update(second)
    assert set(r2.first_seen) == {conn_id(a), conn_id(b)}
    assert r2.first_seen[conn_id(a)] == 1.0 and r2.first_seen[conn_id(b)] == 3.0
    assert r2.new_per_s[25] == 0.5  # one new connection over 2 s
