"""Scenarios on the real stack: each turns exactly the right port/socket into the right finding."""

from __future__ import annotations

import subprocess
import time
from collections import Counter

import pytest

from tests.support import stack as st


@pytest.fixture(autouse=True)
def _stack() -> None:
    st.require_stack()


def _catalog_ports() -> set[int]:
    return {p["port"] for p in st.snapshot()["ports"]}


def test_healthy_stack_has_no_critical_finding_and_agrees_with_ss() -> None:
    snap = st.wait_healthy()
    assert st.problems(snap) == set()
    ss = subprocess.run(["ss", "-Htlnp"], capture_output=True, text=True, check=True).stdout
    for p in snap["ports"]:
        if p["expect"]["required"]:
            assert p["listening"], p
        for lst in p["listeners"]:
            assert f"pid={lst['pid']}," in ss
            assert lst["expected"] is True, lst
    for s in snap["sockets"]:
        assert s["accepting"] and s["findings"] == [], s
    # The optional-but-present ones are reported too.
    assert {p["port"] for p in snap["ports"] if p["listening"]} >= {
        25,
        587,
        80,
        443,
        6379,
        3306,
        3310,
        11332,
        11333,
        10031,
        10032,
        10050,
    }


def test_squatter_on_redis_port() -> None:
    with st.squatter_on(6379, "redis-server") as squatter:
        snap = st.snapshot()
        # The squatter holds the port and does not speak Redis: both are said.
        assert st.problems(snap) == {(6379, "unexpected-owner"), (6379, "health-failed")}
        port = next(p for p in snap["ports"] if p["port"] == 6379)
        assert [lst["pid"] for lst in port["listeners"]] == [squatter.pid]
        assert port["listeners"][0]["process"] == "squatter"
    assert st.problems(st.snapshot()) == set()


def test_php_socket_wrong_owner_and_mode() -> None:
    path = "/var/run/php/mailborder.sock"
    with st.socket_perms(path, "root", 0o666):
        snap = st.snapshot()
        assert st.problems(snap, ("critical", "warning")) - _loopback_warnings(snap) == {
            (path, "socket-owner"),
            (path, "socket-mode"),
        }
        sev = {f["code"]: f["severity"] for f in snap["findings"] if f["path"] == path}
        assert sev == {"socket-owner": "critical", "socket-mode": "warning"}  # 0666 is more open than 0660


def test_regular_file_at_rpcd_socket() -> None:
    path = "/var/run/mailborder/mb-rpcd.sock"
    with st.regular_file_at(path, "mb-rpcd"):
        assert st.problems(st.snapshot()) == {(path, "not-a-socket")}


def test_internal_service_on_all_interfaces() -> None:
    with st.standin_on("mb-filter", "0.0.0.0:10031", "smtp"):
        assert st.problems(st.snapshot()) == {(10031, "exposed-bind")}


def test_daemon_stopped() -> None:
    with st.daemon_stopped("mariadb", 3306):
        assert st.problems(st.snapshot()) == {(3306, "not-listening")}


def test_listener_that_never_answers() -> None:
    with st.silent_listener("mb-milter", 10032):
        start = time.monotonic()
        snap = st.snapshot()
        took = time.monotonic() - start
        port = next(p for p in snap["ports"] if p["port"] == 10032)
        assert port["listening"] and port["listeners"][0]["process"] == "mb-milter"
        assert [f["code"] for f in port["findings"]] == ["health-failed"]
        assert port["health"]["ok"] is False and port["health"]["detail"] == "no answer in 3 s"
        # Bounded, and nothing else waited for it: every other port still answered.
        assert took < 3 + 2.5, took
        others = [p for p in snap["ports"] if p["listening"] and p["port"] != 10032]
        assert others and all(p["health"]["ok"] for p in others), [(p["port"], p["health"]) for p in others]


def test_smtp_flood_top_sources_equal_the_tally() -> None:
    # Skewed: one heavy source, a few medium, many light; 80 connections from 52 addresses.
    sources = {"127.66.0.1": 15, "127.66.0.2": 8, "127.66.0.3": 5, "127.66.0.4": 4}
    sources.update({f"127.66.1.{i}": 1 for i in range(1, 49)})
    with st.smtp_flood(sources) as flood:
        assert sum(flood.tally.values()) == 80
        snap = st.snapshot()
        ss = subprocess.run(["ss", "-Htan", "sport = :25"], capture_output=True, text=True, check=True).stdout
    port = next(p for p in snap["ports"] if p["port"] == 25)
    ss_remotes = Counter(line.split()[4].rsplit(":", 1)[0] for line in ss.splitlines() if not line.startswith("LISTEN"))
    top = {r["address"]: r["connections"] for r in port["top_remotes"]}
    for addr in ("127.66.0.1", "127.66.0.2", "127.66.0.3", "127.66.0.4"):
        assert top[addr] == sources[addr] == ss_remotes[addr]
    assert port["connections"]["total"] >= 80


def _loopback_warnings(snap: dict) -> set[tuple[object, str]]:
    return {k for k in st.problems(snap, ("warning",)) if k[1] == "bind-loopback-only"}
