"""What mbtop reports about TCP sockets equals what `ss -tanp` reports, in the same namespace."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from tests.support.netns import Holder, Netns, parse_ss_tanp, write_config

NO_SOCKETS = """
[sockets.php-fpm]
disabled = true
[sockets.mb-rpcd]
disabled = true
[sockets.clamd]
disabled = true
[sockets.redis]
disabled = true
"""


def _ss_view(ns: Netns, ports: set[int]) -> list[dict]:
    return [r for r in parse_ss_tanp(ns.run("ss", "-tanpH").stdout) if r["lport"] in ports]


def test_listeners_states_and_remotes_equal_ss(ns: Netns, tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "c.toml", NO_SOCKETS)
    spec_redis = {
        "name": "redis-server",
        "listen": [["127.0.0.1", 6379]],
        "connect": [
            ["127.0.0.2", "127.0.0.1", 6379, 3],
            ["127.0.0.3", "127.0.0.1", 6379, 5],
            ["127.0.0.4", "127.0.0.1", 6379, 1],
        ],
        "timewait": [["127.0.0.1", 6379, 4]],
    }
    spec_smtp = {
        "name": "master",
        "listen": [["0.0.0.0", 25], ["::", 25]],
        "connect": [["::1", "::1", 25, 2], ["127.0.0.9", "127.0.0.1", 25, 6]],
        "no_accept": True,
    }
    with Holder(ns.argv(), spec_redis) as redis, Holder(ns.argv(), spec_smtp) as smtp:
        snap = ns.snapshot("--config", str(cfg))
        ss = _ss_view(ns, {25, 6379})

    ports = {p["port"]: p for p in snap["ports"]}
    for number, holder in ((6379, redis), (25, smtp)):
        mine = ports[number]
        theirs = [r for r in ss if r["lport"] == number]
        ss_listen = sorted((r["local"], pid) for r in theirs if r["state"] == "LISTEN" for pid in r["pids"])
        mb_listen = sorted((lst["address"], lst["pid"]) for lst in mine["listeners"])
        assert mb_listen == ss_listen
        assert {pid for _, pid in mb_listen} == {holder.pid}
        assert mine["listening"] is True
        conns = [r for r in theirs if r["state"] != "LISTEN"]
        assert mine["connections"]["total"] == len(conns)
        assert mine["connections"]["by_state"] == dict(Counter(r["state"] for r in conns))
        expected_remotes = Counter(r["remote"] for r in conns).most_common()
        got = [(r["address"], r["connections"]) for r in mine["top_remotes"]]
        assert sorted(got, key=lambda x: (-x[1], x[0])) == sorted(expected_remotes, key=lambda x: (-x[1], x[0]))[:5]
        ss_queue = sum(r["recv_q"] for r in theirs if r["state"] == "LISTEN")
        assert mine["accept_queue"] == ss_queue

    # The scenario really produced the states it claims to.
    assert ports[6379]["connections"]["by_state"].get("TIME_WAIT") == 4
    assert ports[6379]["connections"]["by_state"].get("ESTABLISHED") == 9
    assert ports[25]["accept_queue"] == 8  # nobody accepted: all wait in the queue
    assert {r["address"] for r in ports[6379]["top_remotes"]} >= {"127.0.0.2", "127.0.0.3", "127.0.0.4"}
    assert ports[6379]["findings"] == []
    assert ports[25]["status"] in ("ok", "warning")


def test_proc_fallback_agrees_with_netlink(ns: Netns, tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "c.toml", NO_SOCKETS)
    spec = {"name": "mb-filter", "listen": [["127.0.0.1", 10031]], "connect": [["127.0.0.5", "127.0.0.1", 10031, 3]]}
    with Holder(ns.argv(), spec):
        a = ns.snapshot("--config", str(cfg))
        b = ns.snapshot("--config", str(cfg), "--no-netlink")
    pa = {p["port"]: p for p in a["ports"]}[10031]
    pb = {p["port"]: p for p in b["ports"]}[10031]
    assert a["sources"]["tcp"] == "netlink" and b["sources"]["tcp"] == "proc"
    for key in ("listening", "connections", "top_remotes"):
        assert pa[key] == pb[key]
    assert [lst["pid"] for lst in pa["listeners"]] == [lst["pid"] for lst in pb["listeners"]]


def test_empty_namespace_every_required_port_is_not_listening(ns: Netns, tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "c.toml", NO_SOCKETS)
    snap = ns.snapshot("--config", str(cfg))
    for p in snap["ports"]:
        codes = [f["code"] for f in p["findings"]]
        if p["expect"]["required"]:
            assert codes == ["not-listening"], p
            assert p["findings"][0]["severity"] == "critical"
        else:
            assert codes == [], p
    out = ns.mbtop("check", "--config", str(cfg))
    assert out.returncode == 2
    assert out.stdout.startswith("MBTOP CRITICAL")
